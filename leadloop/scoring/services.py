"""Scoring's verbs: ask for a lead to be scored, score it (points, drivers, and the stage the
shared MQL/SQL definitions give it), and move a lead between stages by hand.

Scoring runs as durable work after the capture commits (ARCHITECTURE.md "The journey"): the
visitor is answered without waiting for it, and a lost task is found again by the sweep."""

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from leadloop.core import durable, reactions, rows
from leadloop.core.conditions import (
    AllOf,
    AnyOf,
    Condition,
    EventCondition,
    FactCondition,
    Not,
    _number,
    _text,
    fact_holds,
    parse_condition,
)
from leadloop.core.facts import MISSING, fact
from leadloop.core.models import Event, Lead, LifecycleStage, Quality
from leadloop.scoring.engine import ADJUSTED, SECONDS_PER_DAY, ReadRule, Score, adjust
from leadloop.scoring.models import (
    ScoreGroup,
    ScoringRequest,
    ScoringRule,
    ScoringStatus,
    StageDefinitions,
)

RETRY_BACKOFF = [timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=1)]
MAX_ATTEMPTS = len(RETRY_BACKOFF) + 1
LEASE = timedelta(minutes=2)
PENDING = Q(status=ScoringStatus.PENDING)
# Stages the definitions move a lead out of; later ones are set by people (or the CRM).
AUTOMATIC_FROM = {LifecycleStage.SUBSCRIBER, LifecycleStage.LEAD}


BATCH = 500


def request_scoring(leads: Iterable[Lead], reason: str) -> None:
    """Ask for these leads to be scored, in the caller's transaction; the worker's next pass
    (journey.follow_up) picks the requests up."""
    rows.insert(
        [ScoringRequest(lead=lead, reason=reason, next_attempt_at=timezone.now()) for lead in leads]
    )


def rescore_adjusted(events: list[Event]) -> None:
    """A score.adjusted event (a workflow step, a person) asks for its lead's new score."""
    request_scoring(
        {event.lead_id: Lead(pk=event.lead_id) for event in events}.values(), "adjusted"
    )


def waiting(lead_ids: list[int]) -> set[int]:
    """Those of these leads with a request still to score: not yet tried, or being scored.
    One that failed is retried later, but what waits on its score goes on without it."""
    return set(
        ScoringRequest.objects.filter(PENDING, lead_id__in=lead_ids, last_error="").values_list(
            "lead_id", flat=True
        )
    )


def score_due() -> int:
    """The worker's poll: score the leads with due requests, a batch at a time, until none."""
    scored = 0
    while True:
        due = list(
            ScoringRequest.objects.filter(
                PENDING, next_attempt_at__lte=timezone.now(), attempts__lt=MAX_ATTEMPTS
            )
            .values_list("lead_id", flat=True)
            .distinct()[:BATCH]
        )
        if not due:
            return scored
        done = score_requested(due)
        if not done:  # all taken by another worker meanwhile
            return scored
        scored += done


def score_requested(lead_ids: list[int]) -> int:
    """Claim the due requests of these leads, score each lead once, settle them."""
    claimed = _claim(lead_ids)
    if not claimed:
        return 0
    leads = list(Lead.objects.select_related("source").filter(pk__in=claimed))
    # scikit-learn is loaded only where scoring runs (the worker), not in every web process.
    from leadloop.scoring import predictive

    try:
        with transaction.atomic():
            rescore(leads)
            predictive.apply(leads)
            ScoringRequest.objects.filter(PENDING, lead_id__in=claimed).update(
                status=ScoringStatus.DONE, next_attempt_at=None
            )
    except Exception as error:
        _failed(claimed, error)
        raise
    return len(leads)


def _claim(lead_ids: list[int]) -> list[int]:
    """The leads whose due requests this process took (a conditional UPDATE each)."""
    due = ScoringRequest.objects.filter(
        PENDING, lead_id__in=lead_ids, next_attempt_at__lte=timezone.now()
    )
    claimed = durable.claim_each(due, lease=LEASE, still_pending=PENDING)
    return sorted({request.lead_id for request in claimed})


def _failed(lead_ids: list[int], error: Exception) -> None:
    for request in ScoringRequest.objects.filter(PENDING, lead_id__in=lead_ids):
        durable.retry_later(request, error, RETRY_BACKOFF, failed=ScoringStatus.FAILED)


def active_rules() -> list[ReadRule]:
    return [ReadRule.of(rule) for rule in ScoringRule.objects.filter(is_active=True)]


