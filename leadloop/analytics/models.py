"""What the measure layer keeps of its own: what was spent on each campaign and day, and the
business's own target ranges for the KPI framework (seed 001). Everything else it reports is
read from the records the other layers write (leads, events, deals), through its roll-ups."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from leadloop.core.models import Channel, Lead, Source


class Spend(models.Model):
    """Ad spend for one campaign on one day, typed in or imported from an ad platform's CSV."""

    day = models.DateField()
    campaign = models.CharField(max_length=200, help_text="As the ad platform and UTM tags name it")
    source = models.ForeignKey(
        Source,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text="The lead source this campaign's leads arrive under",
    )
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.OTHER)
    cost = models.DecimalField(max_digits=14, decimal_places=2)
    clicks = models.PositiveIntegerField(default=0)
    impressions = models.PositiveIntegerField(default=0)
    imported_from = models.CharField(max_length=200, blank=True, help_text="File name, or empty")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day", "campaign"]
        constraints = [
            # A re-imported export updates its rows instead of counting the money twice.
            models.UniqueConstraint(fields=["day", "campaign", "channel"], name="one_spend_a_day")
        ]
        indexes = [models.Index(fields=["day", "source"])]

    def __str__(self) -> str:
        return f"{self.campaign} on {self.day}: {self.cost}"


class Target(models.Model):
    """The range a KPI should sit in for this business; seed 001's ranges until edited."""

    kpi = models.CharField(max_length=40, unique=True)
    low = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    high = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kpi}: {self.low}..{self.high}"


# Roll-ups (leadloop/analytics/rollups.py) — migration 0002_rollups.


class Dimensions(models.Model):
    """What every roll-up row is cut by: the lead's source, channel and campaign, the form it
    came through and its owner. Source and owner are plain numbers, not foreign keys: a roll-up
    is rebuilt from the records, it never holds them."""

    source_id = models.IntegerField(null=True)
    channel = models.CharField(max_length=20)
    campaign = models.CharField(max_length=200)
    form = models.CharField(max_length=200)
    owner_id = models.IntegerField(null=True)

    class Meta:
        abstract = True


class LeadJourney(Dimensions):
    """One lead's way through the funnel, derived from it and its timeline by the refresh:
    the cohort roll-up groups these rows. `reached` is the furthest funnel step it got to
    (rollups.STEPS' index); `*_at` when it first reached each step, as its timeline shows;
    each `*_after` the time from the previous step to that one."""

    lead = models.OneToOneField(
        Lead, primary_key=True, on_delete=models.CASCADE, related_name="analytics_journey"
    )
    day = models.DateField()
    reached = models.PositiveSmallIntegerField(default=0)
    captured_at = models.DateTimeField()
    contacted_at = models.DateTimeField(null=True)
    mql_at = models.DateTimeField(null=True)
    sql_at = models.DateTimeField(null=True)
    opportunity_at = models.DateTimeField(null=True)
    customer_at = models.DateTimeField(null=True)
    to_contact = models.DurationField(null=True)
    mql_after = models.DurationField(null=True)
    sql_after = models.DurationField(null=True)
    opportunity_after = models.DurationField(null=True)
    customer_after = models.DurationField(null=True)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))

    class Meta:
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"journey of lead {self.lead_id}"


class CohortDay(Dimensions):
    """The leads captured on one day with one set of dimensions, and what became of them.
    `contact_minutes` and `step_days` are fixed-bucket histograms (rollups.MINUTE_BUCKETS,
    rollups.DAY_BUCKETS) that medians are read from."""

    day = models.DateField()
    leads = models.PositiveIntegerField(default=0)
    mql = models.PositiveIntegerField(default=0)
    sql = models.PositiveIntegerField(default=0)
    opportunity = models.PositiveIntegerField(default=0)
    customers = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"))
    contacted = models.PositiveIntegerField(default=0)
    contact_minutes = models.JSONField(default=list)
    step_days = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.leads} leads captured on {self.day}"


class ActivityDay(Dimensions):
    """What happened on one day to leads with one set of dimensions: proposals sent and
    accepted, deals won (with their revenue), and stages left (with the time spent in them)."""

    day = models.DateField()
    kind = models.CharField(max_length=40)
    stage = models.CharField(max_length=20, blank=True)
    count = models.PositiveIntegerField(default=0)
    amount = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"))
    duration = models.DurationField(null=True)

    class Meta:
        indexes = [models.Index(fields=["day", "kind"])]

    def __str__(self) -> str:
        return f"{self.count} {self.kind} on {self.day}"


class RollupState(models.Model):
    """The one row saying how fresh the roll-ups are: when the refresh last ran, the last
    event id it had read, and the one the run before had read (where the next run reads from)."""

    refreshed_at = models.DateTimeField(null=True)
    event_watermark = models.BigIntegerField(default=0)
    reread_from = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"roll-ups refreshed at {self.refreshed_at}"

    @classmethod
    def current(cls) -> "RollupState":
        return cls.objects.get_or_create(pk=1)[0]


class MeasureSettings(models.Model):
    """Business figures the KPIs need that no record holds: the gross margin on revenue."""

    gross_margin = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("50"), help_text="Percent of revenue"
    )

    def __str__(self) -> str:
        return f"gross margin {self.gross_margin}%"

    @classmethod
    def current(cls) -> "MeasureSettings":
        return cls.objects.get_or_create(pk=1)[0]


