"""The daily roll-ups the measure pages read, so a dashboard over a million leads and ten
million events answers in well under a second.

Three tables, each derived from the records and rebuilt from them at will:

- `LeadJourney`, a row per lead: its dimensions (source, channel, campaign, form, owner), the
  furthest funnel step it reached, when it reached each step, and the time between steps. It is
  written with INSERT … SELECT from the leads and their timelines, so no event passes through
  Python.
- `CohortDay`, the leads captured on a day per set of dimensions: counts per step, customers,
  revenue, and cumulative histograms (how many under each bucket edge) of time to first contact
  and of days between steps, which medians are read from.
- `ActivityDay`, what happened on a day per set of dimensions: proposals sent and accepted,
  deals won and their revenue, stages left and the time spent in them.

`refresh()` runs every minute (the sweep registered in apps.py). It finds what moved since
the last run: leads whose updated_at is newer than the last run (less a margin), and leads with
measured events (captures, stage moves, proposals, deals) past the event watermark of the run
before the last (so an event whose id was handed out before a run and committed after it is
still read, once a minute later; one committed more than a run late waits for a rebuild). It
rebuilds those leads' journeys, then the cohort days they were captured on and the activity
days of the new events (and all of a lead's activity days when its owner, source or form
changed), with today and yesterday always, one transaction per batch of days.

`rebuild()` (`leadloop analytics refresh`) does everything from scratch. A lead deleted
outright leaves its cohort day stale until that day is recomputed; a rebuild fixes it.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    DecimalField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Greatest, NullIf, Substr, TruncDate
from django.utils import timezone

from leadloop.analytics.models import ActivityDay, CohortDay, LeadJourney, RollupState
from leadloop.core.models import LOST, WON, Event, Lead, LifecycleStage
from leadloop.crm.models import Proposal

# The funnel's steps after "lead", in order; LeadJourney.reached is an index into STEPS.
STEPS = ("lead", "mql", "sql", "opportunity", "customer")
STAGE_STEP = {
    LifecycleStage.MQL: 1,
    LifecycleStage.SQL: 2,
    LifecycleStage.OPPORTUNITY: 3,
    LifecycleStage.CUSTOMER: 4,
}
# Upper edges of the histograms' buckets: minutes to first contact, days between steps.
MINUTE_EDGES = (1, 2, 3, 5, 10, 15, 30, 60, 120, 240, 480, 1440, 2880, 10080)
DAY_EDGES = (1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 120, 180, 365)
DIMENSIONS = ("source_id", "channel", "campaign", "form", "owner_id")
PROPOSAL_SENT, PROPOSAL_ACCEPTED, STAGE_LEFT = "proposal.sent", "proposal.accepted", "stage.left"
ACTIVITY_EVENTS = (WON, "stage.changed", PROPOSAL_SENT, PROPOSAL_ACCEPTED)
# The events a journey or an activity is read from: page views, emails and the like change
# no roll-up, so a lead's new ones need not recompute anything.
MEASURED_EVENTS = (*ACTIVITY_EVENTS, LOST, "lead.captured")

LEADS_PER_BATCH = 50_000
DAYS_PER_BATCH = 31
LEAD_IDS_PER_QUERY = 500
UPDATED_MARGIN = timedelta(minutes=5)


def _stage_reached_after(step: int) -> Q:
    """A stage.changed event into the step or a later one."""
    later = [stage for stage, index in STAGE_STEP.items() if index >= step]
    return Q(type="stage.changed", data__to__in=later)


# What on a timeline shows a lead got to each step (a step's time is its first such event).
STEP_EVIDENCE = {
    "mql": _stage_reached_after(1),
    "sql": _stage_reached_after(2),
    "opportunity": _stage_reached_after(3) | Q(type__in=(PROPOSAL_SENT, LOST)),
    "customer": _stage_reached_after(4) | Q(type=WON),
}


def _first(evidence: Q) -> Subquery:
    return Subquery(
        Event.objects.filter(evidence, lead=OuterRef("pk"))
        .order_by()
        .values("lead")
        .annotate(at=Min("occurred_at"))
        .values("at"),
        output_field=DateTimeField(),
    )


def _text(expression, length: int = 200) -> Substr:
    return Substr(Coalesce(expression, Value(""), output_field=CharField()), 1, length)


def _journeys(leads: QuerySet) -> QuerySet:
    """The leads as LeadJourney rows (annotations named `j_<column>`), steps' times included.
    Quarantined and merged-away leads have none: they count nowhere."""
    captured_form = (
        Event.objects.filter(lead=OuterRef("pk"), type="lead.captured")
        .order_by("occurred_at", "id")
        .values(form=KT("data__form"))[:1]
    )
    revenue = (
        Event.objects.filter(lead=OuterRef("pk"), type=WON)
        .order_by()
        .values("lead")
        .annotate(
            total=Sum(Cast(KT("data__revenue"), DecimalField(max_digits=14, decimal_places=2)))
        )
        .values("total")
    )
    stage_step = Case(
        *(When(lifecycle_stage=stage, then=Value(step)) for stage, step in STAGE_STEP.items()),
        default=Value(0),
        output_field=IntegerField(),
    )
    return (
        leads.workable()
        .order_by()
        .annotate(
            j_lead_id=F("pk"),
            j_day=TruncDate("captured_at", tzinfo=UTC),
            j_source_id=F("source_id"),
            j_channel=_text(F("source__channel"), 20),
            j_campaign=_text(
                Coalesce(NullIf(F("source__campaign"), Value("")), KT("last_touch__utm_campaign"))
            ),
            j_form=_text(Subquery(captured_form)),
            j_owner_id=F("owner_id"),
            j_reached=stage_step,
            j_captured_at=F("captured_at"),
            j_contacted_at=F("first_contact_at"),
            **{f"j_{step}_at": _first(evidence) for step, evidence in STEP_EVIDENCE.items()},
            j_revenue=Coalesce(Subquery(revenue), Value(Decimal("0")), output_field=DecimalField()),
        )
        .values_list(*JOURNEY_COLUMNS)
    )


JOURNEY_COLUMNS = (
    "j_lead_id", "j_day", "j_source_id", "j_channel", "j_campaign", "j_form", "j_owner_id",
    "j_reached", "j_captured_at", "j_contacted_at", "j_mql_at", "j_sql_at", "j_opportunity_at",
    "j_customer_at", "j_revenue",
)  # fmt: skip


def _since(later: str, earlier: str) -> ExpressionWrapper:
    return ExpressionWrapper(F(later) - F(earlier), output_field=DurationField())


def _write_journeys(leads: QuerySet) -> None:
    """1. Insert the leads' journeys with one INSERT … SELECT (each step's time a subquery);
    2. derive the durations and the furthest step from those times with one UPDATE."""
    sql, params = _journeys(leads).query.sql_with_params()
    quote = connection.ops.quote_name
    columns = ", ".join(
        quote(LeadJourney._meta.get_field(name.removeprefix("j_")).column)
        for name in JOURNEY_COLUMNS
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(LeadJourney._meta.db_table)} ({columns}) {sql}",
            params,
        )
    reached_by_time = Case(
        *(
            When(**{f"{step}_at__isnull": False}, then=Value(STEPS.index(step)))
            for step in reversed(STEPS[1:])
        ),
        default=Value(0),
        output_field=IntegerField(),
    )
    LeadJourney.objects.filter(lead__in=leads.values("pk")).update(
        reached=Greatest(F("reached"), reached_by_time),
        to_contact=_since("contacted_at", "captured_at"),
        mql_after=_since("mql_at", "captured_at"),
        sql_after=_since("sql_at", "mql_at"),
        opportunity_after=_since("opportunity_at", "sql_at"),
        customer_after=_since("customer_at", "opportunity_at"),
    )


def _cohort_rows(days: list[date]) -> list[CohortDay]:
    """The cohort roll-up's rows for these capture days: one GROUP BY over their journeys."""
    under = {
        f"contact_{edge}": Count("pk", filter=Q(to_contact__lt=timedelta(minutes=edge)))
        for edge in MINUTE_EDGES
    }
    for step in STEPS[1:]:
        field = f"{step}_after"
        under |= {
            f"{step}_{edge}": Count("pk", filter=Q(**{f"{field}__lt": timedelta(days=edge)}))
            for edge in DAY_EDGES
        }
        under[f"{step}_timed"] = Count(field)
    grouped = (
        LeadJourney.objects.filter(day__in=days)
        .order_by()
        .values("day", *DIMENSIONS)
        .annotate(
            leads=Count("pk"),
            **{step: Count("pk", filter=Q(reached__gte=i)) for i, step in enumerate(STEPS) if i},
            revenue=Sum("revenue"),
            contacted=Count("to_contact"),
            **under,
        )
    )
    return [
        CohortDay(
            **{name: row[name] for name in ("day", *DIMENSIONS, "leads", "contacted")},
            mql=row["mql"],
            sql=row["sql"],
            opportunity=row["opportunity"],
            customers=row["customer"],
            revenue=row["revenue"] or Decimal("0"),
            contact_minutes=[row[f"contact_{edge}"] for edge in MINUTE_EDGES],
            step_days={
                step: [row[f"{step}_timed"], *(row[f"{step}_{edge}"] for edge in DAY_EDGES)]
                for step in STEPS[1:]
            },
        )
        for row in grouped
    ]


