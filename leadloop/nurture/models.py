"""Nurture's records: email templates, segments, workflows with their published versions, and
the enrollments that walk leads through them (each a durable row with its due time)."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.text import slugify
from pydantic import ValidationError as SchemaError

from leadloop.core.conditions import parse_condition
from leadloop.core.models import Lead
from leadloop.nurture.definitions import parse_steps, parse_trigger


def _checked(parse, value: object) -> None:
    try:
        parse(value)
    except (SchemaError, ValueError) as error:
        raise ValidationError(str(error)) from error


def validate_trigger(value: object) -> None:
    _checked(parse_trigger, value)


def validate_steps(value: object) -> None:
    _checked(parse_steps, value)


def validate_condition(value: object) -> None:
    _checked(parse_condition, value)


class EmailTemplate(models.Model):
    """An email with personalisation: Django template language over `lead` (its fields and
    custom_fields), `owner`, and `unsubscribe_url`. The HTML part is optional (the text,
    escaped, when empty); links in it are tracked."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    subject = models.CharField(max_length=200)
    text = models.TextField()
    html = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.slug = self.slug or slugify(self.name)
        super().save(*args, **kwargs)


class Segment(models.Model):
    """Leads that meet a condition (dynamic, evaluated as one indexed query), or a list that
    workflows and people add leads to (static)."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    condition = models.JSONField(
        null=True,
        blank=True,
        validators=[validate_condition],
        help_text="Empty for a static list",
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    @property
    def is_dynamic(self) -> bool:
        return self.condition is not None


class SegmentMember(models.Model):
    """A lead in a static segment, or (kept up to date by the segment sweep) a dynamic one,
    so "joined a segment" can start a workflow."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "lead"], name="one_membership_per_lead")
        ]

    def __str__(self) -> str:
        return f"lead {self.lead_id} in {self.segment}"


class Reentry(models.TextChoices):
    NEVER = "never", "Never: once per lead"
    AFTER_FINISHING = "after_finishing", "Again once the last run finished"


class Workflow(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    trigger = models.JSONField(validators=[validate_trigger])
    steps = models.JSONField(
        default=list,
        validators=[validate_steps],
        help_text="The draft; leads walk the published version",
    )
    goal = models.JSONField(
        null=True,
        blank=True,
        validators=[validate_condition],
        help_text="Leads who meet it leave, counted as converted",
    )
    reentry = models.CharField(max_length=20, choices=Reentry.choices, default=Reentry.NEVER)
    exit_on_sales_conversation = models.BooleanField(
        default=True, help_text="Leave when the lead becomes an SQL or opportunity, or is reached"
    )
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    @property
    def published(self) -> "WorkflowVersion | None":
        return self.versions.order_by("-number").first()


class WorkflowVersion(models.Model):
    """The steps as published: a lead walks the version it entered on, whatever is edited
    after, unless moved explicitly."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    steps = models.JSONField()
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.CharField(max_length=150, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="one_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.workflow} v{self.number}"


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    EXITED = "exited", "Exited"
    FAILED = "failed", "Failed (gave up)"


class Enrollment(models.Model):
    """A lead walking a workflow version. The row is the record: `position` is the next step,
    `due_at` when to take it; the worker claims due rows, runs steps until a wait, and saves
    the new position with what the steps did, in one transaction."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="enrollments")
    version = models.ForeignKey(WorkflowVersion, on_delete=models.PROTECT, related_name="+")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="enrollments")
    status = models.CharField(
        max_length=10, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    exit_reason = models.CharField(max_length=100, blank=True)
    position = models.PositiveIntegerField(default=0)
    steps_taken = models.PositiveIntegerField(default=0, help_text="Keys each step's messages")
    due_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    waiting_for = models.CharField(max_length=100, blank=True, db_index=True)
    waiting = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    entered_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["workflow", "lead"]),
        ]

    def __str__(self) -> str:
        return f"{self.lead} in {self.workflow} ({self.status})"


class StepRun(models.Model):
    """Append-only: a step a lead took, and what came of it (the report's per-step figures)."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(WorkflowVersion, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=20)
    outcome = models.CharField(max_length=100, blank=True)
    message_key = models.CharField(max_length=100, blank=True, db_index=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["version", "position"])]

    def __str__(self) -> str:
        return f"{self.kind} at step {self.position}: {self.outcome}"


class BroadcastStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    QUEUED = "queued", "Queued (sent when due)"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"


class Broadcast(models.Model):
    """A one-off email to a segment. The row is the record of the send: the worker claims it
    (a conditional UPDATE with a lease), queues its emails in batches of leads by id, and saves
    `last_lead_id` and the counts with each batch, so a worker that dies resumes after the last
    batch it committed (and an email's key, broadcast-<id>-<lead>, stops any repeat)."""

    name = models.CharField(max_length=200)
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="broadcasts")
    template = models.ForeignKey(
        EmailTemplate,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="broadcasts",
        help_text="Or the subject and text below",
    )
    subject = models.CharField(max_length=200, blank=True)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=BroadcastStatus.choices, default=BroadcastStatus.DRAFT
    )
    scheduled_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: as soon as it is queued"
    )
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_lead_id = models.BigIntegerField(default=0, editable=False)
    queued = models.PositiveIntegerField(default=0, help_text="Emails queued")
    withheld = models.PositiveIntegerField(
        default=0, help_text="Unsubscribed, suppressed or refused: not sent"
    )
    no_email = models.PositiveIntegerField(default=0, help_text="Leads without an address")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "scheduled_at"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not self.template_id and not (self.subject and self.text):
            raise ValidationError("A broadcast needs a template, or a subject and a text.")
