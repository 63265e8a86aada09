"""Nurture's verbs: publish a workflow's draft, enroll leads (by its trigger or by hand), move
enrolled leads to a newer version, and react to the events that start, wake and end
enrollments; plus the sweeps of the triggers that are states rather than events (a score, a
quiet spell, a date)."""

import time
from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.db.models import Max, Q, TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone

from leadloop.core import rows
from leadloop.core import services as core
from leadloop.core.conditions import EventCondition, holds, matches
from leadloop.core.models import Event, Lead, Quality
from leadloop.nurture import definitions as d
from leadloop.nurture.models import (
    Enrollment,
    EnrollmentStatus,
    Reentry,
    Workflow,
    WorkflowVersion,
)

ACTIVE = Q(status=EnrollmentStatus.ACTIVE)
# Events that end an enrollment whatever the workflow, and the reason they give.
EXITS = {
    "email.unsubscribed": "unsubscribed",
    "email.replied": "replied",
    "sms.replied": "replied",
    "email.bounced": "email bounced",
    "email.complained": "marked as spam",
    "sms.opted_out": "opted out of SMS",
}
# The events each kind of trigger starts on (an "event" trigger: its own event type).
TRIGGER_EVENTS = {
    "form_submitted": {"lead.captured", "lead.updated"},
    "stage_entered": {"stage.changed"},
    "tag_added": {"tag.added"},
    "segment_joined": {"segment.joined"},
}
WATCH_CACHE_SECONDS = 5.0
DATE_CATCH_UP_DAYS = 7


def publish(workflow: Workflow, by: str = "") -> WorkflowVersion:
    """The draft's steps become the next version; leads who enroll from now on walk it."""
    d.parse_steps(workflow.steps)
    with transaction.atomic():
        last = workflow.versions.aggregate(Max("number"))["number__max"] or 0
        return WorkflowVersion.objects.create(
            workflow=workflow, number=last + 1, steps=workflow.steps, published_by=by
        )


def enroll(workflow: Workflow, leads: Iterable[Lead], why: str = "trigger") -> list[Enrollment]:
    """Start these leads on the workflow's published version (in the caller's transaction),
    except quarantined leads and those its re-entry policy keeps out."""
    version = workflow.published
    if version is None:
        raise ValueError(f"{workflow} has no published version.")
    candidates = {lead.pk: lead for lead in leads if lead.quality != Quality.INVALID}
    kept_out = Enrollment.objects.filter(workflow=workflow, lead_id__in=list(candidates))
    if workflow.reentry == Reentry.AFTER_FINISHING:
        kept_out = kept_out.filter(ACTIVE)
    for lead_id in kept_out.values_list("lead_id", flat=True):
        candidates.pop(lead_id, None)
    now = timezone.now()
    enrollments = rows.insert(
        [
            Enrollment(workflow=workflow, version=version, lead=lead, due_at=now, entered_at=now)
            for lead in candidates.values()
        ]
    )
    core.record_events(
        core.NewEvent(lead, "workflow.entered", {"workflow": workflow.name, "why": why})
        for lead in candidates.values()
    )
    return enrollments


def move_to_latest(workflow: Workflow) -> tuple[int, int]:
    """Move the active enrollments to the latest version at the same step; those whose step
    no longer exists leave ("step removed"). Returns (moved, left)."""
    latest = workflow.published
    active = Enrollment.objects.filter(ACTIVE, workflow=workflow).exclude(version=latest)
    length = len(latest.steps)
    with transaction.atomic():
        left = active.filter(position__gte=length).update(
            status=EnrollmentStatus.EXITED, exit_reason="step removed", finished_at=timezone.now()
        )
        moved = active.filter(position__lt=length).update(version=latest)
    return moved, left


# --- reacting to events --------------------------------------------------------------------

_watched: tuple[float, set[str]] = (0.0, set())


def watched_types() -> set[str]:
    """The event types nurture reacts to: the exits, and those the active workflows' triggers
    and waits need (asked at most every WATCH_CACHE_SECONDS). With no workflow that starts on a
    form, a capture writes no delivery for nurture at all."""
    global _watched
    if time.monotonic() - _watched[0] > WATCH_CACHE_SECONDS:
        types = set(EXITS)
        for workflow in Workflow.objects.filter(is_active=True).only("trigger", "steps"):
            trigger = d.parse_trigger(workflow.trigger)
            types |= TRIGGER_EVENTS.get(trigger.on, set())
            if isinstance(trigger, d.EventHappened):
                types.add(trigger.event)
            types |= {step["event"] for step in workflow.steps if step.get("do") == "wait_for"}
        for version in WorkflowVersion.objects.filter(workflow__is_active=True).only("steps"):
            types |= {step["event"] for step in version.steps if step.get("do") == "wait_for"}
        _watched = (time.monotonic(), types)
    return _watched[1]


def forget_watched_types() -> None:
    global _watched
    _watched = (0.0, set())


def react(events: list[Event]) -> None:
    """Handed new events once each (core/reactions.py): end, wake and start enrollments."""
    _exit_on(events)
    _wake(events)
    _start(events)


