"""Consent is evidence, not a flag: what the person saw, on which page, and what they agreed to."""

from django.db import models
from django.utils import timezone

from leadloop.core.models import AppendOnlyError, Lead


class ConsentChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    PHONE = "phone", "Phone calls"
    TERMS = "terms", "Terms / privacy policy"
    OTHER = "other", "Other"


class Consent(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=10, choices=ConsentChannel.choices)
    granted = models.BooleanField()
    wording = models.TextField(help_text="The exact text the person was shown")
    page_url = models.URLField(max_length=2000, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    evidence = models.JSONField(
        default=dict, blank=True, help_text="Form, version and submission that carried it"
    )
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["lead", "channel", "occurred_at"])]

    def __str__(self) -> str:
        verb = "granted" if self.granted else "refused"
        return f"{self.channel} {verb} @ {self.occurred_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Consent records are append-only")
        super().save(*args, **kwargs)
