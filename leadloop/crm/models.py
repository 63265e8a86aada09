"""The sales side of a lead: pipelines and deals, meetings booked on them, proposals sent from
them, and the tasks a won deal starts. What happened is also on the lead's timeline as events;
these rows are the current state that the board, the booking page and the proposal link read."""

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone

from leadloop.core.models import Lead
from leadloop.routing.models import Rep, Team


class OnboardingTemplate(models.Model):
    """The tasks a won deal starts (seed 000: the welcome call, the first visit, the review)."""

    name = models.CharField(max_length=100, unique=True)

    def __str__(self) -> str:
        return self.name


class OnboardingItem(models.Model):
    template = models.ForeignKey(OnboardingTemplate, on_delete=models.CASCADE, related_name="items")
    title = models.CharField(max_length=200)
    due_days = models.PositiveIntegerField(default=1, help_text="Days after the deal is won")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title


class Pipeline(models.Model):
    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveIntegerField(default=0)
    stall_days = models.PositiveIntegerField(
        default=14, help_text="An open deal with no activity for this many days is stalled"
    )
    onboarding = models.ForeignKey(
        OnboardingTemplate,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text="Tasks to create when a deal is won",
    )
    welcome_subject = models.CharField(max_length=200, blank=True, default="Welcome aboard")
    welcome_body = models.TextField(
        blank=True,
        default=(
            "Hi {{ lead.first_name|default:'there' }},\n\nThank you for choosing us. "
            "{{ owner.name|default:'Our team' }} will be in touch within one business day to plan the next steps.\n"
        ),
        help_text="Emailed to the customer when a deal is won; empty sends nothing",
    )

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class StageOutcome(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Stage(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    probability = models.PositiveSmallIntegerField(
        default=10, validators=[MaxValueValidator(100)], help_text="Chance of winning, percent"
    )
    outcome = models.CharField(
        max_length=4, choices=StageOutcome.choices, default=StageOutcome.OPEN
    )

    class Meta:
        ordering = ["pipeline", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "name"], name="stage_name_per_pipeline")
        ]

    def __str__(self) -> str:
        return f"{self.pipeline}: {self.name}"

    @property
    def is_open(self) -> bool:
        return self.outcome == StageOutcome.OPEN


class Deal(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="deals")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="deals")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals")
    title = models.CharField(max_length=200)
    value = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deals",
    )
    expected_close = models.DateField(null=True, blank=True)
    # Its place in the stage's column: the board's order, kept by drag and drop.
    position = models.FloatField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    stage_entered_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    lost_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["pipeline", "stage", "position"]),
            models.Index(fields=["owner", "closed_at"]),
            models.Index(fields=["closed_at", "last_activity_at"]),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def weighted_value(self) -> Decimal:
        return (self.value * self.stage.probability / 100).quantize(Decimal("0.01"))


class BookingPage(models.Model):
    """A public page where a lead picks a time with one rep, or with whoever of a team is
    free. Its link is what nurture emails and texts send (the lead's `booking_url`)."""

    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200, default="Book a call")
    rep = models.ForeignKey(Rep, null=True, blank=True, on_delete=models.CASCADE)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE)
    meeting_minutes = models.PositiveIntegerField(default=30)
    buffer_minutes = models.PositiveIntegerField(
        default=10, help_text="Kept free before and after each meeting"
    )
    notice_hours = models.PositiveIntegerField(
        default=2, help_text="The earliest slot offered is this far ahead"
    )
    horizon_days = models.PositiveIntegerField(default=14, help_text="How far ahead to offer")
    location = models.CharField(
        max_length=300, blank=True, help_text="Address, phone or video link sent in the invite"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rep__isnull=False, team__isnull=True)
                | models.Q(rep__isnull=True, team__isnull=False),
                name="booking_page_for_a_rep_or_a_team",
            )
        ]

    def __str__(self) -> str:
        return self.title


class MeetingStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    HELD = "held", "Held"
    NO_SHOW = "no_show", "No-show"
    CANCELLED = "cancelled", "Cancelled"


class Meeting(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="meetings")
    deal = models.ForeignKey(
        Deal, null=True, blank=True, on_delete=models.SET_NULL, related_name="meetings"
    )
    host = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    booking_page = models.ForeignKey(BookingPage, null=True, blank=True, on_delete=models.SET_NULL)
    title = models.CharField(max_length=200)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    location = models.CharField(max_length=300, blank=True)
    guest_note = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=MeetingStatus.choices, default=MeetingStatus.BOOKED
    )
    uid = models.CharField(max_length=64, unique=True, default=secrets.token_hex)
    created_at = models.DateTimeField(default=timezone.now)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at"]
        indexes = [
            models.Index(fields=["host", "starts_at"]),
            models.Index(fields=["status", "reminded_at", "starts_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.title} at {self.starts_at:%Y-%m-%d %H:%M}"


class ProposalStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    WITHDRAWN = "withdrawn", "Withdrawn"


def _proposal_token() -> str:
    return secrets.token_urlsafe(24)


class Proposal(models.Model):
    """A quote from a deal, read at a public link and accepted there by typed name."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="proposals")
    title = models.CharField(max_length=200)
    terms = models.TextField(blank=True)
    valid_until = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=ProposalStatus.choices, default=ProposalStatus.DRAFT
    )
    token = models.CharField(max_length=64, unique=True, default=_proposal_token)
    total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    first_viewed_at = models.DateTimeField(null=True, blank=True)
    view_count = models.PositiveIntegerField(default=0)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_name = models.CharField(max_length=200, blank=True)
    accepted_ip = models.GenericIPAddressField(null=True, blank=True)
    accepted_user_agent = models.CharField(max_length=500, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title


class ProposalLine(models.Model):
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("1"))
    unit_price = models.DecimalField(max_digits=14, decimal_places=2)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.description

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(Decimal("0.01"))
