"""Routing's verbs: ask for a lead to be given an owner, decide and give it, reassign by hand,
log a contact attempt, and fire the first-contact SLA timers.

Assignment runs as durable work after the capture commits and after the lead is scored (the
rules can ask for its score and stage): journey.follow_up, the worker's frequent pass."""

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from leadloop.core import durable, rows
from leadloop.core import services as core
from leadloop.core.conditions import holds, parse_condition, reads_timeline
from leadloop.core.models import Event, Lead, Quality, Task
from leadloop.routing import availability, notices, strategies
from leadloop.routing.models import (
    Assignment,
    AssignmentRequest,
    AssignmentRule,
    ContactAttempt,
    Membership,
    RoutingSettings,
    SlaTimer,
    Team,
    TimerKind,
    TimerStatus,
    WorkStatus,
)

logger = logging.getLogger(__name__)

BATCH = 50
TIMER_BATCH = 200
LEASE = timedelta(minutes=1)
RETRY_BACKOFF = [timedelta(seconds=5), timedelta(minutes=1), timedelta(minutes=10)]
PENDING = Q(status=WorkStatus.PENDING)


@dataclass(frozen=True)
class Decision:
    owner: AbstractBaseUser
    why: str
    team: Team | None = None
    rule: AssignmentRule | None = None

    @property
    def sla(self) -> timedelta:
        return timedelta(minutes=(self.rule or RoutingSettings.current()).sla_minutes)

    @property
    def promise(self) -> str:
        return (self.rule and self.rule.promise) or RoutingSettings.current().promise


def request_assignment(leads: Iterable[Lead], *, live: bool) -> None:
    """Ask for these leads to be given an owner, in the caller's transaction. A `live` lead
    (not one from a CSV import) is also acknowledged, its owner told and its SLA timed."""
    now = timezone.now()
    rows.insert(
        [
            AssignmentRequest(lead=lead, live=live, next_attempt_at=now, created_at=now)
            for lead in leads
        ]
    )


def assign_due(waiting: Callable[[list[int]], Collection[int]] = lambda ids: ()) -> int:
    """The worker's poll: fulfil a batch of due requests, except those of leads in `waiting`
    (still to be scored: they are taken at a later poll, once their score is known). One batch
    a pass, so the acknowledgements it queues are sent before the next batch is assigned."""
    due = list(
        AssignmentRequest.objects.filter(PENDING, next_attempt_at__lte=timezone.now())
        .order_by("pk")
        .select_related("lead")[:BATCH]
    )
    held = set(waiting([request.lead_id for request in due]))
    ready = [request for request in due if request.lead_id not in held]
    claimed = durable.claim_each(ready, lease=LEASE, still_pending=PENDING)
    for request in claimed:
        _fulfil_or_retry(request)
    return len(claimed)


def _fulfil_or_retry(request: AssignmentRequest) -> None:
    try:
        fulfil(request)
    except Exception as error:
        logger.exception("assigning lead %s failed", request.lead_id)
        durable.retry_later(request, error, RETRY_BACKOFF, failed=WorkStatus.FAILED)


def fulfil(request: AssignmentRequest) -> None:
    """Give the lead its owner (a lead that has one is only announced to that owner again),
    acknowledge it, and settle the request: all in one transaction."""
    with transaction.atomic():
        lead = (
            Lead.objects.select_for_update(of=("self",))
            .select_related("source")
            .get(pk=request.lead_id)
        )
        if lead.quality != Quality.INVALID:
            _route(lead, live=request.live)
        AssignmentRequest.objects.filter(pk=request.pk).update(
            status=WorkStatus.DONE, next_attempt_at=None
        )


def _route(lead: Lead, *, live: bool) -> None:
    if lead.owner_id is not None:
        if live:
            notices.returned(lead)
        return
    decision = decide(lead)
    assign(lead, decision, by="routing", live=live)
    if live:
        notices.acknowledge(lead, decision.promise)


def decide(lead: Lead, now: datetime | None = None, exclude: Collection[int] = ()) -> Decision:
    """The first active rule, by position, whose condition the lead meets and that has an
    available owner for it; else the fallback owner. `exclude` holds user pks not to choose."""
    now, meets = now or timezone.now(), _Meets(lead)
    for rule in AssignmentRule.objects.filter(is_active=True).select_related("rep__user"):
        if not meets(rule, now):
            continue
        decision = _owner_by_rule(rule, now, exclude)
        if decision is not None:
            return decision
    return Decision(fallback_owner(), "no rule could place it: the fallback owner")


def take_over(events: list[Event]) -> None:
    """Reassignment by rule, for each stage.changed event (core/reactions.py hands them over
    once each): a lead that already has an owner goes to the first takeover rule it now meets,
    unless that rule would give it to its owner again."""
    rules = list(
        AssignmentRule.objects.filter(is_active=True, takes_over=True).select_related("rep__user")
    )
    if rules:
        for lead_id in dict.fromkeys(event.lead_id for event in events):
            _take_over(lead_id, rules)