def rescore(leads: list[Lead], now: datetime | None = None) -> dict[int, Score]:
    """Score these leads now: save their points and drivers, and move them along the stages
    the shared definitions give them. Returns each lead's score."""
    batch = Batch.current(now)
    return batch.score(leads, read_timelines(lead_ids=[lead.pk for lead in leads]))


@dataclass(slots=True)
class TimelineEvent:
    """What scoring reads of an event. `data` is parsed on first use, once per distinct text
    in a batch (`parsed`): parsing every event's JSON was a fifth of a rescore's time, and most
    events carry one of a few payloads (the same page, the same campaign). Scoring only reads
    the parsed dicts, so events may share one."""

    type: str
    occurred_at: datetime
    raw: object
    parsed: dict[str, dict]

    @property
    def data(self) -> dict:
        if isinstance(self.raw, str):
            found = self.parsed.get(self.raw)
            if found is None:
                found = self.parsed[self.raw] = json.loads(self.raw)
            self.raw = found
        return self.raw


def read_timelines(
    *, lead_ids: list[int] | None = None, pk_range: tuple[int, int] | None = None
) -> dict[int, list[TimelineEvent]]:
    """Each lead's events, oldest first: of these leads, or of every lead in a pk range
    (the background job's batches are consecutive, and a range reads the index once)."""
    if pk_range is not None:
        where, params = "lead_id BETWEEN %s AND %s", list(pk_range)
    elif lead_ids:
        where, params = f"lead_id IN ({', '.join(['%s'] * len(lead_ids))})", lead_ids
    else:
        return {}
    # Only the columns scoring reads, without building model instances: the ORM's were
    # most of a batch's time. On SQLite the time is read as text (a CAST has no declared
    # type, so Django's converter, a third of the read, does not run) and parsed below.
    # Table and column names are the model's own.
    occurred = "CAST(occurred_at AS TEXT)" if connection.vendor == "sqlite" else "occurred_at"
    sql = f"SELECT lead_id, type, {occurred}, data FROM {EVENT_TABLE} "  # noqa: S608
    sql += f"WHERE {where} "
    timelines: dict[int, list[TimelineEvent]] = defaultdict(list)
    parsed: dict[str, dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql + "ORDER BY lead_id, occurred_at, id", params)
        for lead_id, type_, occurred_at, data in cursor.fetchall():
            timelines[lead_id].append(TimelineEvent(type_, _aware(occurred_at), data, parsed))
    return timelines


class Batch:
    """Scoring many leads at once with one read of the rules and definitions, one events query
    and one UPDATE statement per batch (rather than a query and an UPDATE per lead), shared by
    `rescore` and the background rescore of every lead (rescoring.py)."""

    def __init__(self, rules: list[ReadRule], definitions: StageDefinitions, now: datetime):
        self.now = now
        self.rules = [_compile_rule(rule, definitions.half_life_days, now) for rule in rules]
        self.mql = _compile_condition(parse_condition(definitions.mql), now)
        self.sql = _compile_condition(parse_condition(definitions.sql), now)

    @classmethod
    def current(cls, now: datetime | None = None) -> "Batch":
        return cls(active_rules(), StageDefinitions.current(), now or timezone.now())

    def score(self, leads: list, timelines: dict[int, list[TimelineEvent]]) -> dict[int, Score]:
        """Score the leads (Lead instances, or anything with the fields facts.py reads), save
        the scores in one statement, and move those the definitions qualify."""
        scores, scored = self.compute(leads, timelines)
        save(scored)
        return scores

    def compute(
        self, leads: list, timelines: dict[int, list[TimelineEvent]]
    ) -> tuple[dict[int, Score], "Scored"]:
        """Each lead's score and stage (set on the lead too), and what `save` writes."""
        scores, scored = {}, Scored()
        scored_at = connection.ops.adapt_datetimefield_value(self.now)
        for lead in leads:
            by_type: dict[str, list[TimelineEvent]] = {}
            for event in timelines.get(lead.pk, ()):
                by_type.setdefault(event.type, []).append(event)
            score = self._score(lead, by_type)
            lead.score, lead.score_fit = score.total, score.fit
            lead.score_engagement, lead.score_intent = score.engagement, score.intent
            lead.score_drivers, lead.scored_at = score.drivers, self.now
            drivers = json.dumps(score.drivers)
            scored.rows.append(
                (
                    score.total,
                    score.fit,
                    score.engagement,
                    score.intent,
                    drivers,
                    scored_at,
                    lead.pk,
                )
            )
            stage = self._stage(lead, by_type)
            if stage != lead.lifecycle_stage:
                scored.moves.append((lead.pk, lead.lifecycle_stage, stage, score.total))
                lead.lifecycle_stage = stage
            scores[lead.pk] = score
        return scores, scored

    def _score(self, lead, by_type: dict[str, list[TimelineEvent]]) -> Score:
        """engine.score_lead, with the rules compiled (tests/scoring/test_rescoring.py holds
        the two to the same scores and drivers)."""
        sums = dict.fromkeys(ScoreGroup.values, 0.0)
        drivers = []
        for name, group, points_of in self.rules:
            points, detail = points_of(lead, by_type)
            rounded = round(points)
            if rounded:
                sums[group] += points
                drivers.append({"rule": name, "group": group, "points": rounded, "detail": detail})
        adjust(sums, drivers, by_type.get(ADJUSTED, []))
        drivers.sort(key=lambda d: -abs(d["points"]))
        return Score(
            fit=round(sums[ScoreGroup.FIT]),
            engagement=round(sums[ScoreGroup.ENGAGEMENT]),
            intent=round(sums[ScoreGroup.INTENT]),
            drivers=drivers,
        )

    def _stage(self, lead, by_type: dict[str, list[TimelineEvent]]) -> str:
        """Lead → MQL → SQL as the definitions say (both at once if both hold). A quarantined
        lead stays where it is: it is out of the loop until a person releases it."""
        stage = lead.lifecycle_stage
        if stage not in AUTOMATIC_FROM | {LifecycleStage.MQL}:
            return stage
        if lead.quality == Quality.INVALID or lead.merged_at is not None:
            return stage
        if stage in AUTOMATIC_FROM and self.mql(lead, by_type):
            stage = LifecycleStage.MQL
        if stage == LifecycleStage.MQL and self.sql(lead, by_type):
            stage = LifecycleStage.SQL
        return stage


