"""What the measure layer keeps of its own: what was spent on each campaign and day, and the
business's own target ranges for the KPI framework (seed 001). Everything else it reports is
read from the records the other layers write (leads, events, deals), through its roll-ups."""

from decimal import Decimal

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
    """The one row saying how fresh the roll-ups are: when the refresh last ran, and the last
    event id it had read (the next refresh re-reads a margin below it)."""

    refreshed_at = models.DateTimeField(null=True)
    event_watermark = models.BigIntegerField(default=0)

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


# The system audit (leadloop/analytics/audit.py) — migration 0004_audit.
