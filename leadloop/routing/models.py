"""Who owns a lead, and how fast they reach it: reps and teams with their availability, the
ordered assignment rules, and the durable work of routing (assignment requests and SLA timers),
each a row with a status and a due time. Routing's messages are core.Message rows."""

from datetime import time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from leadloop.core.conditions import parse_condition
from leadloop.core.models import Lead, WorkStatus

# How far ahead of this server a caller's clock may be when it reports a contact attempt.
CLOCK_SKEW = timedelta(minutes=5)
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError(
            f"{value!r} is not a time zone (use a name like Europe/Berlin)."
        ) from error


def _work_days(value: str) -> None:
    days = [d.strip() for d in value.split(",") if d.strip()]
    unknown = [d for d in days if d not in WEEKDAYS]
    if unknown:
        raise ValidationError(f"Unknown day(s) {', '.join(unknown)}: use {', '.join(WEEKDAYS)}.")


class Rep(models.Model):
    """A user who can own leads, with when they work and how many new leads a day they take."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rep"
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[_time_zone])
    work_days = models.CharField(
        max_length=40, default="Mon,Tue,Wed,Thu,Fri", validators=[_work_days]
    )
    work_starts = models.TimeField(default=time(9))
    work_ends = models.TimeField(default=time(17), help_text="Before the start for a night shift")
    daily_capacity = models.PositiveIntegerField(
        default=0, help_text="New leads a day; 0 is no limit"
    )
    away_from = models.DateTimeField(null=True, blank=True, help_text="Out of office from")
    away_until = models.DateTimeField(null=True, blank=True, help_text="Out of office until")
    webhook_url = models.URLField(
        blank=True, help_text="Incoming webhook (Slack-style) for new leads"
    )
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.get_username()


class Strategy(models.TextChoices):
    ROUND_ROBIN = "round_robin", "Round robin"
    WEIGHTED = "weighted", "Weighted round robin"
    LOAD_BALANCED = "load_balanced", "Fewest open leads"


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    strategy = models.CharField(
        max_length=20, choices=Strategy.choices, default=Strategy.ROUND_ROBIN
    )
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Alerted when a lead passes its first-contact SLA",
    )
    webhook_url = models.URLField(blank=True, help_text="Incoming webhook for the team's channel")
    # The membership (pk) that had the last turn: round robin goes on after it.
    last_turn = models.IntegerField(default=-1, editable=False)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    rep = models.ForeignKey(Rep, on_delete=models.CASCADE, related_name="memberships")
    position = models.PositiveIntegerField(default=0)
    weight = models.PositiveIntegerField(default=1, help_text="Share of leads, weighted strategy")
    # Smooth weighted round robin's running credit (nginx's algorithm): even spacing, no bursts.
    credit = models.IntegerField(default=0, editable=False)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["team", "rep"], name="one_membership_per_rep")
        ]

    def __str__(self) -> str:
        return f"{self.rep} in {self.team}"


def _condition(value: object) -> None:
    from pydantic import ValidationError as Invalid

    if value == {}:
        return  # every lead
    try:
        parse_condition(value)
    except Invalid as error:
        raise ValidationError(str(error)) from error


class AssignmentRule(models.Model):
    """If a lead meets `condition`, it goes to `rep` or to one of `team`; the first rule (by
    position) that can give the lead an available owner decides."""

    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveIntegerField(default=0)
    condition = models.JSONField(
        default=dict,
        validators=[_condition],
        help_text='e.g. {"fact": "country", "op": "in", "value": ["US", "CA"]}; {} is every lead',
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT)
    rep = models.ForeignKey(Rep, null=True, blank=True, on_delete=models.PROTECT)
    sla_minutes = models.PositiveIntegerField(default=5, help_text="First contact due within")
    escalate_after_minutes = models.PositiveIntegerField(
        default=10, help_text="After the manager is alerted, the lead moves to the next rep"
    )
    promise = models.CharField(
        max_length=300,
        blank=True,
        help_text="What happens next, told to the lead in the acknowledgement",
    )
    takes_over = models.BooleanField(
        default=False,
        help_text="Also takes a lead that already has an owner when the lead's stage changes "
        "and it meets this rule (e.g. new SQLs go to the account executives)",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if (self.team is None) == (self.rep is None):
            raise ValidationError("A rule sends leads to a team or to a rep (one of the two).")


def _template(value: str) -> None:
    from django.template import Template, TemplateSyntaxError

    try:
        Template(value)
    except TemplateSyntaxError as error:
        raise ValidationError(f"The template does not read: {error}") from error


class RoutingSettings(models.Model):
    """The one row of routing-wide settings."""

    fallback_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Takes every lead no rule places (the first active superuser when empty)",
    )
    sla_minutes = models.PositiveIntegerField(default=5, help_text="For leads no rule placed")
    escalate_after_minutes = models.PositiveIntegerField(default=10)
    acknowledge = models.BooleanField(default=True, help_text="Email each new lead at once")
    business_name = models.CharField(max_length=100, default="our team")
    promise = models.CharField(
        max_length=300, default="Someone from our team will call you within two hours."
    )
    ack_subject = models.CharField(
        max_length=200,
        default="Thanks, {{ first_name|default:'there' }}: we have your request",
        validators=[_template],
    )
    ack_body = models.TextField(
        default=(
            "Hello {{ first_name|default:'there' }},\n\n"
            "Thank you for getting in touch with {{ business_name }}. {{ promise }}\n\n"
            "{% if owner_name %}{{ owner_name }} will look after you.\n\n{% endif %}"
            "{{ business_name }}"
        ),
        help_text="Django template: first_name, last_name, business_name, promise, owner_name",
        validators=[_template],
    )
    ack_sms = models.CharField(
        max_length=320,
        blank=True,
        default="Thanks {{ first_name|default:'' }}! {{ promise }} - {{ business_name }}",
        help_text="Also acknowledge by SMS (to a lead who gave SMS consent); empty for email only",
        validators=[_template],
    )

    class Meta:
        verbose_name_plural = "routing settings"

    def __str__(self) -> str:
        return "Routing settings"

    @classmethod
    def current(cls) -> "RoutingSettings":
        """The one row (pk 1): get_or_create's insert races end in a re-read, never a second."""
        return cls.objects.get_or_create(pk=1)[0]


