"""The sales verbs: open a deal, move it, win or lose it, write a note, give someone a task.
Each one writes its event on the lead's timeline, so the story of a lead is told in one place
and workflows and analytics can start from it."""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from leadloop.core import outbox
from leadloop.core import services as core
from leadloop.core.models import Event, Lead, LifecycleStage, Task
from leadloop.crm.models import Deal, Pipeline, Stage, StageOutcome
from leadloop.nurture import personalise

# A deal starts when the lead is here or earlier; creating it makes the lead an opportunity.
BEFORE_OPPORTUNITY = {
    LifecycleStage.SUBSCRIBER,
    LifecycleStage.LEAD,
    LifecycleStage.MQL,
    LifecycleStage.SQL,
    LifecycleStage.RECYCLED,
}
# What another layer records that counts as working a deal (the crm's own verbs touch it).
OUTSIDE_ACTIVITY = {"contact.attempted", "email.replied", "sms.replied", "meeting.booked"}


class DealError(ValueError):
    """A sales verb that cannot be done as asked; the message says why, for the person."""


def actor_name(user: AbstractBaseUser | None) -> str:
    return user.get_username() if user else "system"


def default_pipeline() -> Pipeline:
    pipeline = Pipeline.objects.first()
    if pipeline is None:
        raise DealError("There is no pipeline yet: create one in the back office.")
    return pipeline


def open_deal(
    lead: Lead,
    *,
    title: str = "",
    value: Decimal = Decimal("0.00"),
    by: AbstractBaseUser | None = None,
    pipeline: Pipeline | None = None,
    stage: Stage | None = None,
    owner: AbstractBaseUser | None = None,
    expected_close=None,
) -> Deal:
    pipeline = pipeline or (stage.pipeline if stage else default_pipeline())
    stage = stage or pipeline.stages.filter(outcome=StageOutcome.OPEN).first()
    if stage is None or stage.pipeline_id != pipeline.pk:
        raise DealError(f"The pipeline {pipeline} has no open stage to start a deal in.")
    if value < 0:
        raise DealError("A deal's value cannot be negative.")
    with transaction.atomic():
        deal = Deal.objects.create(
            lead=lead,
            pipeline=pipeline,
            stage=stage,
            title=title.strip() or _default_title(lead),
            value=value,
            owner=owner or lead.owner,
            expected_close=expected_close,
            position=_top_of(stage),
        )
        core.record_event(
            lead,
            "deal.created",
            {"deal": deal.pk, "title": deal.title, "value": str(value), "stage": stage.name},
            actor=actor_name(by),
        )
        if lead.lifecycle_stage in BEFORE_OPPORTUNITY:
            core.move_stage(
                lead, LifecycleStage.OPPORTUNITY, by=actor_name(by), why=f"Deal opened: {deal}"
            )
    return deal


def _default_title(lead: Lead) -> str:
    company = lead.company.name if lead.company_id else ""
    return company or f"{lead.first_name} {lead.last_name}".strip() or f"Lead {lead.pk}"


def _top_of(stage: Stage) -> float:
    highest = Deal.objects.filter(stage=stage).aggregate(Max("position"))["position__max"]
    return (highest or 0) + 1


def move_deal(
    deal: Deal,
    stage: Stage,
    *,
    by: AbstractBaseUser | None,
    above: Deal | None = None,
    below: Deal | None = None,
    reason: str = "",
) -> Deal:
    """Put a deal in `stage`, between the cards `above` and `below` it in its column (the
    board's drag and drop; a column lists the highest position first). Into a won stage it is won; into a lost stage it is lost, which needs a reason."""
    if stage.pipeline_id != deal.pipeline_id:
        raise DealError(f"{stage.name} is a stage of another pipeline.")
    with transaction.atomic():
        deal = Deal.objects.select_for_update().select_related("stage").get(pk=deal.pk)
        deal.position = _between(above, below, stage)
        if stage.pk == deal.stage_id:
            Deal.objects.filter(pk=deal.pk).update(position=deal.position)
            return deal
        if stage.outcome == StageOutcome.WON:
            return win(deal, by=by, stage=stage)
        if stage.outcome == StageOutcome.LOST:
            return lose(deal, reason, by=by, stage=stage)
        _enter(deal, stage, by)
        deal.closed_at = None
        deal.lost_reason = ""
        deal.save()
    return deal


def _between(above: Deal | None, below: Deal | None, stage: Stage) -> float:
    def position_of(deal: Deal | None) -> float | None:
        if deal is None:
            return None
        return Deal.objects.filter(pk=deal.pk).values_list("position", flat=True).first()

    high, low = position_of(above), position_of(below)
    if high is not None and low is not None:
        return (high + low) / 2
    if high is not None:
        return high - 1
    if low is not None:
        return low + 1
    return _top_of(stage)


def _enter(deal: Deal, stage: Stage, by: AbstractBaseUser | None) -> None:
    now = timezone.now()
    core.record_event(
        deal.lead,
        "deal.stage_changed",
        {
            "deal": deal.pk,
            "from": deal.stage.name,
            "to": stage.name,
            "days_in_stage": round((now - deal.stage_entered_at).total_seconds() / 86400, 2),
        },
        actor=actor_name(by),
        occurred_at=now,
    )
    deal.stage = stage
    deal.stage_entered_at = now
    deal.last_activity_at = now