# Experiments (leadloop/analytics/experiments.py) — migration 0003_experiments.


class ExperimentKind(models.TextChoices):
    FORM = "form", "Form (widget, popup, chat)"
    LANDING_PAGE = "landing_page", "Landing page (the hosted page)"
    EMAIL_SUBJECT = "email_subject", "Email subject line"


class ExperimentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    DECIDED = "decided", "Decided: everyone gets the winner"
    STOPPED = "stopped", "Stopped"


class ExperimentMetric(models.TextChoices):
    LEAD = "lead", "Conversion to lead (opens, for a subject line)"
    SQL = "sql", "Reached sales-qualified"
    WON = "won", "Won a deal"
    REVENUE = "revenue", "Revenue per visitor or recipient"


class Experiment(models.Model):
    """An A/B test of a form or landing page (its variants are versions of the form) or of the
    subject of one send_email step of a workflow (the step's label names it)."""

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=ExperimentKind.choices)
    form = models.ForeignKey(
        "capture.Form", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    workflow = models.ForeignKey(
        "nurture.Workflow", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    step_label = models.CharField(
        max_length=50, blank=True, help_text="The label of the workflow's send_email step"
    )
    status = models.CharField(
        max_length=10, choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT
    )
    metric = models.CharField(
        max_length=10,
        choices=ExperimentMetric.choices,
        default=ExperimentMetric.SQL,
        help_text="What decides the winner",
    )
    min_sample = models.PositiveIntegerField(
        default=200, help_text="Visitors or recipients each variant needs before reading it"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True)
    winner = models.ForeignKey(
        "Variant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One running test per place, so a visitor or recipient has one variant to get.
            models.UniqueConstraint(
                fields=["form", "kind"],
                condition=models.Q(status="running", form__isnull=False),
                name="one_running_experiment_per_form",
            ),
            models.UniqueConstraint(
                fields=["workflow", "step_label"],
                condition=models.Q(status="running", workflow__isnull=False),
                name="one_running_experiment_per_step",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tests_email(self) -> bool:
        return self.kind == ExperimentKind.EMAIL_SUBJECT

    def clean(self) -> None:
        if self.tests_email and not (self.workflow_id and self.step_label):
            raise ValidationError("A subject line test names a workflow and its step's label.")
        if not self.tests_email and not self.form_id:
            raise ValidationError("A form or landing page test names its form.")
        if not self.tests_email and self.workflow_id:
            raise ValidationError("A form or landing page test names no workflow.")


class Variant(models.Model):
    """One arm of a test: a version of the form to serve, or a subject line to send."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    key = models.CharField(max_length=10, help_text='"A", "B", ...')
    name = models.CharField(max_length=100, blank=True)
    is_control = models.BooleanField(default=False)
    weight = models.PositiveSmallIntegerField(
        default=1, help_text="Share of the traffic, relative to the other variants' weights"
    )
    form_version = models.ForeignKey(
        "capture.FormVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    subject = models.CharField(
        max_length=200, blank=True, help_text="Empty for the control: the step's own subject"
    )

    class Meta:
        ordering = ["experiment", "-is_control", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "key"], name="one_variant_key_per_experiment"
            ),
            models.UniqueConstraint(
                fields=["experiment"],
                condition=models.Q(is_control=True),
                name="one_control_per_experiment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.name}" if self.name else self.key

    def clean(self) -> None:
        experiment = self.experiment
        if experiment.tests_email:
            if not (self.subject or self.is_control):
                raise ValidationError("Give this variant its subject line.")
        elif self.form_version_id is None:
            raise ValidationError("Choose the version of the form this variant shows.")
        elif self.form_version.form_id != experiment.form_id:
            raise ValidationError("That version belongs to another form.")


class ExperimentAssignment(models.Model):
    """Which variant a visitor (forms, landing pages) or a lead (subject lines) was given, once
    and for good. `message_key` is the email that carried a tested subject, to count its open."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="assignments")
    visitor_key = models.CharField(max_length=64, blank=True)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    message_key = models.CharField(max_length=100, blank=True)
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "visitor_key"],
                condition=~models.Q(visitor_key=""),
                name="one_assignment_per_visitor",
            ),
            models.UniqueConstraint(
                fields=["experiment", "lead"],
                condition=models.Q(lead__isnull=False),
                name="one_assignment_per_lead",
            ),
        ]
        indexes = [models.Index(fields=["experiment", "variant"], name="assignment_by_variant")]

    def __str__(self) -> str:
        return f"{self.visitor_key or self.lead_id} -> {self.variant}"


# The system audit (leadloop/analytics/audit.py) — migration 0004_audit.


class AuditReply(models.TextChoices):
    YES = "yes", "Yes"
    PARTLY = "partly", "Partly"
    NO = "no", "No"


class AuditAnswer(models.Model):
    """A person's answer to one of the audit's questions the data cannot answer. Never edited:
    answering again adds a row, the latest is the answer, the earlier ones its history."""

    question = models.CharField(max_length=40, help_text="The question's key in audit.py")
    reply = models.CharField(max_length=6, choices=AuditReply.choices)
    note = models.TextField(blank=True, max_length=2000)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-answered_at", "-id"]
        indexes = [models.Index(fields=["question", "answered_at"])]

    def __str__(self) -> str:
        return f"{self.question}: {self.reply}"
