"""Scoring's verbs: ask for a lead to be scored, score it (points, drivers, and the stage the
shared MQL/SQL definitions give it), and move a lead between stages by hand.

Scoring runs as durable work after the capture commits (ARCHITECTURE.md "The journey"): the
visitor is answered without waiting for it, and a lost task is found again by the sweep."""

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from leadloop.core import durable, rows
from leadloop.core import services as core
from leadloop.core.models import Event, Lead, LifecycleStage, Quality
from leadloop.scoring.conditions import holds, parse_condition
from leadloop.scoring.engine import ReadRule, Score, score_lead
from leadloop.scoring.models import ScoringRequest, ScoringRule, ScoringStatus, StageDefinitions

RETRY_BACKOFF = [timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=1)]
MAX_ATTEMPTS = len(RETRY_BACKOFF) + 1
LEASE = timedelta(minutes=2)
PENDING = Q(status=ScoringStatus.PENDING)
# Stages the definitions move a lead out of; later ones are set by people (or the CRM).
AUTOMATIC_FROM = {LifecycleStage.SUBSCRIBER, LifecycleStage.LEAD}


def request_scoring(leads: Iterable[Lead], reason: str) -> None:
    """Ask for these leads to be scored, in the caller's transaction; nudged once it commits."""
    requests = rows.insert(
        [ScoringRequest(lead=lead, reason=reason, next_attempt_at=timezone.now()) for lead in leads]
    )
    if requests:
        lead_ids = sorted({r.lead_id for r in requests})
        transaction.on_commit(lambda: _nudge(lead_ids))


def _nudge(lead_ids: list[int]) -> None:
    from leadloop.scoring.tasks import score_leads

    score_leads.enqueue(lead_ids)


def sweep() -> int:
    due = (
        ScoringRequest.objects.filter(
            PENDING, next_attempt_at__lte=timezone.now(), attempts__lt=MAX_ATTEMPTS
        )
        .values_list("lead_id", flat=True)
        .distinct()[:1000]
    )
    due = list(due)
    if due:
        _nudge(due)
    return len(due)


def score_requested(lead_ids: list[int]) -> int:
    """The task: claim the due requests of these leads, score each lead once, settle them."""
    claimed = _claim(lead_ids)
    if not claimed:
        return 0
    leads = list(Lead.objects.select_related("source").filter(pk__in=claimed))
    try:
        with transaction.atomic():
            rescore(leads)
            ScoringRequest.objects.filter(PENDING, lead_id__in=claimed).update(
                status=ScoringStatus.DONE, next_attempt_at=None
            )
    except Exception as error:
        _failed(claimed, error)
        raise
    return len(leads)


def _claim(lead_ids: list[int]) -> list[int]:
    """The leads whose due requests this process took (a conditional UPDATE each)."""
    claimed = []
    due = ScoringRequest.objects.filter(
        PENDING, lead_id__in=lead_ids, next_attempt_at__lte=timezone.now()
    )
    for request in due:
        if durable.claim(
            request,
            attempts_field="attempts",
            due_field="next_attempt_at",
            lease=LEASE,
            still_pending=PENDING,
        ):
            claimed.append(request.lead_id)
    return sorted(set(claimed))


def _failed(lead_ids: list[int], error: Exception) -> None:
    for request in ScoringRequest.objects.filter(PENDING, lead_id__in=lead_ids):
        gave_up = request.attempts >= MAX_ATTEMPTS
        request.status = ScoringStatus.FAILED if gave_up else ScoringStatus.PENDING
        request.next_attempt_at = (
            None if gave_up else durable.backoff(request.attempts, RETRY_BACKOFF)
        )
        request.last_error = repr(error)[:2000]
        request.save(update_fields=["status", "next_attempt_at", "last_error"])


def active_rules() -> list[ReadRule]:
    return [ReadRule.of(rule) for rule in ScoringRule.objects.filter(is_active=True)]


def rescore(leads: list[Lead], now: datetime | None = None) -> dict[int, Score]:
    """Score these leads now: save their points and drivers, and move them along the stages
    the shared definitions give them. Returns each lead's score."""
    batch = Batch.current(now)
    return batch.score(leads, batch.timelines(lead_ids=[lead.pk for lead in leads]))


@dataclass(slots=True)
class TimelineEvent:
    """What scoring reads of an event. `data` is parsed on first use: most rules ask only for
    the event's type, and JSON was a fifth of a rescore's time."""

    type: str
    occurred_at: datetime
    raw: object

    @property
    def data(self) -> dict:
        if isinstance(self.raw, str):
            self.raw = json.loads(self.raw)
        return self.raw


