"""What the pipeline board, the deal list and the stalled list read: the deals a person may see,
narrowed by the same filters everywhere, and each column's count, total and weighted forecast.

The cost of every read here depends on the number of stages and the page size, never on the
number of deals: totals are database aggregates, cards come a column's page at a time with
their lead, company and owner joined in."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, Q, QuerySet, Sum
from django.template.defaultfilters import floatformat

from leadloop.crm import access
from leadloop.crm.models import Deal, Pipeline, Stage, StageOutcome

CARDS_PER_COLUMN = 50
# The deal list's sort keys, by the name in the URL (a leading "-" reverses them).
SORTS = {
    "title": ("title",),
    "value": ("value",),
    "expected_close": ("expected_close",),
    "age": ("created_at",),
    "stage": ("pipeline__position", "stage__position"),
    "owner": ("owner__first_name", "owner__username"),
    "score": ("lead__score",),
}
DEFAULT_SORT = "-value"
# A card's fields: enough for the board and the list, without the lead's JSON blobs.
CARD_FIELDS = (
    "title", "value", "position", "created_at", "last_activity_at", "expected_close",
    "pipeline", "stage", "stage__name", "stage__outcome", "stage__probability",
    "lead", "lead__first_name", "lead__last_name", "lead__email", "lead__score",
    "lead__company", "lead__company__name",
    "owner", "owner__username", "owner__first_name", "owner__last_name",
)  # fmt: skip


@dataclass(frozen=True)
class Filters:
    """The narrowing a person chose; None (or empty) is "any"."""

    owner: int | None = None
    source: int | None = None
    min_score: int | None = None
    newer_than_days: int | None = None
    older_than_days: int | None = None
    search: str = ""


def money(amount: Decimal | None) -> str:
    """Whole units with thousands separators, as the templates' floatformat:"0g" shows a
    card's value: a board is read at a glance, cents are noise."""
    return floatformat(amount or Decimal(0), "0g")


@dataclass
class Totals:
    count: int = 0
    total: Decimal = Decimal("0")
    forecast: Decimal = Decimal("0")

    def as_text(self) -> dict[str, str]:
        return {
            "count": str(self.count),
            "total": money(self.total),
            "forecast": money(self.forecast),
        }


@dataclass
class Column:
    stage: Stage
    totals: Totals
    cards: list[Deal] = field(default_factory=list)

    @property
    def has_more(self) -> bool:
        return len(self.cards) < self.totals.count


@dataclass
class Board:
    pipeline: Pipeline
    columns: list[Column]
    totals: Totals  # the open stages together: what is still in play


def filtered(deals: QuerySet[Deal], filters: Filters, now: datetime) -> QuerySet[Deal]:
    """`deals` narrowed by `filters`: owner, the lead's source, minimum lead score, age, and a
    search over the title, the lead's name and email and the company (every word must match)."""
    if filters.owner:
        deals = deals.filter(owner_id=filters.owner)
    if filters.source:
        deals = deals.filter(lead__source_id=filters.source)
    if filters.min_score is not None:
        deals = deals.filter(lead__score__gte=filters.min_score)
    if filters.newer_than_days is not None:
        deals = deals.filter(created_at__gte=now - timedelta(days=filters.newer_than_days))
    if filters.older_than_days is not None:
        deals = deals.filter(created_at__lt=now - timedelta(days=filters.older_than_days))
    for word in filters.search.split():
        deals = deals.filter(
            Q(title__icontains=word)
            | Q(lead__first_name__icontains=word)
            | Q(lead__last_name__icontains=word)
            | Q(lead__email__icontains=word)
            | Q(lead__company__name__icontains=word)
        )
    return deals


def matching_deals(user: AbstractBaseUser, filters: Filters, now: datetime) -> QuerySet[Deal]:
    return filtered(access.visible_deals(user), filters, now)


def with_card_fields(deals: QuerySet[Deal]) -> QuerySet[Deal]:
    return deals.select_related("stage", "lead__company", "owner").only(*CARD_FIELDS)


