"""`leadloop scoring rules export [FILE]` / `rules import FILE` / `rescore [--wait]` /
`train [--min-outcomes N] [--activate]` / `activate VERSION` / `report`.

Each subcommand is a parser setup and a handler in SUBCOMMANDS."""

import json
import time
from collections.abc import Callable
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadloop.scoring import rescoring, rules_io
from leadloop.scoring.management.commands import _model as model
from leadloop.scoring.models import RescoreStatus

POLL_SECONDS = 1.0
FINISHED = (RescoreStatus.DONE, RescoreStatus.FAILED)


def _rules_arguments(parser: CommandParser) -> None:
    actions = parser.add_subparsers(dest="rules_action", required=True)
    export = actions.add_parser("export", help="write the rules and definitions as JSON")
    export.add_argument("file", nargs="?", help="where to write (default: standard output)")
    imported = actions.add_parser("import", help="create or update rules from a JSON file")
    imported.add_argument("file", help="a file written by `rules export` (or by hand)")


def _rules(command: BaseCommand, *, rules_action: str, file: str | None, **_) -> None:
    if rules_action == "export":
        text = json.dumps(rules_io.export_rules(), indent=2, ensure_ascii=False) + "\n"
        if file:
            Path(file).write_text(text, encoding="utf-8")
            command.stdout.write(f"Wrote the rules to {file}.")
        else:
            command.stdout.write(text, ending="")
        return
    try:
        data = json.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CommandError(f"Cannot read {file}: {error}") from None
    try:
        report = rules_io.import_rules(data)
    except rules_io.RulesFileError as error:
        raise CommandError(str(error)) from None
    started = " A rescore of every lead has started." if report.changed else ""
    command.stdout.write(f"Imported {file}: {report}.{started}")


def _rescore_arguments(parser: CommandParser) -> None:
    parser.add_argument("--wait", action="store_true", help="run it here and show the progress")


def _rescore(command: BaseCommand, *, wait: bool, **_) -> None:
    job = rescoring.start_rescore("requested from the command line")
    if not wait:
        command.stdout.write(f"Rescore job {job.pk} queued; the worker runs it.")
        return
    # Run it here; while another process holds it (or the job before it), follow its progress
    # and take it over when it is free.
    ran = rescoring.run(job.pk)
    while ran is None or ran.status == RescoreStatus.QUEUED:
        time.sleep(POLL_SECONDS)
        job.refresh_from_db()
        command.stdout.write(f"  {job.processed:,} / {job.total:,} leads ({job.status})")
        ran = job if job.status in FINISHED else rescoring.run(job.pk)
    if ran.status != RescoreStatus.DONE:
        raise CommandError(f"Rescore job {job.pk} {ran.status}: {ran.last_error}")
    command.stdout.write(f"Rescored {ran.processed:,} leads (job {job.pk}).")


Handler = Callable[..., None]
SUBCOMMANDS: dict[str, tuple[str, Callable[[CommandParser], None], Handler]] = {
    "rules": ("export or import the rules and stage definitions as JSON", _rules_arguments, _rules),
    "rescore": ("score every lead again, in the background", _rescore_arguments, _rescore),
    "train": ("train a predictive model on the known outcomes", model.train_arguments, model.train),
    "activate": ("make a model version the active one", model.activate_arguments, model.activate),
    "report": (
        "the model's metrics, and rules vs model on outcomes",
        model.no_arguments,
        model.report,
    ),
}


class Command(BaseCommand):
    help = "Scoring: rules as JSON, rescoring every lead, and the predictive model."

    def add_arguments(self, parser: CommandParser) -> None:
        subcommands = parser.add_subparsers(dest="subcommand", required=True)
        for name, (summary, arguments, _) in SUBCOMMANDS.items():
            arguments(subcommands.add_parser(name, help=summary))

    def handle(self, *, subcommand: str, **options) -> None:
        SUBCOMMANDS[subcommand][2](self, **options)