class Batch:
    """Scoring many leads at once with one read of the rules and definitions, one events query
    and one UPDATE statement per batch (rather than a query and an UPDATE per lead), shared by
    `rescore` and the background rescore of every lead (rescoring.py)."""

    def __init__(self, rules: list[ReadRule], definitions: StageDefinitions, now: datetime):
        self.rules, self.now = rules, now
        self.half_life_days = definitions.half_life_days
        self.mql, self.sql = parse_condition(definitions.mql), parse_condition(definitions.sql)

    @classmethod
    def current(cls, now: datetime | None = None) -> "Batch":
        return cls(active_rules(), StageDefinitions.current(), now or timezone.now())

    def timelines(
        self, *, lead_ids: list[int] | None = None, pk_range: tuple[int, int] | None = None
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
        # most of a batch's time. Table and column names are the model's own.
        sql = f"SELECT lead_id, type, occurred_at, data FROM {EVENT_TABLE} WHERE {where} "  # noqa: S608
        timelines: dict[int, list[TimelineEvent]] = defaultdict(list)
        with connection.cursor() as cursor:
            cursor.execute(sql + "ORDER BY lead_id, occurred_at, id", params)
            for lead_id, type_, occurred_at, data in cursor.fetchall():
                timelines[lead_id].append(TimelineEvent(type_, _aware(occurred_at), data))
        return timelines

    def score(self, leads: list, timelines: dict[int, list[TimelineEvent]]) -> dict[int, Score]:
        """Score the leads (Lead instances, or anything with the fields facts.py reads), save
        the scores in one statement, and move those the definitions qualify."""
        scores, moves = {}, []
        for lead in leads:
            events = timelines.get(lead.pk, [])
            score = score_lead(lead, events, self.rules, self.half_life_days, self.now)
            lead.score, lead.score_fit = score.total, score.fit
            lead.score_engagement, lead.score_intent = score.engagement, score.intent
            lead.score_drivers, lead.scored_at = score.drivers, self.now
            stage = self._stage(lead, events)
            if stage != lead.lifecycle_stage:
                moves.append((lead, stage))
            scores[lead.pk] = score
        self._save_scores(leads)
        if moves:
            self._move(moves)
        return scores

    def _stage(self, lead, events: list[TimelineEvent]) -> str:
        """Lead → MQL → SQL as the definitions say (both at once if both hold). A quarantined
        lead stays where it is: it is out of the loop until a person releases it."""
        stage = lead.lifecycle_stage
        if stage not in AUTOMATIC_FROM | {LifecycleStage.MQL}:
            return stage
        if lead.quality == Quality.INVALID or lead.merged_at is not None:
            return stage
        if stage in AUTOMATIC_FROM and holds(self.mql, lead, events, self.now):
            stage = LifecycleStage.MQL
        if stage == LifecycleStage.MQL and holds(self.sql, lead, events, self.now):
            stage = LifecycleStage.SQL
        return stage

    def _save_scores(self, leads: list) -> None:
        scored_at = connection.ops.adapt_datetimefield_value(self.now)
        with connection.cursor() as cursor:
            cursor.executemany(
                SAVE_SCORE,
                [
                    (
                        lead.score,
                        lead.score_fit,
                        lead.score_engagement,
                        lead.score_intent,
                        json.dumps(lead.score_drivers),
                        scored_at,
                        lead.pk,
                    )
                    for lead in leads
                ],
            )

    def _move(self, moves: list[tuple[object, str]]) -> None:
        """The stage changes, and their stage.changed events, in two statements."""
        now = timezone.now()
        changed_at = connection.ops.adapt_datetimefield_value(now)
        with connection.cursor() as cursor:
            cursor.executemany(MOVE_STAGE, [(stage, changed_at, lead.pk) for lead, stage in moves])
        events = []
        for lead, stage in moves:
            data = {"from": lead.lifecycle_stage, "to": stage, "why": "met the shared definition"}
            data |= {"automatic": True, "score": lead.score}
            events.append(
                Event(
                    lead_id=lead.pk,
                    type="stage.changed",
                    data=data,
                    actor="scoring",
                    occurred_at=now,
                )
            )
            lead.lifecycle_stage = stage
        rows.insert(events)


EVENT_TABLE = Event._meta.db_table
# Names from the models' metadata; every value is a placeholder.
SAVE_SCORE = (
    f"UPDATE {Lead._meta.db_table} SET score = %s, score_fit = %s, score_engagement = %s, "  # noqa: S608
    "score_intent = %s, score_drivers = %s, scored_at = %s WHERE id = %s"
)
MOVE_STAGE = f"UPDATE {Lead._meta.db_table} SET lifecycle_stage = %s, updated_at = %s WHERE id = %s"  # noqa: S608


def _aware(value: datetime | str) -> datetime:
    """SQLite gives the UTC time as naive (or, for an expression, as text); PostgreSQL gives
    an aware datetime already."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def move_stage(lead: Lead, stage: str, *, by: str, why: str) -> None:
    """A person moves a lead to a stage, with a reason (kept on the timeline)."""
    if stage not in LifecycleStage.values:
        raise ValueError(f"No stage {stage!r}.")
    if not why.strip():
        raise ValueError("Say why the lead moves.")
    with transaction.atomic():
        _change_stage(lead, stage, by=by, why=why.strip(), automatic=False)


def _change_stage(lead: Lead, stage: str, *, by: str, why: str, automatic: bool) -> None:
    previous = lead.lifecycle_stage
    lead.lifecycle_stage = stage
    Lead.objects.filter(pk=lead.pk).update(lifecycle_stage=stage, updated_at=timezone.now())
    core.record_event(
        lead,
        "stage.changed",
        {"from": previous, "to": stage, "why": why, "automatic": automatic, "score": lead.score},
        actor=by,
    )
