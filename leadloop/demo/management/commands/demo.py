"""`leadloop demo` fills the configured database with a year of CleanPro's lead generation."""

from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from leadloop.analytics import rollups
from leadloop.core.models import Company, Lead, Source, Visitor
from leadloop.demo import spend, synthetic, traffic, workspace


class Command(BaseCommand):
    help = (
        "Load a synthetic, reproducible history of CleanPro's leads: sources, companies, leads, "
        "engagement and deals won or lost. Refuses to load twice unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--leads", type=int, default=5000, help="how many leads (5000)")
        parser.add_argument("--seed", type=int, default=1, help="the same seed, the same data")
        parser.add_argument("--months", type=int, default=12, help="months of history (12)")
        parser.add_argument(
            "--force", action="store_true", help="delete the earlier demo data and load again"
        )

    def handle(self, *, leads: int, seed: int, months: int, force: bool, **options) -> None:
        if leads < 1 or months < 1:
            raise CommandError("--leads and --months must be at least 1.")
        names = [s.name for s in synthetic.SOURCES]
        earlier = Source.objects.filter(name__in=names)
        if earlier.exists():
            if not force:
                raise CommandError(
                    "The demo data is loaded already. Use --force to delete it and load again."
                )
            self._delete(earlier)
        dataset = synthetic.generate(leads, seed=seed, months=months)
        stats = synthetic.load(dataset)
        spend.store(dataset)
        self._summarise(dataset, stats)
        sources = list(Source.objects.filter(name__in=names))
        visitors = traffic.store(sources, seed)
        self.stdout.write(f"  {visitors} website visitors")
        self._introduce(workspace.staff(sources, seed))
        # The history is written in bulk, past the roll-ups' incremental refresh: build them.
        rollups.rebuild()

    def _delete(self, sources) -> None:
        """Only what the demo made: its sources' leads (their events go with them), the
        sources, and the companies on its reserved .example domains left with no lead."""
        with transaction.atomic():
            deleted = Lead.objects.filter(source__in=sources).delete()[1].get("core.Lead", 0)
            sources.delete()
            Visitor.objects.filter(key__startswith=traffic.KEY_PREFIX).delete()
            Company.objects.filter(domain__endswith=".example", lead__isnull=True).delete()
        self.stdout.write(f"Deleted the earlier demo data ({deleted} leads).")

    def _summarise(self, dataset: synthetic.Dataset, stats: synthetic.LoadStats) -> None:
        spent = sum((s.amount for s in dataset.spend), Decimal())
        last_month = dataset.end - timedelta(days=1)
        self.stdout.write(
            f"Loaded CleanPro's demo history, {dataset.start:%B %Y} to {last_month:%B %Y} "
            f"(seed {dataset.seed}) in {stats.seconds:.1f} s:"
        )
        self.stdout.write(
            f"  {stats.leads} leads from {len(dataset.sources)} sources, "
            f"{stats.companies} companies, {stats.events} events"
        )
        open_deals = stats.leads - stats.won - stats.lost
        self.stdout.write(
            f"  {stats.won} deals won (${stats.revenue:,.2f}), {stats.lost} lost, "
            f"{open_deals} still open"
        )
        self.stdout.write(f"  ${spent:,.2f} spent on campaigns")

    def _introduce(self, staffed: workspace.Staffed) -> None:
        self.stdout.write(
            f"  {staffed.deals} deals on the pipeline, {staffed.meetings} meetings booked, "
            f"{staffed.proposals} proposals out"
        )
        self.stdout.write("The sales team can log in at /app/ (username / password):")
        for username, first, _, role in workspace.TEAM:
            self.stdout.write(
                f"  {username} / {workspace.password_for(username)}  ({first}, {role.lower()})"
            )
