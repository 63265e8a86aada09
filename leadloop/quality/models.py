"""What quality owns: the review queue's view of leads, and provider lookups as durable work."""

from datetime import timedelta

from django.db import models
from django.utils import timezone

from leadloop.core.models import Lead

ENRICHMENT_BACKOFF = [timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1)]


class QuarantinedLead(Lead):
    """Invalid leads waiting for a person: the admin's review queue."""

    class Meta:
        proxy = True
        verbose_name = "quarantined lead"


class EnrichmentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (gave up)"


class EnrichmentRequest(models.Model):
    """One lookup of a lead at the configured HTTP enrichment provider. Written in the lead's
    transaction; the task claims it, the sweep finds it again if the task is lost."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="enrichment_requests")
    provider = models.CharField(max_length=200)
    status = models.CharField(
        max_length=10, choices=EnrichmentStatus.choices, default=EnrichmentStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    last_error = models.TextField(blank=True)
    response = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.provider} for lead {self.lead_id} ({self.status})"