def _take_over(lead_id: int, rules: list[AssignmentRule]) -> bool:
    lead = Lead.objects.select_for_update(of=("self",)).select_related("source").get(pk=lead_id)
    if lead.owner_id is None or lead.quality == Quality.INVALID:
        return False
    now, meets = timezone.now(), _Meets(lead)
    for rule in rules:
        if not meets(rule, now):
            continue
        if _already_theirs(lead, rule):
            return False
        decision = _owner_by_rule(rule, now, exclude=())
        if decision is not None:
            assign(lead, replace(decision, why=f"{decision.why} takes over"), by="rule")
            return True
    return False


def _already_theirs(lead: Lead, rule: AssignmentRule) -> bool:
    if rule.rep_id is not None:
        return rule.rep.user_id == lead.owner_id
    return Membership.objects.filter(team_id=rule.team_id, rep__user_id=lead.owner_id).exists()


class _Meets:
    """Whether the lead meets a rule's condition (`{}`: every lead); its timeline is read once,
    and only if a condition asks about events."""

    def __init__(self, lead: Lead) -> None:
        self.lead = lead
        self.timeline: list | None = None

    def __call__(self, rule: AssignmentRule, now: datetime) -> bool:
        if not rule.condition:
            return True
        condition = parse_condition(rule.condition)
        if self.timeline is None and reads_timeline(condition):
            self.timeline = core.lead_timeline(self.lead)
        return holds(condition, self.lead, self.timeline or [], now)


def _owner_by_rule(rule: AssignmentRule, now: datetime, exclude: Collection[int]):
    if rule.rep_id is not None:
        rep = rule.rep
        if rep.user_id in exclude or not rep.user.is_active:
            return None
        if not availability.available([rep], now):
            return None
        return Decision(rep.user, f"rule “{rule.name}”", rule=rule)
    owner = next_in_team(rule.team_id, now, exclude)
    if owner is None:
        return None
    team = owner.team
    why = f"rule “{rule.name}”: {team} by {team.get_strategy_display().lower()}"
    return Decision(owner, why, team=team, rule=rule)


def next_in_team(team_id: int, now: datetime, exclude: Collection[int] = ()):
    """The team member whose turn it is among those available now (the user, with `.team`
    set), or None; locks the team's row until the caller's transaction ends."""
    team = Team.objects.select_for_update().get(pk=team_id)
    members = list(team.memberships.select_related("rep__user"))
    candidates = [m.rep for m in members if m.rep.user_id not in exclude and m.rep.user.is_active]
    free = {rep.pk for rep in availability.available(candidates, now)}
    eligible = [m for m in members if m.rep_id in free]
    if not eligible:
        return None
    user = strategies.next_member(team, eligible, members).rep.user
    user.team = team
    return user


def fallback_owner() -> AbstractBaseUser:
    """Who takes a lead no rule can place: the configured one, else the first superuser."""
    chosen = RoutingSettings.current().fallback_owner
    if chosen is not None and chosen.is_active:
        return chosen
    users = get_user_model().objects.filter(is_active=True, is_superuser=True).order_by("pk")
    first = users.first()
    if first is None:
        raise LookupError("No fallback owner: set one in the routing settings.")
    return first


def assign(lead: Lead, decision: Decision, *, by: str, live: bool = True) -> Assignment:
    """Make `decision.owner` the lead's owner: an Assignment and an event; a live lead not yet
    contacted gets its SLA timer and its owner is told."""
    now = timezone.now()
    assignment = Assignment.objects.create(
        lead=lead,
        owner=decision.owner,
        previous_owner_id=lead.owner_id,
        team=decision.team,
        rule=decision.rule,
        why=decision.why[:300],
        by=by,
        assigned_at=now,
    )
    previous = lead.owner_id
    lead.owner, lead.assigned_at = decision.owner, lead.assigned_at or now
    Lead.objects.filter(pk=lead.pk).update(
        owner=decision.owner, assigned_at=lead.assigned_at, updated_at=now
    )
    core.record_event(
        lead,
        "owner.assigned",
        {
            "owner": decision.owner.get_username(),
            "previous_owner": previous,
            "team": str(decision.team or ""),
            "rule": str(decision.rule or ""),
            "why": decision.why,
        },
        actor=by,
    )
    _cancel_timers(lead)
    if live and lead.first_contact_at is None:
        due = now + decision.sla
        SlaTimer.objects.create(
            lead=lead,
            owner=decision.owner,
            assignment=assignment,
            kind=TimerKind.ALERT_MANAGER,
            due_at=due,
        )
        notices.new_lead(lead, assignment, sla_due=due)
    return assignment


