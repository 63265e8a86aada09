"""The KPI framework of seed 001, figure by figure, for a period and a cut of the business.

The interface the pages and the API build on:

- `Filters(start, end, source_id, campaign, form, owner_id)`: inclusive UTC days and the cut;
  `filters_from(params, today)` reads them from a query string (`period=7|30|90|180|365|custom`,
  `start`, `end` as YYYY-MM-DD for custom, `source`, `campaign`, `form` (a form's slug),
  `owner`) and raises ValueError with a message on bad input. `Filters.previous()` is the
  period of the same length just before, which every figure's trend compares with.
- `dashboard(filters) -> Dashboard`: every figure (`Figure`) with its previous value, target
  range and in/out state, the live pipeline by stage, and the charts' series.
- `spend_table(filters, by)`: spend against what it bought, a row per channel, campaign or
  source.
- `targets()`, `set_target(kpi, low, high)`, `DEFAULT_TARGETS`: the business's target ranges,
  seed 001's until edited; `gross_margin()` / `set_gross_margin(percent)`.

What each figure means. Two kinds of figure, and the difference matters:

Cohort figures follow the leads captured in the period (by capture day) to what became of
them so far, whenever that happened: leads, leads a month (leads x 30 / days in the period),
source mix, qualification rate (share of the leads that reached MQL or any later step),
MQL->SQL (share of those reaching MQL that reached SQL), speed to first contact (median of
first_contact_at - captured_at over the contacted leads, read from a fixed-bucket histogram and
interpolated linearly inside its bucket; and the share of all leads contacted in under five
minutes), CPL (spend dated in the period / leads), cost per SQL (spend / leads that reached
SQL), CPA (spend / customers won from the cohort), revenue (deal.won revenue of the cohort to
date), ROMI ((revenue - spend) / spend, a ratio shown as "5.2:1"), profit per marketing dollar
((revenue x gross margin - spend) / spend), and CLV by source (revenue / customers, per source).
A step is "reached" when the lead's stage now is that step or a later one, or its timeline
shows it got there (a stage.changed to it or beyond; a deal.lost or proposal.sent means it was
an opportunity, a deal.won that it became a customer): a lead lost at the opportunity step
still counts as having been an MQL and an SQL.

Activity figures count what happened in the period by its own date, whichever leads it
happened to: proposals sent (crm proposals by sent_at, plus "proposal.sent" events not made
for a crm proposal, i.e. imported history), proposals a month, acceptance rate (proposals
accepted in the period / sent in the period), deals closed (deal.won events), revenue per deal
(their revenue / their number), and average days in each stage (from stage.changed events:
the time from entering the stage left, the lead's previous stage.changed or its capture, to
leaving it).

Spend is cut by source, channel and campaign (its own columns); a filter on form or owner
cannot cut spend, so the money figures are then computed with the whole period's spend for the
chosen source/campaign and say so in their note.

A figure is None when it cannot be computed (no leads, no spend, no customers…) and its note
says why. Its state is "in" or "out" of its target range, or "none" when there is no range or
no value. Figures are read from the daily roll-ups (rollups.py), refreshed every minute by a
sweep; `Dashboard.fresh_as_of` says when. The pipeline right now by stage (the leads in an
open stage: subscriber, lead, MQL, SQL, opportunity) is read live.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Count, QuerySet, Sum

from leadloop.analytics import rollups
from leadloop.analytics.models import ActivityDay, CohortDay, MeasureSettings, Spend, Target
from leadloop.core.models import Channel, Lead, LifecycleStage, Source

PERIODS = (7, 30, 90, 180, 365)
LONGEST_CUSTOM_DAYS = 3 * 366

# Seed 001's target ranges (low, high), in each figure's own unit: percent as 0-100, money in
# the business's currency, ROMI as the ratio's first term.
DEFAULT_TARGETS: dict[str, tuple[Decimal | None, Decimal | None]] = {
    "leads_per_month": (Decimal("50"), Decimal("200")),
    "cpl": (Decimal("15"), Decimal("50")),
    "speed_to_contact": (None, Decimal("5")),
    "qualification_rate": (Decimal("25"), Decimal("35")),
    "proposals_per_month": (Decimal("8"), None),
    "acceptance_rate": (Decimal("35"), None),
    "cpa": (None, Decimal("3000")),
    "romi": (Decimal("5"), None),
}


@dataclass(frozen=True)
class Filters:
    """A period of inclusive UTC days and a cut of the business (None / "" for all)."""

    start: date
    end: date
    source_id: int | None = None
    campaign: str | None = None
    form: str | None = None
    owner_id: int | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Filters":
        """The period of the same length that ends the day before this one starts."""
        end = self.start - timedelta(days=1)
        return replace(self, start=end - timedelta(days=self.days - 1), end=end)


def filters_from(params: Mapping[str, str], today: date) -> Filters:
    """The filters a query string asks for; ValueError with a message a person can act on."""
    period = (params.get("period") or "30").strip()
    if period == "custom":
        start, end = _day(params, "start"), _day(params, "end")
        if start > end:
            raise ValueError("The period's start is after its end.")
        if (end - start).days >= LONGEST_CUSTOM_DAYS:
            raise ValueError("A custom period can be at most three years long.")
    elif period.isdigit() and int(period) in PERIODS:
        end = today
        start = today - timedelta(days=int(period) - 1)
    else:
        allowed = ", ".join(map(str, PERIODS))
        raise ValueError(f"The period is one of {allowed} (days) or custom.")
    return Filters(
        start=start,
        end=end,
        source_id=_number(params, "source"),
        campaign=(params.get("campaign") or "").strip() or None,
        form=(params.get("form") or "").strip() or None,
        owner_id=_number(params, "owner"),
    )


def _day(params: Mapping[str, str], name: str) -> date:
    text = (params.get(name) or "").strip()
    if not text:
        raise ValueError("A custom period needs a start and an end day (YYYY-MM-DD).")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"The {name} day {text[:20]!r} is not a date (YYYY-MM-DD).") from None


def _number(params: Mapping[str, str], name: str) -> int | None:
    text = (params.get(name) or "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValueError(f"The {name} filter is a number (an id), not {text[:20]!r}.")
    return int(text)


@dataclass
class Figure:
    """One KPI card: its value for the filters, the same for the previous period, its target
    range and whether the value is inside it."""

    key: str
    label: str
    dimension: str  # "input" | "process" | "output" | "efficiency"
    value: Decimal | float | int | None
    unit: str  # "count" | "money" | "percent" | "minutes" | "days" | "ratio"
    previous: Decimal | float | int | None
    low: Decimal | None
    high: Decimal | None
    state: str  # "in" | "out" | "none"
    note: str = ""


@dataclass
class Dashboard:
    filters: Filters
    figures: list[Figure]
    pipeline_now: list[tuple[str, str, int]]  # (stage value, label, leads in it now)
    leads_by_day: list[tuple[date, int]]
    source_mix: list[tuple[str, int]]
    cpl_by_channel: list[tuple[str, Decimal | None]]
    days_in_stage: list[tuple[str, float | None]]
    clv_by_source: list[tuple[str, Decimal | None]]
    fresh_as_of: datetime | None
    by_key: dict[str, Figure] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.by_key = {figure.key: figure for figure in self.figures}


def targets() -> dict[str, tuple[Decimal | None, Decimal | None]]:
    """Every KPI's range: the business's own where it set one, seed 001's otherwise."""
    ranges = dict(DEFAULT_TARGETS)
    for target in Target.objects.all():
        ranges[target.kpi] = (target.low, target.high)
    return ranges