class AssignmentRequest(models.Model):
    """A lead to give an owner, written in its capture's transaction; `live` leads (not a CSV
    import) are also acknowledged, their owner notified and their SLA timed."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    live = models.BooleanField(default=True)
    status = models.CharField(max_length=10, choices=WorkStatus.choices, default=WorkStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"assign lead {self.lead_id} ({self.status})"


class Assignment(models.Model):
    """Append-only: every time a lead got an owner, from whom, by what and why."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="assignments")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    previous_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    rule = models.ForeignKey(AssignmentRule, null=True, blank=True, on_delete=models.SET_NULL)
    why = models.CharField(max_length=300)
    by = models.CharField(max_length=150, default="routing")
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-assigned_at"]
        indexes = [models.Index(fields=["owner", "assigned_at"])]

    def __str__(self) -> str:
        return f"lead {self.lead_id} → {self.owner} ({self.why})"


class TimerKind(models.TextChoices):
    ALERT_MANAGER = "alert_manager", "Alert the manager"
    REASSIGN = "reassign", "Reassign to the next rep"


class TimerStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    FIRED = "fired", "Fired"
    CANCELLED = "cancelled", "Cancelled (contacted or reassigned)"


class SlaTimer(models.Model):
    """A first-contact deadline. It fires once: the claim that fires it and what it does (an
    alert, a reassignment) commit together, so a restart neither loses nor repeats it."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="sla_timers")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="timers")
    kind = models.CharField(max_length=20, choices=TimerKind.choices)
    due_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=TimerStatus.choices, default=TimerStatus.PENDING
    )
    fired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at"]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for lead {self.lead_id} at {self.due_at:%Y-%m-%d %H:%M}"


class ContactChannel(models.TextChoices):
    CALL = "call", "Call"
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class ContactOutcome(models.TextChoices):
    REACHED = "reached", "Reached"
    NO_ANSWER = "no_answer", "No answer"
    VOICEMAIL = "voicemail", "Left a voicemail"
    WRONG_NUMBER = "wrong_number", "Wrong number"
    SENT = "sent", "Sent (email or SMS)"


class ContactAttempt(models.Model):
    """Append-only: a rep tried to reach the lead. The first one stops the SLA clock."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="contact_attempts")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=10, choices=ContactChannel.choices)
    outcome = models.CharField(max_length=20, choices=ContactOutcome.choices)
    note = models.TextField(blank=True)
    attempted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-attempted_at"]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to lead {self.lead_id}: {self.get_outcome_display()}"

    def clean(self) -> None:
        if self.attempted_at and self.attempted_at > timezone.now() + CLOCK_SKEW:
            raise ValidationError({"attempted_at": "An attempt cannot be in the future."})


class NoticeKind(models.TextChoices):
    """The kinds of message routing sends (core.Message.kind)."""

    ACKNOWLEDGEMENT = "acknowledgement", "Acknowledgement to the lead"
    NEW_LEAD = "new_lead", "New lead to its owner"
    RETURNED = "returned", "A lead came back to its owner"
    SLA_MISSED = "sla_missed", "SLA missed, to the manager"
