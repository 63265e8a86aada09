"""The demo's ad spend as the measure layer keeps it: each source's monthly budget spread over
the month's days, under the source's channel and campaign, so cost per lead, CPA and ROMI have
money to divide."""

import calendar
from decimal import Decimal

from leadloop.analytics.models import Spend
from leadloop.core.models import Source
from leadloop.demo.synthetic import Dataset

IMPORTED_FROM = "leadloop demo"


def store(dataset: Dataset) -> int:
    """Write one Spend row per source and day; a second run (demo --force) overwrites the rows
    it wrote before instead of failing on the one-a-day constraint. Returns the rows written."""
    sources = {s.name: s for s in Source.objects.filter(name__in=[s.name for s in dataset.sources])}
    rows = []
    for monthly in dataset.spend:
        source = sources[monthly.source]
        days = calendar.monthrange(monthly.month.year, monthly.month.month)[1]
        for day, cost in enumerate(_spread(monthly.amount, days), start=1):
            rows.append(
                Spend(
                    day=monthly.month.replace(day=day),
                    campaign=source.campaign or source.name,
                    source=source,
                    channel=source.channel,
                    cost=cost,
                    imported_from=IMPORTED_FROM,
                )
            )
    Spend.objects.bulk_create(
        rows,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["day", "campaign", "channel"],
        update_fields=["cost", "source", "imported_from"],
    )
    return len(rows)


def _spread(amount: Decimal, days: int) -> list[Decimal]:
    """Equal daily amounts to the cent; the cents left over go to the last day, so the days add
    up to the month exactly."""
    daily = (amount / days).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    return [daily] * (days - 1) + [amount - daily * (days - 1)]