def set_target(kpi: str, low: object, high: object) -> None:
    """Set a KPI's range (either end may be empty); ValueError on an unknown KPI or bad range."""
    if kpi not in DEFAULT_TARGETS:
        raise ValueError(f"There is no KPI {kpi[:40]!r} to set a target for.")
    low_value, high_value = _amount(low, "low"), _amount(high, "high")
    if low_value is not None and high_value is not None and low_value > high_value:
        raise ValueError("The target's low end is above its high end.")
    Target.objects.update_or_create(kpi=kpi, defaults={"low": low_value, "high": high_value})


def _amount(value: object, end: str) -> Decimal | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"The target's {end} end {str(value)[:20]!r} is not a number.") from None
    if not amount.is_finite() or abs(amount) >= Decimal("1e10"):
        raise ValueError(f"The target's {end} end is out of range.")
    return amount


def gross_margin() -> Decimal:
    """The share of revenue that is profit before marketing, in percent (default 50)."""
    return MeasureSettings.current().gross_margin


def set_gross_margin(percent: object) -> None:
    margin = _amount(percent, "margin")
    if margin is None or not Decimal("0") <= margin <= Decimal("100"):
        raise ValueError("The gross margin is a percentage between 0 and 100.")
    with transaction.atomic():
        settings = MeasureSettings.current()
        settings.gross_margin = margin
        settings.save(update_fields=["gross_margin"])