def column_totals(deals: QuerySet[Deal], stages: list[Stage]) -> dict[int, Totals]:
    """Count, total value and weighted forecast per stage, in one grouped query. Every deal of a
    column shares its stage's probability, so the forecast is the column's total times it."""
    rows = (
        deals.filter(stage__in=stages)
        .order_by()
        .values("stage_id")
        .annotate(count=Count("id"), total=Sum("value"))
    )
    by_stage = {row["stage_id"]: row for row in rows}
    totals = {}
    for stage in stages:
        row = by_stage.get(stage.pk, {"count": 0, "total": None})
        total = Decimal(row["total"] or 0)
        forecast = (total * stage.probability / 100).quantize(Decimal("0.01"))
        totals[stage.pk] = Totals(row["count"], total, forecast)
    return totals


def stall_cutoff(pipeline: Pipeline, now: datetime) -> datetime:
    return now - timedelta(days=pipeline.stall_days)


def column_cards(deals: QuerySet[Deal], stage: Stage, now: datetime, offset: int = 0) -> list[Deal]:
    """One page of a column, highest position first, each card told its age and whether it is
    stalled (an open deal untouched for longer than its pipeline's stall_days)."""
    page = with_card_fields(deals.filter(stage=stage)).order_by("-position", "-id")
    cards = list(page[offset : offset + CARDS_PER_COLUMN])
    cutoff = stall_cutoff(stage.pipeline, now)
    for deal in cards:
        deal.age_days = (now - deal.created_at).days
        deal.is_stalled = stage.is_open and deal.last_activity_at < cutoff
    return cards


def pipeline_totals(deals: QuerySet[Deal], stages: list[Stage]) -> tuple[dict[int, Totals], Totals]:
    """Each stage's totals, and the open stages' together: what is still in play."""
    per_stage = column_totals(deals, stages)
    still_open = [per_stage[stage.pk] for stage in stages if stage.is_open]
    overall = Totals(
        sum(t.count for t in still_open),
        sum((t.total for t in still_open), Decimal(0)),
        sum((t.forecast for t in still_open), Decimal(0)),
    )
    return per_stage, overall


def stages_of(pipeline: Pipeline) -> list[Stage]:
    stages = list(pipeline.stages.all())
    for stage in stages:
        stage.pipeline = pipeline  # column_cards reads stall_days without another query
    return stages


def board(user: AbstractBaseUser, pipeline: Pipeline, filters: Filters, now: datetime) -> Board:
    """Every stage of `pipeline` as a column: open stages with their first page of cards, then
    the won and lost stages with their totals only (they are drop targets, not work lists)."""
    stages = stages_of(pipeline)
    deals = matching_deals(user, filters, now).filter(pipeline=pipeline)
    per_stage, overall = pipeline_totals(deals, stages)
    columns = [
        Column(stage, per_stage[stage.pk], column_cards(deals, stage, now) if stage.is_open else [])
        for stage in stages
    ]
    return Board(pipeline, columns, overall)


def sorted_deals(deals: QuerySet[Deal], sort: str) -> QuerySet[Deal]:
    """`deals` in the order named by `sort` (a SORTS key, "-" first for descending); ties by
    newest first so pages are stable."""
    descending = sort.startswith("-")
    keys = SORTS.get(sort.lstrip("-")) or SORTS[DEFAULT_SORT.lstrip("-")]
    order = [
        F(key).desc(nulls_last=True) if descending else F(key).asc(nulls_last=True) for key in keys
    ]
    return deals.order_by(*order, "-id")


def stalled_deals(user: AbstractBaseUser, now: datetime) -> QuerySet[Deal]:
    """Open deals with no activity for longer than their pipeline's stall_days, the longest
    idle first. One condition per pipeline (there are few), so it stays one query."""
    idle = Q(pk__in=[])
    for pipeline in Pipeline.objects.all():
        idle |= Q(pipeline=pipeline, last_activity_at__lt=stall_cutoff(pipeline, now))
    open_deals = access.visible_deals(user).filter(stage__outcome=StageOutcome.OPEN)
    return with_card_fields(open_deals.filter(idle)).order_by("last_activity_at", "id")


def owners_for(user: AbstractBaseUser) -> QuerySet:
    """The people whose deals `user` may filter by: everyone with a role for those who see
    everything, otherwise themselves and (for a manager) their teams' reps."""
    people = get_user_model().objects.filter(is_active=True)
    if access.sees_everything(user):
        people = people.filter(Q(groups__name__in=access.Role.ALL) | Q(is_superuser=True))
    else:
        people = people.filter(pk__in=access.owners_seen_by(user))
    return people.distinct().order_by("first_name", "username")
