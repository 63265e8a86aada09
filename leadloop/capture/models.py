"""What capture owns: forms and their versions, raw submissions, page views, and import jobs."""

from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from leadloop.capture.definitions import normalise_definition
from leadloop.capture.origins import forget_allowed_domains
from leadloop.core.models import Lead, Source, Visitor


class Form(models.Model):
    """A capture form. `definition` is the working copy; every change to it makes a FormVersion."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    definition = models.JSONField(help_text="Steps, fields, logic and settings (see docs/forms.md)")
    version = models.PositiveIntegerField(default=0, editable=False)
    source = models.ForeignKey(
        Source,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text="Leads from this form are attributed to this source",
    )
    download = models.FileField(
        upload_to="downloads/", blank=True, help_text="A lead magnet delivered after submit"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.definition = normalise_definition(self.definition)
        with transaction.atomic():
            super().save(*args, **kwargs)
            latest = self.versions.order_by("-number").first()
            if latest is None or latest.definition != self.definition:
                number = (latest.number if latest else 0) + 1
                FormVersion.objects.create(form=self, number=number, definition=self.definition)
                Form.objects.filter(pk=self.pk).update(version=number)
                self.version = number
        # Now for this process, and again once committed so no request caches the old domains.
        forget_allowed_domains()
        transaction.on_commit(forget_allowed_domains)

    @property
    def current_version(self) -> "FormVersion":
        return self.versions.get(number=self.version)


class FormVersion(models.Model):
    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["form", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["form", "number"], name="one_number_per_form_version")
        ]

    def __str__(self) -> str:
        return f"{self.form.slug} v{self.number}"


class CaptureChannel(models.TextChoices):
    LANDING_PAGE = "landing_page", "Hosted landing page"
    WIDGET = "widget", "Embedded widget"
    POPUP = "popup", "Popup widget"
    CHAT = "chat", "Conversational"
    API = "api", "API"
    IMPORT = "import", "CSV import"


class SubmissionStatus(models.TextChoices):
    RECEIVED = "received", "Received, not yet processed"
    ACCEPTED = "accepted", "Accepted as a new lead"
    MERGED = "merged", "Merged into an existing lead"
    REJECTED = "rejected", "Rejected (invalid data)"
    DUPLICATE = "duplicate", "Rejected as a duplicate (policy)"
    FAILED = "failed", "Failed (will be retried)"


RETRY_BACKOFF = [
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
]


class Submission(models.Model):
    """The raw payload exactly as it arrived, stored before anything else so nothing is lost."""

    channel = models.CharField(max_length=20, choices=CaptureChannel.choices)
    form = models.ForeignKey(Form, null=True, blank=True, on_delete=models.SET_NULL)
    form_version = models.ForeignKey(FormVersion, null=True, blank=True, on_delete=models.SET_NULL)
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL)
    raw = models.TextField(help_text="The body as received")
    status = models.CharField(
        max_length=10, choices=SubmissionStatus.choices, default=SubmissionStatus.RECEIVED
    )
    errors = models.JSONField(default=list, blank=True)
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL)
    is_partial = models.BooleanField(default=False)
    idempotency_key = models.CharField(max_length=200, blank=True)
    visitor_key = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    origin = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="one_submission_per_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"Submission {self.pk} ({self.channel}, {self.status})"

    @property
    def is_settled(self) -> bool:
        return self.status in {
            SubmissionStatus.ACCEPTED,
            SubmissionStatus.MERGED,
            SubmissionStatus.REJECTED,
        }


class PageView(models.Model):
    """An anonymous page view, stitched onto the lead's timeline once the visitor is known."""

    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="page_views")
    url = models.URLField(max_length=2000)
    title = models.CharField(max_length=300, blank=True)
    referrer = models.URLField(max_length=2000, blank=True)
    tracking = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    stitched = models.BooleanField(default=False)

    class Meta:
        ordering = ["occurred_at"]
        indexes = [models.Index(fields=["visitor", "stitched"])]

    def __str__(self) -> str:
        return self.url


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportKind(models.TextChoices):
    LEADS = "leads", "Leads"
    OUTCOMES = "outcomes", "Deal outcomes (won or lost)"


class ImportJob(models.Model):
    """A CSV import. The row is the record: progress is saved per batch, so a crash resumes.

    An outcomes import keeps its counts in the same columns: `created_count` is the outcomes
    recorded, `merged_count` those already on the lead's timeline from an earlier import."""

    kind = models.CharField(max_length=10, choices=ImportKind.choices, default=ImportKind.LEADS)
    file = models.FileField(upload_to="imports/")
    mapping = models.JSONField(default=dict, blank=True, help_text="CSV column → field")
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL)
    default_region = models.CharField(max_length=2, default="US")
    dry_run = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    merged_count = models.PositiveIntegerField(default=0)
    quarantined_count = models.PositiveIntegerField(
        default=0, help_text="Rows the quality layer judged invalid: kept, in the review queue"
    )
    rejected_count = models.PositiveIntegerField(default=0)
    rejects = models.FileField(upload_to="imports/", blank=True, help_text="Rejected rows and why")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.status})"
