"""`leadloop import leads FILE.csv` / `import outcomes FILE.csv`: import leads, or the won and
lost deals of known leads, in this process, with a progress bar.

The import is an ImportJob like one started from the admin, so it shows there, and if this
process dies the worker's sweep resumes it. `leadloop import resume JOB` resumes one by hand.
"""

import shutil
import time
from datetime import timedelta
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from leadloop.capture import importer, outcomes
from leadloop.capture.models import ImportJob, ImportKind, ImportStatus
from leadloop.core.models import Source
from leadloop.scoring import services as scoring

TARGETS_HELP = {
    ImportKind.LEADS: "first_name, last_name, full_name, email, phone, company, fields.<name>, "
    "consent.<channel>, tracking.<utm key>",
    ImportKind.OUTCOMES: "email, phone, lead_id, outcome, revenue, closed_at",
}


class Command(BaseCommand):
    help = "Import leads, or deal outcomes, from a CSV file (with a column mapping, a dry run "
    "and a rejects report)."

    def add_arguments(self, parser: CommandParser) -> None:
        kinds = parser.add_subparsers(dest="kind", required=True)
        leads = _file_parser(kinds, ImportKind.LEADS, "import leads from a CSV file")
        leads.add_argument("--source", help="name of the lead source to attribute leads to")
        found = _file_parser(
            kinds,
            ImportKind.OUTCOMES,
            "import won and lost deals of known leads (by email, phone or lead id)",
        )
        found.add_argument(
            "--wait", action="store_true", help="score the leads it touched here, not in the worker"
        )
        resume = kinds.add_parser("resume", help="resume an import that stopped")
        resume.add_argument("job", type=int)
        resume.add_argument("--rejects", type=Path, help="also copy the rejects report here")

    def handle(self, *, kind: str, **options) -> None:
        self.stderr.style_func = None  # progress, not errors: no red on a terminal
        job = self._resume(options["job"]) if kind == "resume" else self._start(kind, options)
        if not importer.claim(job):
            raise CommandError(f"Import {job.pk} is already being run by another process.")
        bar = ProgressBar(self.stderr)
        try:
            job = importer.execute(job, on_progress=bar.update)
        except KeyboardInterrupt:
            importer.stop(job, f"Interrupted at row {job.processed_rows + 1}.")
            bar.finish()
            raise CommandError(
                f"Interrupted after {job.processed_rows:,} rows (all of them committed). "
                f"Resume with: leadloop import resume {job.pk}"
            ) from None
        bar.finish()
        self._summarise(job, options.get("rejects"))
        if options.get("wait") and not job.dry_run:
            self._score_touched(job)

    def _start(self, kind: str, options: dict) -> ImportJob:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No file {path}.")
        source = None
        if options.get("source"):
            source = Source.objects.filter(name=options["source"]).first()
            if source is None:
                raise CommandError(
                    f"No source named {options['source']!r}; add it with "
                    f"`leadloop sources add {options['source']!r} --channel import`."
                )
        region_problems = importer.check_region(options["region"])
        if region_problems:
            raise CommandError(region_problems[0])
        with path.open("rb") as handle:
            name = default_storage.save(f"imports/{path.name}", File(handle))
        try:
            with importer.open_csv(default_storage, name) as (layout, _):
                overrides = _overrides(options["map"])
                mapping = importer.resolve_mapping(layout.headers, overrides, kind)
        except (importer.ImportFileError, ValueError) as error:
            default_storage.delete(name)
            raise CommandError(str(error)) from None
        problems = importer.check_mapping(layout.headers, mapping, kind)
        if problems:
            default_storage.delete(name)
            raise CommandError("\n".join(problems))
        for header, target in mapping.items():
            self.stderr.write(f"  {header!r} → {target or '(ignored)'}")
        return importer.create_job(
            file_name=name,
            mapping=mapping,
            kind=kind,
            source=source,
            region=options["region"],
            dry_run=options["dry_run"],
            enqueue=False,  # this process runs it; the sweep only steps in if it dies
        )

    def _score_touched(self, job: ImportJob) -> None:
        """Score the leads the outcomes changed here, as the worker would after the commit."""
        touched = outcomes.touched_leads(job.pk)
        for start in range(0, len(touched), scoring.BATCH):
            scoring.score_requested(touched[start : start + scoring.BATCH])
        self.stdout.write(f"Scored {len(touched):,} leads again.")

    def _resume(self, job_id: int) -> ImportJob:
        job = ImportJob.objects.filter(pk=job_id).first()
        if job is None:
            raise CommandError(f"No import {job_id}.")
        if job.status == ImportStatus.DONE:
            raise CommandError(f"Import {job_id} is done already.")
        if job.status == ImportStatus.FAILED:
            importer.requeue(job)
        return job

    def _summarise(self, job: ImportJob, copy_to: Path | None) -> None:
        report = job.rejects.path if job.rejects else None
        if report and copy_to:
            shutil.copyfile(report, copy_to)
            report = str(copy_to)
        if job.status != ImportStatus.DONE:
            raise CommandError(
                f"Import {job.pk} stopped after {job.processed_rows:,} rows: {job.last_error}"
            )
        took = (job.finished_at - job.started_at).total_seconds() if job.started_at else 0.0
        rate = job.processed_rows / took if took else 0.0
        self.stdout.write(
            f"{'Dry run of' if job.dry_run else 'Imported'} {job.processed_rows:,} rows in "
            f"{took:.1f} s ({rate:,.0f} rows/s): {_counts(job)}."
        )
        if job.dry_run:
            self.stdout.write("Nothing was written (dry run).")
        if report:
            self.stdout.write(f"Rejects report: {report}")
        self.stdout.write(f"Import job: {job.pk}")