def _dimensions_of(path: str) -> dict:
    """The journey's dimensions reached through a relation, named as ActivityDay's fields."""
    return {name: F(f"{path}analytics_journey__{name}") for name in DIMENSIONS}


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """The sorted days as runs of consecutive days (first, last): each is read as one index
    range, so scattered days never read the whole stretch between them."""
    runs: list[list[date]] = []
    for day in days:
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(first, last) for first, last in runs]


def _between(first: date, last: date, moment: str) -> Q:
    return Q(
        **{
            f"{moment}__gte": datetime.combine(first, datetime.min.time(), UTC),
            f"{moment}__lt": datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC),
        }
    )


def _activity_rows(first: date, last: date) -> list[ActivityDay]:
    """The activity roll-up's rows for a run of days: a GROUP BY per kind of activity."""
    events = Event.objects.filter(_between(first, last, "occurred_at")).order_by()
    # Proposal events written for a crm Proposal would count it twice: only history counts.
    history = ~Q(data__has_key="proposal")
    entered = Coalesce(
        Subquery(
            Event.objects.filter(
                lead=OuterRef("lead"), type="stage.changed", occurred_at__lt=OuterRef("occurred_at")
            )
            .order_by("-occurred_at")
            .values("occurred_at")[:1]
        ),
        F("lead__captured_at"),
        output_field=DateTimeField(),
    )
    revenue = Cast(KT("data__revenue"), DecimalField(max_digits=14, decimal_places=2))
    sources = [
        (events.filter(type=WON), "occurred_at", WON, "", {"amount": Sum(revenue)}),
        (
            events.filter(type="stage.changed"),
            "occurred_at",
            STAGE_LEFT,
            KT("data__from"),
            {"duration": Sum(ExpressionWrapper(F("occurred_at") - entered, DurationField()))},
        ),
        (events.filter(history, type=PROPOSAL_SENT), "occurred_at", PROPOSAL_SENT, "", {}),
        (events.filter(history, type=PROPOSAL_ACCEPTED), "occurred_at", PROPOSAL_ACCEPTED, "", {}),
        (
            Proposal.objects.filter(_between(first, last, "sent_at")).order_by(),
            "sent_at",
            PROPOSAL_SENT,
            "",
            {},
        ),
        (
            Proposal.objects.filter(_between(first, last, "accepted_at")).order_by(),
            "accepted_at",
            PROPOSAL_ACCEPTED,
            "",
            {},
        ),
    ]
    merged: dict[tuple, ActivityDay] = {}
    for queryset, moment, kind, stage, sums in sources:
        path = "deal__lead__" if queryset.model is Proposal else "lead__"
        grouped = (
            queryset.annotate(
                a_day=TruncDate(moment, tzinfo=UTC),
                a_stage=_text(stage if stage else Value(""), 20),
                **{f"a_{name}": value for name, value in _dimensions_of(path).items()},
            )
            .values("a_day", "a_stage", *(f"a_{name}" for name in DIMENSIONS))
            .annotate(count=Count("pk"), **sums)
        )
        for row in grouped:
            key = (row["a_day"], kind, row["a_stage"], *(row[f"a_{n}"] for n in DIMENSIONS))
            activity = merged.setdefault(
                key,
                ActivityDay(
                    day=row["a_day"],
                    kind=kind,
                    stage=row["a_stage"],
                    **{name: row[f"a_{name}"] for name in DIMENSIONS},
                ),
            )
            activity.count += row["count"]
            activity.amount += row.get("amount") or Decimal("0")
            if row.get("duration") is not None:
                activity.duration = (activity.duration or timedelta()) + row["duration"]
    return list(merged.values())