@dataclass
class Scored:
    """A batch's scores as rows for SAVE_SCORE, and its stage moves (pk, from, to, score)."""

    rows: list[tuple] = field(default_factory=list)
    moves: list[tuple[int, str, str, int]] = field(default_factory=list)


def save(scored: Scored, *, skip: frozenset[int] = frozenset(), checked: bool = False) -> None:
    """Write a batch's scores in one statement, then its stage moves and their stage.changed
    events. `skip` leaves some leads out; `checked` moves a lead only if its stage is still the
    one it was scored from (the scores were computed outside this transaction)."""
    with connection.cursor() as cursor:
        cursor.executemany(SAVE_SCORE, [row for row in scored.rows if row[-1] not in skip])
    moves = [move for move in scored.moves if move[0] not in skip]
    if not moves:
        return
    now = timezone.now()
    changed_at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        if checked:  # few a batch: one conditional UPDATE each, to know which ones held
            moved = []
            for move in moves:
                cursor.execute(MOVE_STAGE_IF, [move[2], changed_at, move[0], move[1]])
                if cursor.rowcount:
                    moved.append(move)
            moves = moved
        else:
            cursor.executemany(MOVE_STAGE, [(to, changed_at, pk) for pk, _, to, _ in moves])
    reactions.insert_with_deliveries(
        [
            Event(
                lead_id=pk,
                type="stage.changed",
                data={
                    "from": was,
                    "to": to,
                    "why": "met the shared definition",
                    "automatic": True,
                    "score": score,
                },
                actor="scoring",
                occurred_at=now,
            )
            for pk, was, to, score in moves
        ]
    )


# --- rules compiled for a batch ------------------------------------------------------------
# engine.py and conditions.py read a rule afresh for every lead and scan the whole timeline for
# each per-event rule; scoring a million leads that way took three times the 60 s target. Here
# each rule and condition becomes a closure once per batch, with its constants worked out, and
# looks only at the events of its type. The arithmetic is engine.py's, step for step, so the
# floats (and so the rounding) come out the same.

Timeline = dict[str, list[TimelineEvent]]  # a lead's events by type, oldest first
Test = Callable[[object, Timeline], bool]
PointsOf = Callable[[object, Timeline], tuple[float, str]]


