"""Walking leads through workflow steps. An enrollment is claimed (a conditional UPDATE), then
its steps run in one transaction with the enrollment's new position: what a step does (a
message queued, a field set, a task made) commits with the step, or not at all. A worker that
dies mid-run leaves the enrollment's lease to pass; the next claim runs the same steps again
from the last committed position, and their messages have the same keys."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from leadloop.core import durable, experiments, outbox
from leadloop.core import services as core
from leadloop.core.conditions import Condition, holds, parse_condition
from leadloop.core.models import Lead, LifecycleStage, MessageChannel, Task
from leadloop.nurture import compose, personalise, quiet
from leadloop.nurture import definitions as d
from leadloop.nurture.models import (
    EmailTemplate,
    Enrollment,
    EnrollmentStatus,
    Segment,
    SegmentMember,
    StepRun,
    WorkflowVersion,
)

logger = logging.getLogger(__name__)

BATCH = 500
LEASE = timedelta(minutes=2)
BACKOFF = [timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=1)]
# A run of steps with no wait between them stops here and goes on at the next pass, so a
# workflow that loops without waiting cannot hold a worker.
STEPS_PER_RUN = 25
SALES_STAGES = {LifecycleStage.SQL, LifecycleStage.OPPORTUNITY, LifecycleStage.CUSTOMER}


def run_due() -> int:
    """The worker's pass: claim the due enrollments and walk each to its next wait."""
    due = Enrollment.objects.filter(status=EnrollmentStatus.ACTIVE, due_at__lte=timezone.now())
    ran = 0
    for enrollment_id, attempts in due.order_by("due_at").values_list("pk", "attempts")[:BATCH]:
        if _claim(enrollment_id, attempts):
            run(enrollment_id)
            ran += 1
    return ran


def _claim(enrollment_id: int, attempts: int) -> bool:
    now = timezone.now()
    return bool(
        Enrollment.objects.filter(
            pk=enrollment_id, status=EnrollmentStatus.ACTIVE, attempts=attempts, due_at__lte=now
        ).update(attempts=F("attempts") + 1, due_at=now + LEASE)
    )


def run(enrollment_id: int) -> None:
    try:
        with transaction.atomic():
            enrollment = (
                Enrollment.objects.select_for_update(of=("self",))
                .select_related("version", "workflow", "lead__owner", "lead__company")
                .get(pk=enrollment_id)
            )
            Walk(enrollment).go()
    except Exception as error:
        logger.exception("enrollment %s failed at its step", enrollment_id)
        _retry(enrollment_id, error)


def _retry(enrollment_id: int, error: Exception) -> None:
    enrollment = Enrollment.objects.get(pk=enrollment_id)
    gave_up = enrollment.attempts > len(BACKOFF)
    Enrollment.objects.filter(pk=enrollment_id).update(
        last_error=repr(error)[:2000],
        status=EnrollmentStatus.FAILED if gave_up else EnrollmentStatus.ACTIVE,
        due_at=None if gave_up else durable.backoff(enrollment.attempts, BACKOFF),
        finished_at=timezone.now() if gave_up else None,
    )


_parsed: dict[int, list[d.Step]] = {}


def steps_of(version: WorkflowVersion) -> list[d.Step]:
    """A version's parsed steps, parsed once per process (a version never changes)."""
    if version.pk not in _parsed:
        _parsed[version.pk] = d.parse_steps(version.steps)
    return _parsed[version.pk]


@dataclass(frozen=True)
class Done:
    """What a step did: its outcome for the report, where to go next (a label; by default the
    step's `next` or the following step), when to go on if it waits, its message's key, and
    whether the lead stays on this step (waiting for an event)."""

    outcome: str
    goto: str = ""
    waits_until: datetime | None = None
    key: str = ""
    stays: bool = False


