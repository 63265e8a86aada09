"""The records every layer shares: the lead, its company, where it came from, and its timeline."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.text import slugify


class LifecycleStage(models.TextChoices):
    SUBSCRIBER = "subscriber", "Subscriber"
    LEAD = "lead", "Lead"
    MQL = "mql", "Marketing qualified"
    SQL = "sql", "Sales qualified"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    DISQUALIFIED = "disqualified", "Disqualified"
    RECYCLED = "recycled", "Recycled"


class Channel(models.TextChoices):
    ORGANIC = "organic", "Organic search"
    PAID_SEARCH = "paid_search", "Paid search"
    PAID_SOCIAL = "paid_social", "Paid social"
    SOCIAL = "social", "Organic social"
    EMAIL = "email", "Email"
    REFERRAL = "referral", "Referral"
    AFFILIATE = "affiliate", "Affiliate / publisher"
    DIRECT = "direct", "Direct"
    API = "api", "API integration"
    IMPORT = "import", "Import"
    OTHER = "other", "Other"


class DuplicatePolicy(models.TextChoices):
    UPDATE = "update", "Update the existing lead (previous values kept in its timeline)"
    LINK = "link", "Create a new lead linked to the existing one as a duplicate"
    REJECT = "reject", "Reject the submission"


API_KEY_PREFIX = "ll_"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Source(models.Model):
    """Where leads come from: a channel and campaign, and the API key a lead source posts with."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.API)
    campaign = models.CharField(max_length=200, blank=True)
    api_key_hash = models.CharField(
        max_length=64, unique=True, null=True, blank=True, editable=False
    )
    api_key_hint = models.CharField(max_length=12, blank=True, editable=False)
    duplicate_policy = models.CharField(
        max_length=10,
        choices=DuplicatePolicy.choices,
        default=DuplicatePolicy.UPDATE,
        help_text="What a lead from this source that is already a lead does",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.slug:
            self.slug = slugify(self.name)[:200] or secrets.token_hex(4)
        super().save(*args, **kwargs)

    def issue_api_key(self) -> str:
        """Replace the source's key with a new one; only its hash is stored, so show it once."""
        key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        self.api_key_hash = hash_api_key(key)
        self.api_key_hint = key[:10]
        self.save(update_fields=["api_key_hash", "api_key_hint"])
        return key


class Company(models.Model):
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]
        # Capture finds a lead's company by its name in any case, inside the write
        # transaction: without this index that was a scan of every company.
        indexes = [models.Index(Lower("name"), name="company_name_lower")]

    def __str__(self) -> str:
        return self.name


class CaptureState(models.TextChoices):
    PARTIAL = "partial", "Partial (funnel abandoned or in progress)"
    COMPLETE = "complete", "Complete"


class Quality(models.TextChoices):
    VALID = "valid", "Valid"
    SUSPECT = "suspect", "Suspect"
    INVALID = "invalid", "Invalid (quarantined)"


class LeadQuerySet(models.QuerySet):
    def workable(self) -> "LeadQuerySet":
        """Leads the loop may route, nurture and sell: not quarantined, not merged away."""
        return self.exclude(quality=Quality.INVALID).filter(merged_at__isnull=True)

    def quarantined(self) -> "LeadQuerySet":
        return self.filter(quality=Quality.INVALID, merged_at__isnull=True)