def _file_parser(kinds, kind: str, help: str) -> CommandParser:
    """The arguments an import of a file takes, whatever it imports."""
    parser = kinds.add_parser(kind, help=help)
    parser.add_argument("file", type=Path)
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar='"CSV Header=field"',
        help=f"map a column: {TARGETS_HELP[kind]}; nothing after = ignores it. "
        "Columns not mapped are guessed from their headers.",
    )
    parser.add_argument("--region", default="US", help="country of phone numbers without +code")
    parser.add_argument("--dry-run", action="store_true", help="check and count; write nothing")
    parser.add_argument("--rejects", type=Path, help="also copy the rejects report here")
    return parser


def _counts(job: ImportJob) -> str:
    if job.kind == ImportKind.OUTCOMES:
        verb = "would be recorded" if job.dry_run else "recorded"
        return (
            f"{job.created_count:,} outcomes {verb}, {job.merged_count:,} already imported, "
            f"{job.rejected_count:,} rejected"
        )
    verb = ("would create", "would merge") if job.dry_run else ("created", "merged")
    return (
        f"{job.created_count:,} {verb[0]}, {job.merged_count:,} {verb[1]}, "
        f"{job.rejected_count:,} rejected, {job.quarantined_count:,} quarantined "
        "(see the admin's review queue)"
    )


def _overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        header, sep, target = pair.rpartition("=")
        if not sep or not header.strip():
            raise CommandError(f'--map wants "CSV Header=field", not {pair!r}.')
        overrides[header.strip()] = target.strip()
    return overrides


class ProgressBar:
    """A plain-text progress bar: redrawn in place on a terminal, one line every few seconds
    otherwise (a log file wants lines, not carriage returns)."""

    WIDTH = 24

    def __init__(self, stream: OutputWrapper) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.first_rows: int | None = None
        self.last_drawn = 0.0
        self.line = ""

    def update(self, job: ImportJob) -> None:
        now = time.monotonic()
        if self.first_rows is None:  # a resumed job's earlier rows do not count toward speed
            self.first_rows, self.started = job.processed_rows, now
        done, total = job.processed_rows, job.total_rows or 0
        finished = total and done >= total
        if not finished and now - self.last_drawn < (0.2 if self.tty else 5.0):
            return
        self.last_drawn = now
        elapsed = now - self.started
        rate = (done - self.first_rows) / elapsed if elapsed > 0 else 0.0
        share = done / total if total else 1.0
        filled = int(self.WIDTH * share)
        eta = timedelta(seconds=round((total - done) / rate)) if rate else "?"
        new, old = (
            ("recorded", "already") if job.kind == ImportKind.OUTCOMES else ("created", "merged")
        )
        self.line = (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done:,}/{total:,} {share:4.0%} "
            f"{rate:,.0f} rows/s ETA {eta}  {new} {job.created_count:,} · "
            f"{old} {job.merged_count:,} · rejected {job.rejected_count:,}"
        )
        self.stream.write(
            ("\r" + self.line + "\x1b[K") if self.tty else self.line + "\n", ending=""
        )
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self.line:
            self.stream.write("\n", ending="")
            self.stream.flush()