class Walk:
    """One run of one enrollment: from its position to its next wait, its end, or an exit."""

    def __init__(self, enrollment: Enrollment) -> None:
        self.enrollment = enrollment
        self.lead: Lead = enrollment.lead
        self.now = timezone.now()
        self.steps = steps_of(enrollment.version)
        self.labels = {step.label: i for i, step in enumerate(self.steps) if step.label}
        self._timeline: list | None = None

    def go(self) -> None:
        reason = self.reason_to_leave()
        if reason:
            return self.finish(EnrollmentStatus.EXITED, reason)
        if self.enrollment.waiting_for:  # the wait timed out (an event would have moved it on)
            self.timed_out()
        for _ in range(STEPS_PER_RUN):
            if self.enrollment.position >= len(self.steps):
                return self.finish(EnrollmentStatus.COMPLETED, "")
            waits_until = self.take(self.steps[self.enrollment.position])
            if self.enrollment.status != EnrollmentStatus.ACTIVE:
                return None
            if waits_until is not None:
                return self.save(due_at=waits_until)
        return self.save(due_at=self.now)

    # --- leaving ---------------------------------------------------------------------------

    def reason_to_leave(self) -> str:
        workflow = self.enrollment.workflow
        if workflow.goal and self.meets_dict(workflow.goal):
            return "goal"
        if workflow.exit_on_sales_conversation and self.in_sales_conversation():
            return "sales conversation"
        return ""

    def in_sales_conversation(self) -> bool:
        if self.lead.lifecycle_stage in SALES_STAGES:
            return True
        return any(
            e.type == "contact.attempted" and e.data.get("outcome") == "reached"
            for e in self.timeline()
        )

    def finish(self, status: str, reason: str) -> None:
        self.enrollment.status, self.enrollment.exit_reason = status, reason
        self.enrollment.finished_at = self.now
        self.save(due_at=None)
        kind = "workflow.completed" if status == EnrollmentStatus.COMPLETED else "workflow.exited"
        core.record_event(
            self.lead, kind, {"workflow": self.enrollment.workflow.name, "reason": reason}
        )

    def save(self, due_at: datetime | None) -> None:
        self.enrollment.due_at = due_at
        self.enrollment.attempts = 0
        self.enrollment.last_error = ""
        self.enrollment.save(
            update_fields=[
                "status", "exit_reason", "position", "steps_taken", "due_at", "waiting_for",
                "waiting", "attempts", "last_error", "finished_at",
            ]
        )  # fmt: skip

    # --- the steps -------------------------------------------------------------------------

    def take(self, step: d.Step) -> datetime | None:
        """Do a step and move past it; return when to go on if it waits."""
        done: Done = getattr(self, f"_do_{step.do}")(step)
        StepRun.objects.create(
            enrollment=self.enrollment,
            version_id=self.enrollment.version_id,
            position=self.enrollment.position,
            kind=step.do,
            outcome=done.outcome[:100],
            message_key=done.key,
            at=self.now,
        )
        self.enrollment.steps_taken += 1
        if self.enrollment.status == EnrollmentStatus.ACTIVE and not done.stays:
            self.enrollment.position = self.where(done.goto or step.next)
        return done.waits_until

    def where(self, label: str) -> int:
        return self.labels[label] if label else self.enrollment.position + 1

    def message_key(self) -> str:
        return f"nurture-{self.enrollment.pk}-{self.enrollment.steps_taken}"

    def origin(self) -> str:
        e = self.enrollment
        return f"workflow:{e.workflow_id}:v{e.version.number}:step{e.position}"

    def _do_send_email(self, step: d.SendEmail):
        if not self.lead.email:
            return Done("skipped: no email address")
        subject, text, html = self.email_content(step)
        key = self.message_key()
        tested = experiments.email_subject_for(
            self.enrollment.workflow_id, step.label, self.lead.pk, key
        )
        subject = tested or subject
        compose.queue_marketing_email(
            self.lead, subject, text, html, kind="nurture", origin=self.origin(), key=key
        )
        return Done("queued", key=key)

    def email_content(self, step: d.SendEmail) -> tuple[str, str, str]:
        if not step.template:
            return step.subject, step.text, step.html
        template = EmailTemplate.objects.get(slug=step.template)
        return template.subject, template.text, template.html

    def _do_send_sms(self, step: d.SendSms):
        if not self.lead.phone:
            return Done("skipped: no phone number")
        key = self.message_key()
        text = personalise.render(step.text, personalise.context_of(self.lead))
        outbox.queue(
            self.lead,
            MessageChannel.SMS,
            self.lead.phone,
            text,
            kind="nurture",
            to_lead=True,
            marketing=True,
            origin=self.origin(),
            key=key,
            not_before=quiet.next_allowed(self.lead.phone, self.now),
        )
        return Done("queued", key=key)

    def _do_wait(self, step: d.Wait):
        return Done("waiting", waits_until=self.now + step.delta())

    def _do_wait_for(self, step: d.WaitFor):
        self.enrollment.waiting_for = step.event
        self.enrollment.waiting = {
            "where": step.where,
            "since": self.now.isoformat(),
            "then": self.where(step.next),
            "on_timeout": self.where(step.on_timeout),
        }
        # The lead stays on this step until the event or the time-out moves it on.
        waits_until = self.now + step.timeout.delta()
        return Done(f"waiting for {step.event}", waits_until=waits_until, stays=True)

    def timed_out(self) -> None:
        self.enrollment.position = self.enrollment.waiting["on_timeout"]
        self.enrollment.waiting_for, self.enrollment.waiting = "", {}

    def _do_branch(self, step: d.Branch):
        met = self.meets(step.if_)
        return Done("yes" if met else "no", goto=step.then if met else step.else_)

    def _do_set_field(self, step: d.SetField):
        name = step.field.removeprefix("custom_fields.")
        if step.field.startswith("custom_fields."):
            self.lead.custom_fields[name] = step.value
            Lead.objects.filter(pk=self.lead.pk).update(custom_fields=self.lead.custom_fields)
        else:
            setattr(self.lead, name, step.value)
            Lead.objects.filter(pk=self.lead.pk).update(**{name: step.value})
        core.record_event(self.lead, "lead.field_set", {"field": step.field, "value": step.value})
        return Done("set")

    def _do_set_stage(self, step: d.SetStage):
        core.move_stage(self.lead, step.stage, by="nurture", why=step.why)
        return Done(f"stage {step.stage}")

    def _do_adjust_score(self, step: d.AdjustScore):
        # Scoring adds the event's points to the lead's score and reacts to it with a rescore.
        data = {"points": step.points, "group": step.group, "why": step.why}
        core.record_event(self.lead, "score.adjusted", data, actor="nurture")
        return Done(f"{step.points:+d} points")

    def _do_create_task(self, step: d.CreateTask):
        title = personalise.render(step.title, personalise.context_of(self.lead))
        Task.objects.create(
            lead=self.lead,
            owner=self.lead.owner,
            title=title[:200],
            due_at=self.now + step.due_in.delta(),
            origin=self.origin(),
        )
        return Done("task made")

    def _do_notify_owner(self, step: d.NotifyOwner):
        owner = self.lead.owner
        if owner is None or not owner.email:
            return Done("skipped: no owner email")
        text = personalise.render(step.text, personalise.context_of(self.lead))
        outbox.queue(
            self.lead,
            MessageChannel.EMAIL,
            owner.email,
            text,
            kind="nurture_notice",
            to_lead=False,
            subject=f"{self.enrollment.workflow.name}: {self.lead}",
            origin=self.origin(),
            key=self.message_key(),
        )
        return Done("queued")

    def _do_webhook(self, step: d.CallWebhook):
        payload = {
            "workflow": self.enrollment.workflow.name,
            "lead": personalise.context_of(self.lead)["lead"] | {"id": self.lead.pk},
        }
        text = f"{self.lead} reached a step of {self.enrollment.workflow.name}"
        outbox.queue(
            self.lead,
            MessageChannel.WEBHOOK,
            step.url,
            text,
            kind="nurture_webhook",
            to_lead=False,
            payload=payload,
            origin=self.origin(),
            key=self.message_key(),
        )
        return Done("queued")

    def _do_tag(self, step: d.Tag):
        core.tag(self.lead, add=step.add, remove=step.remove, by="nurture")
        return Done("tagged")

    def _do_segment(self, step: d.SegmentMembership):
        for slug in step.add:
            segment = Segment.objects.get(slug=slug)
            _, joined = SegmentMember.objects.get_or_create(segment=segment, lead=self.lead)
            if joined:
                core.record_event(self.lead, "segment.joined", {"segment": slug})
        for slug in step.remove:
            left = SegmentMember.objects.filter(segment__slug=slug, lead=self.lead).delete()[0]
            if left:
                core.record_event(self.lead, "segment.left", {"segment": slug})
        return Done("done")

    def _do_goal(self, step: d.Goal):
        if self.meets(step.if_):
            self.finish(EnrollmentStatus.EXITED, "goal")
            return Done("goal reached")
        return Done("not yet")

    def _do_exit(self, step: d.Exit):
        self.finish(EnrollmentStatus.EXITED, step.reason)
        return Done(step.reason)

    # --- conditions ------------------------------------------------------------------------

    def timeline(self) -> list:
        if self._timeline is None:
            self._timeline = core.lead_timeline(self.lead)
        return self._timeline

    def meets(self, condition: Condition) -> bool:
        return holds(condition, self.lead, self.timeline(), self.now)

    def meets_dict(self, condition: dict) -> bool:
        return self.meets(parse_condition(condition))