class Lead(models.Model):
    """A person who raised a hand. Contact keys are normalised so duplicates meet on them.

    `quality` is the verdict of the quality layer, with its reasons and the raw signals it
    judged; an invalid lead is quarantined (kept, reviewed, excluded from the loop).
    `enrichment` holds what was looked up about the lead, each value with where it came from,
    apart from what the person typed."""

    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    email_key = models.CharField(max_length=254, blank=True, db_index=True, editable=False)
    phone = models.CharField(max_length=20, blank=True, db_index=True, help_text="E.164")
    name_key = models.CharField(max_length=200, blank=True, db_index=True, editable=False)
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.SET_NULL)
    custom_fields = models.JSONField(default=dict, blank=True)
    lifecycle_stage = models.CharField(
        max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.LEAD
    )
    capture_state = models.CharField(
        max_length=10, choices=CaptureState.choices, default=CaptureState.COMPLETE
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL)
    first_touch = models.JSONField(default=dict, blank=True)
    last_touch = models.JSONField(default=dict, blank=True)
    quality = models.CharField(
        max_length=10, choices=Quality.choices, default=Quality.VALID, db_index=True
    )
    quality_reasons = models.JSONField(default=list, blank=True)
    quality_signals = models.JSONField(default=dict, blank=True)
    enrichment = models.JSONField(default=dict, blank=True)
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="duplicates",
        help_text="The lead this one repeats (a linked duplicate, or the lead it was merged into)",
    )
    merged_at = models.DateTimeField(null=True, blank=True)
    # The scoring layer's latest judgement, kept here so every layer can sort and filter by it;
    # `score_drivers` says which rules gave how many points.
    score = models.IntegerField(default=0, db_index=True)
    score_fit = models.IntegerField(default=0)
    score_engagement = models.IntegerField(default=0)
    score_intent = models.IntegerField(default=0)
    score_drivers = models.JSONField(default=list, blank=True)
    # The active predictive model's calibrated probability of converting, when there is one.
    conversion_probability = models.FloatField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    captured_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Speed to lead: when the lead was first answered, first given an owner, first contacted.
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    first_contact_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-captured_at"]
        constraints = [
            # One primary lead per mailbox; linked duplicates and merged leads share its key.
            models.UniqueConstraint(
                fields=["email_key"],
                condition=~models.Q(email_key="") & models.Q(duplicate_of__isnull=True),
                name="one_primary_lead_per_email_key",
            )
        ]
        # The dashboard's "pipeline right now by stage" is a GROUP BY over this, live: it
        # covers the query (workable leads, cut by owner or source) so no row is read.
        indexes = [
            models.Index(
                fields=["lifecycle_stage", "quality", "merged_at", "owner", "source"],
                name="lead_stage_quality",
            ),
            # The measure layer's refresh finds the leads changed in the last minute by it.
            models.Index(fields=["updated_at"], name="lead_updated_at"),
            # Leads still waiting for a first contact, by capture: the funnel's "stuck past
            # SLA" reads only these, however many leads were contacted.
            models.Index(
                fields=["captured_at"],
                condition=models.Q(first_contact_at__isnull=True),
                name="lead_awaiting_contact",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or self.phone or f"Lead {self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Visitor(models.Model):
    """An anonymous browser, known by the first-party id the widget and pages keep in a cookie."""

    key = models.CharField(max_length=64, unique=True)
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The funnel counts the visitors first seen in a period.
        indexes = [models.Index(fields=["first_seen_at"], name="visitor_first_seen")]

    def __str__(self) -> str:
        return self.key


class AppendOnlyError(Exception):
    pass


# A deal's outcome on the lead's timeline: what the predictive model learns from, what the
# outcomes import writes, and (later) what the sales pipeline writes when a deal closes.
WON, LOST = "deal.won", "deal.lost"


class Event(models.Model):
    """One thing that happened to a lead. Never edited: the timeline is the ground truth."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [
            models.Index(fields=["lead", "occurred_at"]),
            models.Index(fields=["type", "occurred_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} @ {self.occurred_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Events are append-only")
        super().save(*args, **kwargs)


class MessageChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    WEBHOOK = "webhook", "Webhook"


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Being handed over"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Not sent (unsubscribed, no consent, or suppressed)"


class Message(models.Model):
    """One message to send: an email, an SMS or a webhook call, written in the transaction
    that caused it and sent by the worker (core/outbox.py). `key` is its idempotency key: the
    email's Message-ID, the webhook's X-Leadloop-Delivery."""

    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    to_lead = models.BooleanField(default=True, help_text="To the lead itself (not to staff)")
    marketing = models.BooleanField(
        default=False, help_text="Needs consent; an unsubscribe stops it"
    )
    kind = models.CharField(
        max_length=40, help_text="acknowledgement, new_lead, nurture, broadcast…"
    )
    origin = models.CharField(
        max_length=100, blank=True, db_index=True, help_text="What sent it, e.g. workflow 3 step 2"
    )
    channel = models.CharField(max_length=10, choices=MessageChannel.choices)
    to = models.CharField(max_length=500)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    html = models.TextField(blank=True, help_text="Empty: the text, escaped")
    headers = models.JSONField(default=dict, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    key = models.CharField(max_length=100, unique=True)
    status = models.CharField(
        max_length=10, choices=MessageStatus.choices, default=MessageStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    last_error = models.TextField(blank=True)
    provider_id = models.CharField(max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.channel} to {self.to} ({self.status})"


class WorkStatus(models.TextChoices):
    """The life of a row of durable work (core/durable.py)."""

    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (gave up)"


class EventDelivery(models.Model):
    """An event that a layer reacts to (core/reactions.py), written in the event's own
    transaction: each consumer handles each event once, even across a crash."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    consumer = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=WorkStatus.choices, default=WorkStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "event deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"event {self.event_id} to {self.consumer} ({self.status})"


class LeadTag(models.Model):
    """A label on a lead (by a person, a workflow or an import); adding and removing one are
    events, so workflows can start on them."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="tags")
    tag = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lead", "tag"], name="one_tag_per_lead")]
        indexes = [models.Index(fields=["tag"])]

    def __str__(self) -> str:
        return self.tag


class Task(models.Model):
    """Something a person must do about a lead, by a time: made by hand, by a workflow or by
    an SLA rule; shown in the owner's day."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="tasks")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
    )
    title = models.CharField(max_length=200)
    due_at = models.DateTimeField(db_index=True)
    origin = models.CharField(max_length=100, blank=True, help_text="Who or what made it")
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True, help_text="Its owner was emailed")

    class Meta:
        ordering = ["due_at"]
        indexes = [models.Index(fields=["owner", "done_at", "due_at"])]

    def __str__(self) -> str:
        return self.title