def reassign(lead: Lead, owner: AbstractBaseUser, *, by: str, why: str) -> Assignment:
    """A person gives the lead to someone else, with a reason kept on its timeline."""
    if not why.strip():
        raise ValueError("Say why the lead changes hands.")
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        return assign(lead, Decision(owner, why.strip()), by=by)


def log_contact_attempt(
    lead: Lead,
    by: AbstractBaseUser,
    channel: str,
    outcome: str,
    note: str = "",
    at: datetime | None = None,
) -> ContactAttempt:
    """A rep tried to reach the lead; the first attempt stops the SLA clock."""
    at = at or timezone.now()
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        attempt = ContactAttempt.objects.create(
            lead=lead, by=by, channel=channel, outcome=outcome, note=note, attempted_at=at
        )
        first = lead.first_contact_at is None
        if first:
            lead.first_contact_at = at
            Lead.objects.filter(pk=lead.pk).update(first_contact_at=at, updated_at=timezone.now())
            _cancel_timers(lead)
        core.record_event(
            lead,
            "contact.attempted",
            {"channel": channel, "outcome": outcome, "note": note, "first": first},
            actor=by.get_username(),
            occurred_at=at,
        )
    return attempt


def _cancel_timers(lead: Lead) -> None:
    SlaTimer.objects.filter(lead=lead, status=TimerStatus.PENDING).update(
        status=TimerStatus.CANCELLED
    )


def fire_due_timers() -> int:
    """The worker's poll of SLA timers: each due one fires once (its claim and its effect
    commit together; a failure rolls both back and the next poll tries again)."""
    fired = 0
    due = SlaTimer.objects.filter(status=TimerStatus.PENDING, due_at__lte=timezone.now())
    for timer_id in list(due.values_list("pk", flat=True)[:TIMER_BATCH]):
        try:
            fired += _fire(timer_id)
        except Exception:
            logger.exception("SLA timer %s failed; it stays due", timer_id)
    return fired


def _fire(timer_id: int) -> int:
    with transaction.atomic():
        now = timezone.now()
        won = SlaTimer.objects.filter(pk=timer_id, status=TimerStatus.PENDING).update(
            status=TimerStatus.FIRED, fired_at=now
        )
        if not won:
            return 0
        timer = SlaTimer.objects.select_related("assignment__team", "assignment__rule").get(
            pk=timer_id
        )
        lead = Lead.objects.select_for_update().get(pk=timer.lead_id)
        if lead.first_contact_at is not None or lead.owner_id != timer.owner_id:
            return 1  # contacted or moved meanwhile: nothing is late
        if timer.kind == TimerKind.ALERT_MANAGER:
            _alert_manager(lead, timer, now)
        else:
            _move_to_next_rep(lead, timer, now)
        return 1


def _alert_manager(lead: Lead, timer: SlaTimer, now: datetime) -> None:
    assignment = timer.assignment
    team = assignment.team
    manager = (team.manager if team else None) or fallback_owner()
    late = int((now - assignment.assigned_at).total_seconds() // 60)
    core.record_event(
        lead,
        "sla.missed",
        {"owner": timer.owner.get_username(), "minutes": late, "alerted": manager.get_username()},
    )
    notices.sla_missed(lead, timer, manager, minutes=late)
    _call_now_task(lead, timer.owner, due_at=timer.due_at)
    escalate = (assignment.rule or RoutingSettings.current()).escalate_after_minutes
    SlaTimer.objects.create(
        lead=lead,
        owner=timer.owner,
        assignment=assignment,
        kind=TimerKind.REASSIGN,
        due_at=now + timedelta(minutes=escalate),
    )


def _call_now_task(lead: Lead, owner: AbstractBaseUser, *, due_at: datetime) -> None:
    """The late lead at the top of its owner's day: a task due when the first contact was
    (so already overdue), unless the same one is still open."""
    title = f"Call {lead} now: first contact overdue"[:200]
    open_task = Task.objects.filter(lead=lead, owner=owner, title=title, done_at__isnull=True)
    if not open_task.exists():
        Task.objects.create(lead=lead, owner=owner, title=title, due_at=due_at, origin="sla")


def _move_to_next_rep(lead: Lead, timer: SlaTimer, now: datetime) -> None:
    """The next available rep of the team who has not had the lead yet; else the fallback
    owner, unless they had it too: then the lead stays, and the timeline says so."""
    had_it = set(Assignment.objects.filter(lead=lead).values_list("owner_id", flat=True))
    team = timer.assignment.team
    owner = next_in_team(team.pk, now, exclude=had_it) if team else None
    if owner is None:
        fallback = fallback_owner()
        owner = None if fallback.pk in had_it else fallback
    if owner is None:
        core.record_event(lead, "sla.not_reassigned", {"why": "everyone has had this lead"})
        return
    why = f"no first contact by {timer.owner.get_username()} within the SLA: the next rep"
    assign(
        lead,
        Decision(owner, why, team=getattr(owner, "team", None), rule=timer.assignment.rule),
        by="sla",
    )