def _exit_on(events: list[Event]) -> None:
    for event in events:
        reason = EXITS.get(event.type)
        if reason:
            exit_all(event.lead_id, reason)


def exit_all(lead_id: int, reason: str) -> int:
    """End the lead's active enrollments, each with a workflow.exited event."""
    active = list(Enrollment.objects.filter(ACTIVE, lead_id=lead_id).select_related("workflow"))
    Enrollment.objects.filter(pk__in=[e.pk for e in active]).update(
        status=EnrollmentStatus.EXITED, exit_reason=reason, finished_at=timezone.now(), due_at=None
    )
    core.record_events(
        core.NewEvent(
            Lead(pk=lead_id), "workflow.exited", {"workflow": e.workflow.name, "reason": reason}
        )
        for e in active
    )
    return len(active)


def _wake(events: list[Event]) -> None:
    by_lead = {}
    for event in events:
        by_lead.setdefault(event.lead_id, []).append(event)
    waiting = Enrollment.objects.filter(
        ACTIVE, lead_id__in=list(by_lead), waiting_for__in={e.type for e in events}
    )
    for enrollment in waiting.select_for_update(of=("self",)):
        since = enrollment.waiting["since"]
        if any(
            matches(e, enrollment.waiting_for, enrollment.waiting["where"])
            and e.occurred_at.isoformat() >= since
            for e in by_lead[enrollment.lead_id]
        ):
            enrollment.position = enrollment.waiting["then"]
            enrollment.waiting_for, enrollment.waiting = "", {}
            enrollment.due_at = timezone.now()
            enrollment.save(update_fields=["position", "waiting_for", "waiting", "due_at"])


def _start(events: list[Event]) -> None:
    workflows = [
        (workflow, d.parse_trigger(workflow.trigger))
        for workflow in Workflow.objects.filter(is_active=True)
    ]
    if not workflows:
        return
    leads = Lead.objects.in_bulk({event.lead_id for event in events})
    now = timezone.now()
    for workflow, trigger in workflows:
        starting = {
            event.lead_id: leads[event.lead_id]
            for event in events
            if _starts(trigger, event, leads[event.lead_id], now)
        }
        if starting:
            enroll(workflow, starting.values(), why=trigger.on)


def _starts(trigger: d.Trigger, event: Event, lead: Lead, now) -> bool:
    data = event.data
    if isinstance(trigger, d.FormSubmitted):
        captured = event.type in ("lead.captured", "lead.updated")
        return (
            captured and data.get("channel") != "import" and trigger.form in ("", data.get("form"))
        )
    if isinstance(trigger, d.StageEntered):
        return event.type == "stage.changed" and data.get("to") == trigger.stage
    if isinstance(trigger, d.TagAdded):
        return event.type == "tag.added" and data.get("tag") == trigger.tag
    if isinstance(trigger, d.SegmentJoined):
        return event.type == "segment.joined" and data.get("segment") == trigger.segment
    if isinstance(trigger, d.EventHappened) and event.type == trigger.event:
        condition = EventCondition(
            event=trigger.event,
            where=trigger.where,
            at_least=trigger.at_least,
            within_days=trigger.within_days,
        )
        return holds(condition, lead, core.lead_timeline(lead), now)
    return False


# --- triggers that are states --------------------------------------------------------------


def enroll_by_state() -> int:
    """The sweep of state triggers: a score at or over its threshold, no activity for N days,
    a date N days away. Each lead enters such a workflow once."""
    enrolled = 0
    for workflow in Workflow.objects.filter(is_active=True):
        trigger = d.parse_trigger(workflow.trigger)
        leads = _in_state(trigger)
        if leads is None:
            continue
        fresh = leads.exclude(enrollments__workflow=workflow).exclude(quality=Quality.INVALID)
        with transaction.atomic():
            enrolled += len(enroll(workflow, fresh[:5000], why=trigger.on))
    return enrolled


def _in_state(trigger: d.Trigger):
    if isinstance(trigger, d.ScoreCrossed):
        return Lead.objects.filter(score__gte=trigger.at_least)
    if isinstance(trigger, d.Inactive):
        quiet_since = timezone.now() - timedelta(days=trigger.days)
        return Lead.objects.annotate(last=Max("events__occurred_at")).filter(last__lt=quiet_since)
    if isinstance(trigger, d.DateReached):
        # Dates (ISO text) from a week back, so a sweep missed while the worker was down
        # catches up; each lead still enters once.
        day = timezone.now().date() - timedelta(days=trigger.offset_days)
        name = trigger.field.removeprefix("custom_fields.")
        # As plain text: a key transform's own range lookups read the bound as JSON.
        dated = Lead.objects.alias(when=Cast(KT(f"custom_fields__{name}"), TextField()))
        week_back = (day - timedelta(days=DATE_CATCH_UP_DAYS)).isoformat()
        return dated.filter(when__gte=week_back, when__lt=(day + timedelta(days=1)).isoformat())
    return None