def _write_days(days: Iterable[date]) -> None:
    """Recompute the cohort and activity roll-ups of these days, a transaction per batch."""
    ordered = sorted(set(days))
    for first in range(0, len(ordered), DAYS_PER_BATCH):
        batch = ordered[first : first + DAYS_PER_BATCH]
        with transaction.atomic():
            CohortDay.objects.filter(day__in=batch).delete()
            CohortDay.objects.bulk_create(_cohort_rows(batch), batch_size=1000)
            ActivityDay.objects.filter(day__in=batch).delete()
            for first_day, last_day in _runs(batch):
                ActivityDay.objects.bulk_create(
                    _activity_rows(first_day, last_day), batch_size=1000
                )


def _recent_days(now: datetime) -> set[date]:
    today = now.astimezone(UTC).date()
    return {today, today - timedelta(days=1)}


def rebuild() -> int:
    """Everything from scratch: every lead's journey (a transaction per batch of leads), then
    every day's roll-ups. Returns the number of leads."""
    now = timezone.now()
    watermark = Event.objects.aggregate(last=Max("pk"))["last"] or 0
    bounds = Lead.objects.aggregate(first=Min("pk"), last=Max("pk"))
    with transaction.atomic():
        LeadJourney.objects.all().delete()
        CohortDay.objects.all().delete()
        ActivityDay.objects.all().delete()
    if bounds["first"] is not None:
        for low in range(bounds["first"], bounds["last"] + 1, LEADS_PER_BATCH):
            with transaction.atomic():
                _write_journeys(Lead.objects.filter(pk__gte=low, pk__lt=low + LEADS_PER_BATCH))
    days = set(LeadJourney.objects.values_list("day", flat=True).distinct())
    days |= _event_days(Event.objects.filter(type__in=ACTIVITY_EVENTS))
    days |= _proposal_days(Proposal.objects.all())
    _write_days(days | _recent_days(now))
    _mark(now, watermark, reread_from=watermark)
    return LeadJourney.objects.count()


