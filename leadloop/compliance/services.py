"""Recording what a person agreed to."""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from leadloop.compliance.models import (
    AccessLog,
    Consent,
    ConsentChannel,
    Suppression,
    SuppressionReason,
)
from leadloop.core import rows
from leadloop.core import services as core
from leadloop.core.models import Lead, Message
from leadloop.core.types import ConsentGiven


def record_consents(pairs: Iterable[tuple[Lead, ConsentGiven]]) -> list[Consent]:
    return rows.insert(
        [
            Consent(
                lead=lead,
                channel=given.channel,
                granted=given.granted,
                wording=given.wording,
                page_url=given.page_url[:2000],
                ip_address=given.ip_address,
                user_agent=given.user_agent[:500],
                evidence=given.evidence,
            )
            for lead, given in pairs
        ]
    )


def current_consent(lead: Lead, channel: str) -> bool:
    """The latest word on a channel wins: a later refusal withdraws an earlier grant."""
    latest = lead.consents.filter(channel=channel).order_by("-occurred_at", "-id").first()
    return bool(latest and latest.granted)


WITHDRAWN_EVENTS = {ConsentChannel.EMAIL: "email.unsubscribed", ConsentChannel.SMS: "sms.opted_out"}


def withdraw(lead: Lead, channel: str, *, wording: str, evidence: dict | None = None) -> None:
    """The person said no more on this channel: a refusal on record (the latest word wins),
    the address suppressed for marketing, and an event that ends their workflows."""
    with transaction.atomic():
        record_consents([(lead, ConsentGiven(channel, False, wording, evidence=evidence or {}))])
        address = lead.email.lower() if channel == ConsentChannel.EMAIL else lead.phone
        if address:
            reason = (
                SuppressionReason.UNSUBSCRIBED
                if channel == ConsentChannel.EMAIL
                else SuppressionReason.STOPPED
            )
            suppress(address, channel, reason, wording)
        core.record_event(lead, WITHDRAWN_EVENTS[channel], {"wording": wording}, actor="recipient")


def suppress(address: str, channel: str, reason: str, detail: str = "") -> None:
    """A bounce stays a bounce: a later unsubscribe or complaint about the address would
    otherwise let transactional mail go to a mailbox that does not exist."""
    bounced = Suppression.objects.filter(
        address=address, channel=channel, reason=SuppressionReason.BOUNCED
    )
    if reason != SuppressionReason.BOUNCED and bounced.exists():
        return
    Suppression.objects.update_or_create(
        address=address, channel=channel, defaults={"reason": reason, "detail": detail[:2000]}
    )


def may_not_send(message: Message) -> str | None:
    """The outbox's gate: why a message to a lead must not go, or None. A bounced address
    gets nothing; marketing needs no unsubscribe, complaint or refusal on record; an SMS needs
    the person's SMS consent and no STOP."""
    if not message.to_lead or message.lead_id is None:
        return None
    channel = ConsentChannel.SMS if message.channel == "sms" else ConsentChannel.EMAIL
    address = message.to.lower() if channel == ConsentChannel.EMAIL else message.to
    suppressed = Suppression.objects.filter(address=address, channel=channel).first()
    if suppressed and (suppressed.reason == SuppressionReason.BOUNCED or message.marketing):
        return f"suppressed: {suppressed.get_reason_display().lower()}"
    if channel == ConsentChannel.SMS and not current_consent(Lead(pk=message.lead_id), channel):
        return "no SMS consent on record"
    if message.marketing and _refused(message.lead_id, channel):
        return "the person withdrew consent"
    return None


def _refused(lead_id: int, channel: str) -> bool:
    latest = (
        Consent.objects.filter(lead_id=lead_id, channel=channel)
        .order_by("-occurred_at", "-id")
        .first()
    )
    return latest is not None and not latest.granted


def log_access(
    user: AbstractBaseUser,
    what: str,
    lead: Lead | None = None,
    count: int = 1,
    ip: str | None = None,
) -> AccessLog:
    """Record that `user` was shown a person's details (`lead`) or an export of `count` people."""
    return AccessLog.objects.create(
        user=user, lead=lead, what=what[:100], count=count, ip_address=ip
    )