def win(deal: Deal, *, by: AbstractBaseUser | None, stage: Stage | None = None) -> Deal:
    """The deal is won: it moves to the won stage, the lead becomes a customer, the customer
    gets the welcome email and the onboarding tasks are made (seed 000's CleanPro loop)."""
    stage = stage or _stage_for(deal.pipeline, StageOutcome.WON)
    with transaction.atomic():
        deal = (
            Deal.objects.select_for_update()
            .select_related("stage", "lead", "pipeline")
            .get(pk=deal.pk)
        )
        if deal.stage.outcome == StageOutcome.WON:
            return deal
        _enter(deal, stage, by)
        deal.closed_at = deal.stage_entered_at
        deal.lost_reason = ""
        deal.save()
        lead = deal.lead
        core.record_event(
            lead,
            "deal.won",
            {"deal": deal.pk, "revenue": str(deal.value), "closed_at": deal.closed_at.isoformat()},
            actor=actor_name(by),
            occurred_at=deal.closed_at,
        )
        if lead.lifecycle_stage != LifecycleStage.CUSTOMER:
            core.move_stage(lead, LifecycleStage.CUSTOMER, by=actor_name(by), why=f"Won: {deal}")
        _welcome(deal)
        _start_onboarding(deal, by)
    return deal


def _welcome(deal: Deal) -> None:
    pipeline, lead = deal.pipeline, deal.lead
    if not (pipeline.welcome_body.strip() and lead.email):
        return
    context = personalise.context_of(lead, deal={"title": deal.title, "value": str(deal.value)})
    outbox.queue(
        lead,
        "email",
        lead.email,
        personalise.render(pipeline.welcome_body, context),
        subject=personalise.render(pipeline.welcome_subject, context),
        kind="deal.welcome",
        to_lead=True,
        origin=f"deal {deal.pk}",
        key=f"deal-welcome-{deal.pk}",
    )


def _start_onboarding(deal: Deal, by: AbstractBaseUser | None) -> None:
    template = deal.pipeline.onboarding
    if template is None:
        return
    now = timezone.now()
    owner = deal.owner or deal.lead.owner
    for item in template.items.all():
        add_task(
            deal.lead,
            item.title,
            due_at=now + timedelta(days=item.due_days),
            owner=owner,
            by=by,
            origin=f"onboarding: {template.name}",
        )


def lose(
    deal: Deal, reason: str, *, by: AbstractBaseUser | None, stage: Stage | None = None
) -> Deal:
    if not reason.strip():
        raise DealError("Say why the deal was lost.")
    stage = stage or _stage_for(deal.pipeline, StageOutcome.LOST)
    with transaction.atomic():
        deal = Deal.objects.select_for_update().select_related("stage", "lead").get(pk=deal.pk)
        _enter(deal, stage, by)
        deal.closed_at = deal.stage_entered_at
        deal.lost_reason = reason.strip()[:300]
        deal.save()
        core.record_event(
            deal.lead,
            "deal.lost",
            {"deal": deal.pk, "reason": deal.lost_reason, "closed_at": deal.closed_at.isoformat()},
            actor=actor_name(by),
            occurred_at=deal.closed_at,
        )
    return deal


def _stage_for(pipeline: Pipeline, outcome: str) -> Stage:
    stage = pipeline.stages.filter(outcome=outcome).first()
    if stage is None:
        raise DealError(f"The pipeline {pipeline} has no {outcome} stage.")
    return stage


def add_note(lead: Lead, body: str, *, by: AbstractBaseUser) -> Event:
    if not body.strip():
        raise DealError("A note needs some text.")
    with transaction.atomic():
        event = core.record_event(lead, "note.added", {"body": body.strip()}, actor=actor_name(by))
        touch_deals(lead.pk, event.occurred_at)
    return event


def add_task(
    lead: Lead,
    title: str,
    *,
    due_at,
    owner: AbstractBaseUser | None,
    by: AbstractBaseUser | None,
    origin: str = "",
) -> Task:
    if not title.strip():
        raise DealError("A task needs a title.")
    with transaction.atomic():
        task = Task.objects.create(
            lead=lead,
            owner=owner,
            title=title.strip()[:200],
            due_at=due_at,
            origin=(origin or f"by {actor_name(by)}")[:100],
        )
        core.record_event(
            lead,
            "task.created",
            {"task": task.pk, "title": task.title, "due_at": due_at.isoformat()},
            actor=actor_name(by),
        )
    return task


def complete_task(task: Task, *, by: AbstractBaseUser) -> Task:
    if task.done_at:
        return task
    with transaction.atomic():
        task.done_at = timezone.now()
        Task.objects.filter(pk=task.pk).update(done_at=task.done_at)
        core.record_event(
            task.lead, "task.done", {"task": task.pk, "title": task.title}, actor=actor_name(by)
        )
        touch_deals(task.lead_id, task.done_at)
    return task


def touch_deals(lead_id: int, at) -> None:
    """Work on a lead is work on its open deals: they are not stalled."""
    Deal.objects.filter(lead_id=lead_id, closed_at__isnull=True, last_activity_at__lt=at).update(
        last_activity_at=at
    )


def note_outside_activity(events: list[Event]) -> None:
    for event in events:
        touch_deals(event.lead_id, event.occurred_at)