def refresh(days: int | None = None) -> int:
    """Bring the roll-ups up to date with what changed since the last run (see the module's
    docstring); with `days`, also rebuild the journeys and roll-ups of the last `days` days.
    Returns how many leads' journeys were rebuilt. Runs as a sweep every minute."""
    state = RollupState.current()
    if state.refreshed_at is None:
        return rebuild()
    now = timezone.now()
    watermark = Event.objects.aggregate(last=Max("pk"))["last"] or 0
    new_events = Event.objects.filter(
        # Event ids are handed out before their transactions commit, so one committed late
        # can sit below the last run's watermark: each run reads from the run before's.
        pk__gt=state.reread_from,
        type__in=MEASURED_EVENTS,
    )
    # Each source of change is its own indexed query: an OR of them would scan every lead.
    moved = set(
        Lead.objects.filter(updated_at__gte=state.refreshed_at - UPDATED_MARGIN).values_list(
            "pk", flat=True
        )
    )
    moved |= set(new_events.order_by().values_list("lead_id", flat=True).distinct())
    if days:
        since = datetime.combine(now.date() - timedelta(days=days - 1), datetime.min.time(), UTC)
        moved |= set(Lead.objects.filter(captured_at__gte=since).values_list("pk", flat=True))
    lead_ids = sorted(moved)
    touched = set(_recent_days(now))
    for first in range(0, len(lead_ids), LEAD_IDS_PER_QUERY):
        batch = lead_ids[first : first + LEAD_IDS_PER_QUERY]
        with transaction.atomic():
            journeys = LeadJourney.objects.filter(lead__in=batch)
            before = _cuts(journeys)
            journeys.delete()
            _write_journeys(Lead.objects.filter(pk__in=batch))
            after = _cuts(journeys)
            touched |= {cut[0] for cut in (*before.values(), *after.values())}
            # A lead with a new owner, source or form moves its past activity too.
            recut = [lead for lead in batch if before.get(lead) != after.get(lead)]
            touched |= _event_days(Event.objects.filter(lead__in=recut, type__in=ACTIVITY_EVENTS))
            touched |= _proposal_days(Proposal.objects.filter(deal__lead__in=recut))
    touched |= _event_days(new_events.filter(type__in=ACTIVITY_EVENTS))
    if days:
        touched |= {now.date() - timedelta(days=n) for n in range(days)}
    _write_days(touched)
    _mark(now, watermark, reread_from=state.event_watermark)
    return len(lead_ids)


def sweep() -> int:
    """The worker's periodic refresh. It reports no work found, whatever it did: the roll-ups
    are never a backlog to drain at once, only to keep a minute fresh."""
    refresh()
    return 0


def _cuts(journeys: QuerySet) -> dict[int, tuple]:
    """Each journey's capture day and dimensions, by lead."""
    return {row[0]: row[1:] for row in journeys.values_list("lead_id", "day", *DIMENSIONS)}


def _event_days(events: QuerySet) -> set[date]:
    return set(
        events.order_by()
        .annotate(event_day=TruncDate("occurred_at", tzinfo=UTC))
        .values_list("event_day", flat=True)
        .distinct()
    )


def _proposal_days(proposals: QuerySet) -> set[date]:
    days: set[date] = set()
    for moment in ("sent_at", "accepted_at"):
        days |= set(
            proposals.filter(**{f"{moment}__isnull": False})
            .order_by()
            .annotate(moment_day=TruncDate(moment, tzinfo=UTC))
            .values_list("moment_day", flat=True)
            .distinct()
        )
    return days


def _mark(now: datetime, watermark: int, reread_from: int) -> None:
    RollupState.objects.update_or_create(
        pk=1,
        defaults={"refreshed_at": now, "event_watermark": watermark, "reread_from": reread_from},
    )


def fresh_as_of() -> datetime | None:
    return RollupState.current().refreshed_at
