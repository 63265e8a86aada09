"""`leadloop bench capture`: the capture benchmark (leadloop/bench/capture.py), which builds its
own throw-away installation, so it never touches the one this command is configured for."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadloop.bench import capture


class Command(BaseCommand):
    help = "Benchmarks against a throw-away installation: `capture` drives POST /api/v1/leads."

    def add_arguments(self, parser: CommandParser) -> None:
        benchmarks = parser.add_subparsers(dest="benchmark", required=True)
        capture.add_arguments(
            benchmarks.add_parser(
                "capture", help="leads/s and latency of POST /api/v1/leads against the floor"
            )
        )

    def handle(self, *, benchmark: str, **options) -> None:
        if not capture.run_from_options(options):
            raise CommandError("the benchmark had errors (see above)")
