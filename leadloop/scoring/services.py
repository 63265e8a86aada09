"""Scoring's verbs: ask for a lead to be scored, score it (points, drivers, and the stage the
shared MQL/SQL definitions give it), and move a lead between stages by hand.

Scoring runs as durable work after the capture commits (ARCHITECTURE.md "The journey"): the
visitor is answered without waiting for it, and a lost task is found again by the sweep."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
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
    now = now or timezone.now()
    rules = active_rules()
    definitions = StageDefinitions.current()
    timelines = _timelines([lead.pk for lead in leads])
    scores = {}
    for lead in leads:
        events = timelines.get(lead.pk, [])
        score = score_lead(lead, events, rules, definitions.half_life_days, now)
        _save_score(lead, score, now)
        _advance(lead, events, definitions, now)
        scores[lead.pk] = score
    return scores


def _timelines(lead_ids: list[int]) -> dict[int, list[Event]]:
    timelines: dict[int, list[Event]] = defaultdict(list)
    for event in Event.objects.filter(lead_id__in=lead_ids).order_by("occurred_at", "id"):
        timelines[event.lead_id].append(event)
    return timelines


def _save_score(lead: Lead, score: Score, now: datetime) -> None:
    lead.score, lead.score_fit = score.total, score.fit
    lead.score_engagement, lead.score_intent = score.engagement, score.intent
    lead.score_drivers, lead.scored_at = score.drivers, now
    Lead.objects.filter(pk=lead.pk).update(
        score=lead.score,
        score_fit=lead.score_fit,
        score_engagement=lead.score_engagement,
        score_intent=lead.score_intent,
        score_drivers=lead.score_drivers,
        scored_at=now,
    )


def _advance(lead: Lead, events: list[Event], definitions: StageDefinitions, now: datetime) -> None:
    """Lead → MQL → SQL as the definitions say (both at once if both hold). A quarantined lead
    stays where it is: it is out of the loop until a person releases it."""
    if lead.lifecycle_stage not in AUTOMATIC_FROM | {LifecycleStage.MQL}:
        return
    if lead.quality == Quality.INVALID or lead.merged_at is not None:
        return
    stage = lead.lifecycle_stage
    if stage in AUTOMATIC_FROM and holds(parse_condition(definitions.mql), lead, events, now):
        stage = LifecycleStage.MQL
    if stage == LifecycleStage.MQL and holds(parse_condition(definitions.sql), lead, events, now):
        stage = LifecycleStage.SQL
    if stage != lead.lifecycle_stage:
        _change_stage(lead, stage, by="scoring", why="met the shared definition", automatic=True)


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