# (key, label, dimension, unit) of every card, in the order the dashboard shows them.
FIGURES = (
    ("leads", "Leads", "input", "count"),
    ("leads_per_month", "Leads a month", "input", "count"),
    ("spend", "Ad spend", "input", "money"),
    ("cpl", "Cost per lead", "input", "money"),
    ("speed_to_contact", "Median time to first contact", "process", "minutes"),
    ("contacted_in_5", "Contacted within 5 minutes", "process", "percent"),
    ("qualification_rate", "Qualification rate (reached MQL)", "process", "percent"),
    ("mql_to_sql", "MQL to SQL", "process", "percent"),
    ("proposals", "Proposals sent", "output", "count"),
    ("proposals_per_month", "Proposals a month", "output", "count"),
    ("acceptance_rate", "Proposal acceptance rate", "output", "percent"),
    ("deals_closed", "Deals closed (won)", "output", "count"),
    ("revenue_per_deal", "Revenue per deal", "output", "money"),
    ("revenue", "Revenue from the period's leads", "efficiency", "money"),
    ("cost_per_sql", "Cost per SQL", "efficiency", "money"),
    ("cpa", "Cost per acquisition", "efficiency", "money"),
    ("romi", "Return on marketing investment", "efficiency", "ratio"),
    ("profit_per_dollar", "Profit per marketing dollar", "efficiency", "money"),
)
CENT = Decimal("0.01")
SPEND_CUT_NOTE = "Spend cannot be cut by form or owner: the period's spend for the rest."


@dataclass
class Cohort:
    """The roll-up rows of the leads captured in a period, added up."""

    leads: int = 0
    mql: int = 0
    sql: int = 0
    opportunity: int = 0
    customers: int = 0
    revenue: Decimal = Decimal("0")
    contacted: int = 0
    contact_minutes: list[int] = field(default_factory=lambda: [0] * len(rollups.MINUTE_EDGES))
    step_days: dict[str, list[int]] = field(
        default_factory=lambda: {s: [0] * (len(rollups.DAY_EDGES) + 1) for s in rollups.STEPS[1:]}
    )

    def add(self, row: dict, histograms: bool = True) -> None:
        """Add a roll-up row; its histograms too unless told not to (they cost most)."""
        for name in ("leads", "mql", "sql", "opportunity", "customers", "revenue", "contacted"):
            setattr(self, name, getattr(self, name) + row[name])
        if not histograms:
            return
        self.contact_minutes = [
            a + b for a, b in zip(self.contact_minutes, row["contact_minutes"], strict=True)
        ]
        for step, counts in row["step_days"].items():
            self.step_days[step] = [
                a + b for a, b in zip(self.step_days[step], counts, strict=True)
            ]

    def reached(self, step: str) -> int:
        """How many leads got to a funnel step (rollups.STEPS) or beyond."""
        return {
            "lead": self.leads,
            "mql": self.mql,
            "sql": self.sql,
            "opportunity": self.opportunity,
            "customer": self.customers,
        }[step]

    def median_days(self, step: str) -> float | None:
        timed, *under = self.step_days[step]
        return median(timed, under, rollups.DAY_EDGES)

    @property
    def contact_median(self) -> float | None:
        return median(self.contacted, self.contact_minutes, rollups.MINUTE_EDGES)

    @property
    def contacted_in_5(self) -> int:
        return self.contact_minutes[rollups.MINUTE_EDGES.index(5)]


