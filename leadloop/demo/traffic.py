"""The demo's website traffic as the tracking layer keeps it: a visitor for every demo lead (the
browser they came in with) and the many who looked around and left, so the funnel starts where a
real one does, at visitors, about one in twenty of whom becomes a lead."""

import random
from datetime import timedelta

from leadloop.core.models import Lead, Source, Visitor

LOOKERS_PER_LEAD = 19
KEY_PREFIX = "demo-"


def store(sources: list[Source], seed: int) -> int:
    """Write the visitors of the demo leads of `sources`; returns how many."""
    rng = random.Random(f"traffic:{seed}")
    leads = Lead.objects.filter(source__in=sources).values_list("pk", "captured_at")
    visitors = []
    for pk, captured_at in leads.iterator(chunk_size=5000):
        first_seen = captured_at - timedelta(days=rng.uniform(0, 14))
        visitors.append(_visitor(seed, len(visitors), first_seen, captured_at, pk))
        for _ in range(LOOKERS_PER_LEAD):
            seen = captured_at + timedelta(days=rng.uniform(-15, 15))
            visitors.append(_visitor(seed, len(visitors), seen, seen, None))
    Visitor.objects.bulk_create(visitors, batch_size=5000)
    return len(visitors)


def _visitor(seed: int, number: int, first_seen, last_seen, lead_id: int | None) -> Visitor:
    return Visitor(
        key=f"{KEY_PREFIX}{seed}-{number}",
        lead_id=lead_id,
        first_seen_at=first_seen,
        last_seen_at=last_seen,
    )