def _compile_rule(rule: ReadRule, half_life_days: int, now: datetime) -> tuple[str, str, PointsOf]:
    if rule.condition is not None:
        holds_for, points = _compile_condition(rule.condition, now), rule.points

        def once(lead: object, by_type: Timeline) -> tuple[float, str]:
            return (points if holds_for(lead, by_type) else 0), "matches"

        return rule.name, rule.group, once
    match, points, cap = rule.per_event, rule.points, rule.cap
    where, within_days, detail = list(match.where.items()), match.within_days, f" x {match.event}"
    decays = rule.decays and bool(half_life_days)

    event = match.event

    def per_event(lead: object, by_type: Timeline) -> tuple[float, str]:
        found = by_type.get(event, ())
        if where:
            found = [e for e in found if all(e.data.get(k) == v for k, v in where)]
        if within_days:
            found = [e for e in found if (now - e.occurred_at).days < within_days]
        if decays:
            total = sum(
                points
                * 0.5
                ** (
                    max(0.0, (now - e.occurred_at).total_seconds() / SECONDS_PER_DAY)
                    / half_life_days
                )
                for e in found
            )
        else:
            total = sum(points * 1.0 for _ in found)
        if cap is not None:
            total = max(-cap, min(cap, total))
        return total, f"{len(found)}{detail}"

    return rule.name, rule.group, per_event


def _compile_condition(condition: Condition, now: datetime) -> Test:
    """conditions.holds, as a closure."""
    if isinstance(condition, AllOf | AnyOf):
        parts = [
            _compile_condition(c, now) for c in getattr(condition, "all", None) or condition.any
        ]
        combine = all if isinstance(condition, AllOf) else any
        return lambda lead, by_type: combine(part(lead, by_type) for part in parts)
    if isinstance(condition, Not):
        inner = _compile_condition(condition.not_, now)
        return lambda lead, by_type: not inner(lead, by_type)
    if isinstance(condition, EventCondition):
        return _compile_event_condition(condition, now)
    return _compile_fact(condition)


def _compile_event_condition(condition: EventCondition, now: datetime) -> Test:
    where, at_least = list(condition.where.items()), condition.at_least
    since = now - timedelta(days=condition.within_days) if condition.within_days else None

    def test(lead: object, by_type: Timeline) -> bool:
        found = sum(
            1
            for e in by_type.get(condition.event, ())
            if all(e.data.get(k) == v for k, v in where)
            and (since is None or e.occurred_at >= since)
        )
        return found >= at_least

    return test


def _compile_fact(condition: FactCondition) -> Test:
    """conditions.fact_holds, with the expected value read once."""
    name, op, expected = condition.fact, condition.op, condition.value
    number, text_of = _memo(_number), _memo(_text)
    if op in ("filled", "empty"):
        filled = op == "filled"
        return lambda lead, _: (fact(lead, name) not in (MISSING, None, "", [], {})) == filled
    if op in ("gte", "lte"):
        limit = _number(expected)
        if limit is None:
            return lambda lead, _: False
        above = op == "gte"

        def compare(lead: object, _: Timeline) -> bool:
            value = fact(lead, name)
            given = None if value is MISSING else number(value)
            if given is None:
                return False
            return given >= limit if above else given <= limit

        return compare
    if op == "in":
        allowed = {_text(v) for v in (expected or [])}
        return lambda lead, _: (
            (value := fact(lead, name)) is not MISSING and text_of(value) in allowed
        )
    text = _text(expected)
    if op == "contains":
        return lambda lead, _: (value := fact(lead, name)) is not MISSING and text in text_of(value)
    if op not in ("equals", "not_equals"):
        return lambda lead, _: fact_holds(condition, fact(lead, name))
    same = op == "equals"
    return lambda lead, _: (
        (value := fact(lead, name)) is not MISSING and (text_of(value) == text) == same
    )


def _memo(function: Callable[[object], object]) -> Callable[[object], object]:
    """`function` of a fact's value, remembered per value while the batch lasts: most leads
    share their values (the same service, budget, region), and the Decimal and text work
    added up. Keyed by type too, as True == 1 but they read differently."""
    seen: dict[tuple, object] = {}

    def remembered(value: object) -> object:
        key = (value.__class__, value)
        try:
            return seen[key]
        except KeyError:
            found = seen[key] = function(value)
            return found
        except TypeError:  # a list or dict: not hashable, and rare
            return function(value)

    return remembered


EVENT_TABLE = Event._meta.db_table
# Names from the models' metadata; every value is a placeholder.
SAVE_SCORE = (
    f"UPDATE {Lead._meta.db_table} SET score = %s, score_fit = %s, "  # noqa: S608
    "score_engagement = %s, score_intent = %s, score_drivers = %s, scored_at = %s WHERE id = %s"
)
MOVE_STAGE = (
    f"UPDATE {Lead._meta.db_table} "  # noqa: S608
    "SET lifecycle_stage = %s, updated_at = %s WHERE id = %s"
)
MOVE_STAGE_IF = MOVE_STAGE + " AND lifecycle_stage = %s"


def _aware(value: datetime | str) -> datetime:
    """SQLite gives the UTC time as naive (or, for an expression, as text); PostgreSQL gives
    an aware datetime already."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
