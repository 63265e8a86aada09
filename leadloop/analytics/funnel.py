"""The funnel and its leaks: visitors -> leads -> MQL -> SQL -> opportunity -> customer.

Visitors are the anonymous browsers first seen in the period (core.Visitor). Nothing ties a
visitor who never became a lead to a source, campaign, form or owner, so with any of those
filters, and in the per-source or per-campaign rows, their count is None (shown "—").

The other steps follow the leads captured in the period (kpis' cohort): a lead counts at a
step when it reached that step or any later one (kpis' docstring says how "reached" is read).
For each step: its count; the conversion from the step before (percent); the median days
between the step before and this one (over the leads whose timeline shows both); and how many
dropped out there (reached this step but not the next: lost, disqualified, recycled, or not
moved on yet; for visitors, those not captured as leads in the period).

Stuck past SLA counts the period's open leads (not customers, disqualified or recycled) with no
first contact yet whose first-contact deadline has passed: a routing SLA timer due before now,
or assigned longer ago than the routing settings' SLA minutes. It is read live.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from leadloop.analytics import rollups
from leadloop.analytics.kpis import Cohort, Filters, cohort_rows, cohorts, cut
from leadloop.analytics.models import LeadJourney
from leadloop.core.models import Lead, LifecycleStage, Source, Visitor
from leadloop.routing.models import RoutingSettings, SlaTimer, TimerStatus

LABELS = {
    "visitors": "Visitors",
    "lead": "Leads",
    "mql": "Marketing qualified (MQL)",
    "sql": "Sales qualified (SQL)",
    "opportunity": "Opportunity",
    "customer": "Customer",
}
CLOSED = (LifecycleStage.CUSTOMER, LifecycleStage.DISQUALIFIED, LifecycleStage.RECYCLED)
BREAKDOWNS = {"source": "source_id", "campaign": "campaign"}


@dataclass
class Step:
    key: str
    label: str
    count: int | None  # None: visitors where they cannot be attributed
    conversion: float | None  # percent of the step before
    median_days: float | None  # from the step before
    dropped: int | None


@dataclass
class Funnel:
    steps: list[Step]
    mql_to_sql: float | None  # percent
    stuck_past_sla: int
    rows: list[tuple[str, list[Step]]]  # per source or campaign, when asked


def _percent(part: int | None, whole: int | None) -> float | None:
    return round(100 * part / whole, 2) if part is not None and whole else None


def steps_of(cohort: Cohort, visitors: int | None) -> list[Step]:
    counts = [visitors, *(cohort.reached(step) for step in rollups.STEPS)]
    keys = ["visitors", *rollups.STEPS]
    steps = []
    for index, key in enumerate(keys):
        before = counts[index - 1] if index else None
        after = counts[index + 1] if index + 1 < len(counts) else None
        count = counts[index]
        dropped = None
        if count is not None:
            dropped = max(0, count - after) if after is not None else 0
        steps.append(
            Step(
                key=key,
                label=LABELS[key],
                count=count,
                conversion=_percent(count, before) if index else None,
                median_days=_days(cohort.median_days(key)) if index > 1 else None,
                dropped=dropped,
            )
        )
    return steps


def _days(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def visitors(filters: Filters) -> int | None:
    if any(
        v is not None for v in (filters.source_id, filters.campaign, filters.form, filters.owner_id)
    ):
        return None
    start = datetime.combine(filters.start, datetime.min.time(), UTC)
    end = datetime.combine(filters.end + timedelta(days=1), datetime.min.time(), UTC)
    return Visitor.objects.filter(first_seen_at__gte=start, first_seen_at__lt=end).count()


def stuck_past_sla(filters: Filters) -> int:
    """Open leads of the period not contacted yet whose first-contact deadline has passed."""
    now = timezone.now()
    start = datetime.combine(filters.start, datetime.min.time(), UTC)
    end = datetime.combine(filters.end + timedelta(days=1), datetime.min.time(), UTC)
    leads = Lead.objects.workable().filter(
        captured_at__gte=start, captured_at__lt=end, first_contact_at__isnull=True
    )
    leads = leads.exclude(lifecycle_stage__in=CLOSED)
    for name, value in (("source_id", filters.source_id), ("owner_id", filters.owner_id)):
        if value is not None:
            leads = leads.filter(**{name: value})
    if filters.campaign is not None or filters.form is not None:
        journeys = cut(LeadJourney.objects, filters)
        leads = leads.filter(pk__in=journeys.values("lead_id"))
    sla = timedelta(
        minutes=RoutingSettings.objects.values_list("sla_minutes", flat=True).first() or 5
    )
    overdue_timer = SlaTimer.objects.filter(lead=OuterRef("pk"), due_at__lte=now).exclude(
        status=TimerStatus.CANCELLED
    )
    return leads.filter(Q(Exists(overdue_timer)) | Q(assigned_at__lte=now - sla)).count()


def funnel(filters: Filters, by: str | None = None) -> Funnel:
    """The funnel for the filters; with `by` ("source" or "campaign") also a row per value."""
    if by is not None and by not in BREAKDOWNS:
        raise ValueError("The funnel is broken down by source or campaign.")
    cohort = cohort_rows(filters)
    whole = cohorts(cohort).get(None, Cohort())
    rows = []
    if by is not None:
        names = dict(Source.objects.values_list("pk", "name")) if by == "source" else {}
        per = cohorts(cohort, by=BREAKDOWNS[by])
        for value, part in sorted(per.items(), key=lambda pair: -pair[1].leads):
            name = names.get(value, "(no source)") if by == "source" else (value or "(none)")
            rows.append((name, steps_of(part, None)))
    return Funnel(
        steps=steps_of(whole, visitors(filters)),
        mql_to_sql=_percent(whole.sql, whole.mql),
        stuck_past_sla=stuck_past_sla(filters),
        rows=rows,
    )
