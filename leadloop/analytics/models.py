"""What the measure layer keeps of its own: what was spent on each campaign and day, and the
business's own target ranges for the KPI framework (seed 001). Everything else it reports is
read from the records the other layers write (leads, events, deals), through its roll-ups."""

from django.db import models
from django.utils import timezone

from leadloop.core.models import Channel, Source


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


# Experiments (leadloop/analytics/experiments.py) — migration 0003_experiments.


# The system audit (leadloop/analytics/audit.py) — migration 0004_audit.