def median(total: int, under: list[int], edges: tuple[int, ...]) -> float | None:
    """The median of `total` values of which `under[i]` are below `edges[i]`, interpolated
    linearly inside its bucket; the last edge when more than half lie beyond it."""
    if not total:
        return None
    half, lower, below = total / 2, 0, 0
    for edge, count in zip(edges, under, strict=True):
        if count >= half:
            return lower + (edge - lower) * (half - below) / (count - below)
        lower, below = edge, count
    return float(edges[-1])


def cut(queryset: QuerySet, filters: Filters) -> QuerySet:
    """A roll-up's rows for the filters' days and dimensions."""
    queryset = queryset.filter(day__gte=filters.start, day__lte=filters.end)
    for name, value in (
        ("source_id", filters.source_id),
        ("campaign", filters.campaign),
        ("form", filters.form),
        ("owner_id", filters.owner_id),
    ):
        if value is not None:
            queryset = queryset.filter(**{name: value})
    return queryset


COHORT_COLUMNS = (
    "day", "source_id", "channel", "campaign", "leads", "mql", "sql", "opportunity",
    "customers", "revenue", "contacted", "contact_minutes", "step_days",
)  # fmt: skip


def cohort_rows(filters: Filters) -> list[dict]:
    """The cohort roll-up's rows for the filters, read once and added up as each view needs."""
    return list(cut(CohortDay.objects.order_by(), filters).values(*COHORT_COLUMNS))


def cohorts(
    rows: list[dict], by: str | None = None, histograms: bool = True
) -> dict[object, Cohort]:
    """The rows added up, under one key (None) or per value of a dimension; without the
    histograms (and so the medians) when `histograms` is False."""
    totals: dict[object, Cohort] = {}
    for row in rows:
        totals.setdefault(row[by] if by else None, Cohort()).add(row, histograms)
    return totals


def spend_rows(filters: Filters) -> QuerySet:
    """Spend dated in the period, for the filters' source and campaign (spend has no form or
    owner)."""
    spend = Spend.objects.filter(day__gte=filters.start, day__lte=filters.end).order_by()
    if filters.source_id is not None:
        spend = spend.filter(source_id=filters.source_id)
    if filters.campaign is not None:
        spend = spend.filter(campaign=filters.campaign)
    return spend


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def _per(money: Decimal, count: int) -> Decimal | None:
    return (money / count).quantize(CENT) if count else None


def _ratio(numerator: Decimal, spend: Decimal) -> Decimal | None:
    return (numerator / spend).quantize(CENT) if spend else None


def _money(amount: Decimal | None) -> Decimal:
    """A sum of money to the cent (SQLite adds decimals up as floating point)."""
    return (amount or Decimal("0")).quantize(CENT)


