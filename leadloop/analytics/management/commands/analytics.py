"""`leadloop analytics refresh [--days N]`: rebuild the dashboard's roll-ups (rollups.py)."""

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadloop.analytics import rollups


class Command(BaseCommand):
    help = (
        "refresh: rebuild the measure pages' roll-ups from scratch, or with --days N bring "
        "them up to date and recompute the last N days (the worker does this every minute)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        refresh = actions.add_parser("refresh", help="rebuild the roll-ups")
        refresh.add_argument(
            "--days", type=int, default=None, help="only the last N days (and what changed)"
        )

    def handle(self, *, action: str, days: int | None, **options) -> None:
        started = time.perf_counter()
        if days is not None and days < 1:
            raise CommandError("--days is a number of days, at least 1.")
        leads = rollups.refresh(days=days) if days else rollups.rebuild()
        seconds = time.perf_counter() - started
        scope = f"the last {days} days" if days else "everything"
        self.stdout.write(f"Roll-ups refreshed ({scope}): {leads:,} leads in {seconds:.1f} s.")
