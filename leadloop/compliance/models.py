"""Consent is evidence, not a flag: what the person saw, on which page, and what they agreed to."""

from django.conf import settings
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


class SuppressionReason(models.TextChoices):
    BOUNCED = "bounced", "Bounced (the address does not take mail)"
    COMPLAINED = "complained", "Marked as spam"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    STOPPED = "stopped", "Replied STOP"


class Suppression(models.Model):
    """An address nothing (bounced) or no marketing (the rest) may be sent to, whichever lead
    it belongs to: a bounce or a STOP arrives about an address, not a lead."""

    address = models.CharField(max_length=254, help_text="Email in lower case, or E.164 phone")
    channel = models.CharField(max_length=10, choices=ConsentChannel.choices)
    reason = models.CharField(max_length=20, choices=SuppressionReason.choices)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["address", "channel"], name="one_suppression_per_address"
            )
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.get_reason_display()})"


class AccessLog(models.Model):
    """Who looked at a person's details, or exported them, and when: the record a privacy
    request or an audit asks for. Written by the sales workspace; never edited."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="access_log"
    )
    what = models.CharField(max_length=100, help_text="The page or export that showed the data")
    count = models.PositiveIntegerField(default=1, help_text="People shown (an export: many)")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["lead", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.user} viewed {self.what} at {self.occurred_at:%Y-%m-%d %H:%M}"