def _values(
    filters: Filters, rows: list[dict] | None = None
) -> tuple[dict[str, object], dict[str, str]]:
    """Every figure's value for the filters, and the notes saying why one is missing."""
    now = cohorts(cohort_rows(filters) if rows is None else rows).get(None, Cohort())
    activity = _activity(filters)
    spend = _money(spend_rows(filters).aggregate(total=Sum("cost"))["total"])
    margin = gross_margin() / 100
    per_month = Decimal(30) / filters.days
    sent, accepted, won = (
        activity.get(rollups.PROPOSAL_SENT, (0, Decimal("0"))),
        activity.get(rollups.PROPOSAL_ACCEPTED, (0, Decimal("0"))),
        activity.get("deal.won", (0, Decimal("0"))),
    )
    values = {
        "leads": now.leads,
        "leads_per_month": (now.leads * per_month).quantize(Decimal("0.1")),
        "spend": spend,
        "cpl": _per(spend, now.leads) if spend else None,
        "speed_to_contact": _round(now.contact_median),
        "contacted_in_5": _share(now.contacted_in_5, now.leads),
        "qualification_rate": _share(now.mql, now.leads),
        "mql_to_sql": _share(now.sql, now.mql),
        "proposals": sent[0],
        "proposals_per_month": (sent[0] * per_month).quantize(Decimal("0.1")),
        "acceptance_rate": _share(accepted[0], sent[0]),
        "deals_closed": won[0],
        "revenue_per_deal": _per(won[1], won[0]),
        "revenue": now.revenue,
        "cost_per_sql": _per(spend, now.sql) if spend else None,
        "cpa": _per(spend, now.customers) if spend else None,
        "romi": _ratio(now.revenue - spend, spend),
        "profit_per_dollar": _ratio(now.revenue * margin - spend, spend),
    }
    notes = {}
    if not now.leads:
        notes |= dict.fromkeys(("cpl", "contacted_in_5", "qualification_rate"), "No leads.")
    if not now.contacted:
        notes["speed_to_contact"] = "No lead of the period has been contacted yet."
    if not now.mql:
        notes["mql_to_sql"] = "No lead of the period reached MQL."
    if not sent[0]:
        notes["acceptance_rate"] = "No proposal sent in the period."
    if not won[0]:
        notes["revenue_per_deal"] = "No deal won in the period."
    if not now.sql:
        notes["cost_per_sql"] = "No lead of the period reached SQL."
    if not now.customers:
        notes["cpa"] = "No lead of the period has become a customer yet."
    if not spend:
        for key in ("cpl", "cost_per_sql", "cpa", "romi", "profit_per_dollar"):
            notes[key] = "No spend recorded for the period."
    elif filters.form is not None or filters.owner_id is not None:
        for key in ("spend", "cpl", "cost_per_sql", "cpa", "romi", "profit_per_dollar"):
            notes.setdefault(key, SPEND_CUT_NOTE)
    return values, notes


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _activity(filters: Filters) -> dict[str, tuple[int, Decimal]]:
    """Each kind of activity in the period: how many, and their amount."""
    rows = (
        cut(ActivityDay.objects.order_by(), filters)
        .exclude(kind=rollups.STAGE_LEFT)
        .values("kind")
        .annotate(times=Sum("count"), amount=Sum("amount"))
    )
    return {row["kind"]: (row["times"], _money(row["amount"])) for row in rows}


def _state(value: object, low: Decimal | None, high: Decimal | None) -> str:
    if value is None or (low is None and high is None):
        return "none"
    number = Decimal(str(value))
    if (low is not None and number < low) or (high is not None and number > high):
        return "out"
    return "in"


def figures(filters: Filters, rows: list[dict] | None = None) -> list[Figure]:
    """Every card: the value, the previous period's, the target range and the state (`rows`:
    the filters' cohort rows, when already read)."""
    values, notes = _values(filters, rows)
    previous, _ = _values(filters.previous())
    ranges = targets()
    cards = []
    for key, label, dimension, unit in FIGURES:
        low, high = ranges.get(key, (None, None))
        value = values[key]
        cards.append(
            Figure(
                key=key,
                label=label,
                dimension=dimension,
                value=value,
                unit=unit,
                previous=previous[key],
                low=low,
                high=high,
                state=_state(value, low, high),
                note=notes.get(key, ""),
            )
        )
    return cards


# The stages of the pipeline: a lead in one is still being worked.
OPEN_STAGES = (
    LifecycleStage.SUBSCRIBER,
    LifecycleStage.LEAD,
    LifecycleStage.MQL,
    LifecycleStage.SQL,
    LifecycleStage.OPPORTUNITY,
)


def pipeline_now(filters: Filters) -> list[tuple[str, str, int]]:
    """How many leads are in the pipeline right now, by open stage (live, over an index that
    covers it; merged and invalid leads left out), for the filters' source and owner."""
    leads = Lead.objects.workable().filter(lifecycle_stage__in=OPEN_STAGES).order_by()
    if filters.source_id is not None:
        leads = leads.filter(source_id=filters.source_id)
    if filters.owner_id is not None:
        leads = leads.filter(owner_id=filters.owner_id)
    # COUNT(*), not COUNT(id): the id is not in the index, and PostgreSQL would read rows.
    counts = dict(leads.values_list("lifecycle_stage").annotate(n=Count("*")))
    return [(stage.value, stage.label, counts.get(stage.value, 0)) for stage in OPEN_STAGES]


