"""`leadloop bench capture|quality|scoring|routing|nurture|crm|analytics`: the benchmarks in leadloop/bench/. Each
builds its own throw-away installation, so it never touches the one this command is configured
for."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadloop.bench import analytics, capture, crm, nurture, quality, routing, scoring


class Command(BaseCommand):
    help = (
        "Benchmarks against a throw-away installation: `capture` drives POST /api/v1/leads; "
        "`quality` times validations and duplicate lookups with a million leads; `scoring` times "
        "rescoring a million leads; `routing` times routing decisions and speed to lead end to end; "
        "`nurture` times segments at a million leads, workflow steps/s and submission to first "
        "step; `crm` times the pipeline board at 10,000 deals and a lead page at 1,000 events; "
        "`analytics` times the 90-day dashboard at a million leads and 15 million events."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        benchmarks = parser.add_subparsers(dest="benchmark", required=True)
        capture.add_arguments(
            benchmarks.add_parser(
                "capture", help="leads/s and latency of POST /api/v1/leads against the floor"
            )
        )
        quality.add_arguments(
            benchmarks.add_parser(
                "quality",
                help="email and phone validations/s, and duplicate lookup latency at N leads",
            )
        )
        scoring.add_arguments(
            benchmarks.add_parser(
                "scoring", help="seconds to rescore N leads (a rescore job) against the floor"
            )
        )
        routing.add_arguments(
            benchmarks.add_parser(
                "routing",
                help="routing decision time, and speed to lead from POST to acknowledgement",
            )
        )

        nurture.add_arguments(
            benchmarks.add_parser(
                "nurture",
                help="segment evaluation at N leads, steps/s, and submission to first step",
            )
        )
        crm.add_arguments(
            benchmarks.add_parser(
                "crm", help="server time and query counts of the pipeline board and a lead page"
            )
        )
        analytics.add_arguments(
            benchmarks.add_parser(
                "analytics", help="roll-up build and the 90-day dashboard's time at N leads"
            )
        )

    def handle(self, *, benchmark: str, **options) -> None:
        modules = {
            "analytics": analytics,
            "crm": crm,
            "quality": quality,
            "scoring": scoring,
            "routing": routing,
            "nurture": nurture,
        }
        module = modules.get(benchmark, capture)
        if not module.run_from_options(options):
            raise CommandError("the benchmark had errors (see above)")