def dashboard(filters: Filters) -> Dashboard:
    """Everything the dashboard shows for the filters."""
    rows = cohort_rows(filters)
    by_day: dict[date, int] = {}
    for row in rows:
        by_day[row["day"]] = by_day.get(row["day"], 0) + row["leads"]
    source_names = dict(Source.objects.values_list("pk", "name"))
    per_source = cohorts(rows, by="source_id", histograms=False)
    return Dashboard(
        filters=filters,
        figures=figures(filters, rows),
        pipeline_now=pipeline_now(filters),
        leads_by_day=[
            (filters.start + timedelta(days=n), by_day.get(filters.start + timedelta(days=n), 0))
            for n in range(filters.days)
        ],
        source_mix=sorted(
            ((_source_name(source_names, s), c.leads) for s, c in per_source.items()),
            key=lambda pair: -pair[1],
        ),
        cpl_by_channel=[(r["name"], r["cpl"]) for r in spend_table(filters, "channel", rows)],
        days_in_stage=days_in_stage(filters),
        clv_by_source=[
            (_source_name(source_names, s), _per(c.revenue, c.customers))
            for s, c in sorted(per_source.items(), key=lambda pair: -pair[1].revenue)
        ],
        fresh_as_of=rollups.fresh_as_of(),
    )


def _source_name(names: dict[int, str], source_id: int | None) -> str:
    return names.get(source_id, "(no source)") if source_id is not None else "(no source)"


def days_in_stage(filters: Filters) -> list[tuple[str, float | None]]:
    """The average days a lead spent in each stage it left during the period."""
    rows = (
        cut(ActivityDay.objects.order_by(), filters)
        .filter(kind=rollups.STAGE_LEFT)
        .values("stage")
        .annotate(times=Sum("count"), total=Sum("duration"))
    )
    found = {row["stage"]: row for row in rows}
    averages = []
    for stage in LifecycleStage:
        row = found.get(stage.value)
        average = None
        if row and row["times"] and row["total"] is not None:
            average = round(row["total"].total_seconds() / 86400 / row["times"], 2)
        averages.append((stage.label, average))
    return averages


SPEND_KEYS = {"channel": "channel", "campaign": "campaign", "source": "source_id"}


def spend_table(filters: Filters, by: str, rows: list[dict] | None = None) -> list[dict]:
    """Spend against what it bought, a row per channel, campaign or source: spend, clicks,
    impressions, leads, CPL, SQLs, cost per SQL, customers, CPA, close rate (customers per
    lead, percent), revenue, ROMI and profit per marketing dollar. A row with leads and no
    spend (organic, referrals) shows None for the money ratios. Sorted by spend, then leads."""
    if by not in SPEND_KEYS:
        raise ValueError("The spend table is by channel, campaign or source.")
    key = SPEND_KEYS[by]
    spent = {
        row[key]: row
        for row in spend_rows(filters)
        .values(key)
        .annotate(spend=Sum("cost"), clicks=Sum("clicks"), impressions=Sum("impressions"))
    }
    bought = cohorts(cohort_rows(filters) if rows is None else rows, by=key, histograms=False)
    names = _names(by)
    margin = gross_margin() / 100
    table = []
    for value in spent.keys() | bought.keys():
        money = spent.get(value, {})
        spend = _money(money.get("spend"))
        leads = bought.get(value, Cohort())
        table.append(
            {
                "name": names(value),
                "spend": spend,
                "clicks": money.get("clicks") or 0,
                "impressions": money.get("impressions") or 0,
                "leads": leads.leads,
                "cpl": _per(spend, leads.leads) if spend else None,
                "sqls": leads.sql,
                "cost_per_sql": _per(spend, leads.sql) if spend else None,
                "customers": leads.customers,
                "cpa": _per(spend, leads.customers) if spend else None,
                "close_rate": _share(leads.customers, leads.leads),
                "revenue": leads.revenue,
                "romi": _ratio(leads.revenue - spend, spend),
                "profit_per_dollar": _ratio(leads.revenue * margin - spend, spend),
            }
        )
    return sorted(table, key=lambda row: (-row["spend"], -row["leads"], row["name"]))


def _names(by: str):
    if by == "source":
        sources = dict(Source.objects.values_list("pk", "name"))
        return lambda value: _source_name(sources, value)
    if by == "channel":
        labels = dict(Channel.choices)
        return lambda value: labels.get(value, value or "(none)")
    return lambda value: value or "(none)"
