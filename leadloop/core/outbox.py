"""The one way leadloop sends anything: Message rows (core.models.Message) written with their
cause, handed over by the worker's pass (`send_due`): emails through Django's email backend on
one connection per pass, SMS through the configured provider (core/sms.py), webhooks signed.

Sending is at most once. A message is marked `sending` (committed) before it is handed over
and `sent` after; a failure that says it was not taken (connection refused, a 4xx/5xx) is
retried with backoff. A worker that dies between the two leaves it `sending`: after its lease
it is marked failed, "may have been sent", for a person to check, never sent again behind
anyone's back. The message's key is its email's Message-ID and its webhook's
X-Leadloop-Delivery, so a receiver can drop a repeat too.

Layers that must withhold a message (an unsubscribe, missing SMS consent, a bounced address)
register a gate; a withheld message is kept with status `suppressed` and the reason."""

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.html import linebreaks

from leadloop.core import durable, sms
from leadloop.core import services as core
from leadloop.core.models import Lead, Message, MessageChannel, MessageStatus

logger = logging.getLogger(__name__)

BATCH = 200
LEASE = timedelta(minutes=2)
BACKOFF = [timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1)]
WEBHOOK_TIMEOUT_SECONDS = 5

Gate = Callable[[Message], str | None]
_gates: list[Gate] = []


def register_gate(gate: Gate) -> None:
    """`gate(message)` returns why the message must not be sent, or None."""
    _gates.append(gate)


def queue(
    lead: Lead | None,
    channel: str,
    to: str,
    body: str,
    *,
    kind: str,
    to_lead: bool,
    subject: str = "",
    html: str = "",
    headers: dict | None = None,
    payload: dict | None = None,
    marketing: bool = False,
    origin: str = "",
    key: str = "",
    not_before: datetime | None = None,
) -> Message:
    """Write a message to send, in the caller's transaction. A caller that may run twice for
    one cause (a retried step) passes the same `key` both times and gets one message."""
    values = {
        "lead": lead,
        "channel": channel,
        "to": to,
        "body": body,
        "kind": kind,
        "to_lead": to_lead,
        "subject": subject[:300],
        "html": html,
        "headers": headers or {},
        "payload": payload or {},
        "marketing": marketing,
        "origin": origin[:100],
        "next_attempt_at": not_before or timezone.now(),
    }
    message, _ = Message.objects.get_or_create(key=key or uuid.uuid4().hex, defaults=values)
    return message


def send_due() -> int:
    """The worker's pass: hand every due message over (emails on one SMTP connection), and
    say how many it tried. Each is claimed just before it is handed over, so a worker that
    dies leaves at most the one in its hands in doubt; the rest stay pending for the next."""
    _give_up_on_lost_sends()
    due = Message.objects.filter(status=MessageStatus.PENDING, next_attempt_at__lte=timezone.now())
    batch = list(due.order_by("pk")[:BATCH])
    emails = [message for message in batch if message.channel == MessageChannel.EMAIL]
    handed = _send_emails(emails) if emails else 0
    for message in batch:
        if message.channel != MessageChannel.EMAIL and _take(message):
            _send_sms(message) if message.channel == MessageChannel.SMS else _call_webhook(message)
            handed += 1
    return handed


def _take(message: Message) -> bool:
    """Claim the message as `sending`, unless a gate withholds it."""
    return _claim(message) and not _withheld(message)


def _claim(message: Message) -> bool:
    now = timezone.now()
    return bool(
        Message.objects.filter(
            pk=message.pk, status=MessageStatus.PENDING, attempts=message.attempts
        ).update(
            status=MessageStatus.SENDING, attempts=F("attempts") + 1, next_attempt_at=now + LEASE
        )
    )


def _withheld(message: Message) -> bool:
    reasons = [reason for gate in _gates if (reason := gate(message))]
    if reasons:
        Message.objects.filter(pk=message.pk).update(
            status=MessageStatus.SUPPRESSED, next_attempt_at=None, last_error="; ".join(reasons)
        )
    return bool(reasons)


MAY_HAVE_BEEN_SENT = "it may have been sent. Check with the recipient before sending it again."


def _give_up_on_lost_sends() -> None:
    lost = Message.objects.filter(status=MessageStatus.SENDING, next_attempt_at__lt=timezone.now())
    lost.update(
        status=MessageStatus.FAILED,
        next_attempt_at=None,
        last_error=f"The worker stopped while handing this over: {MAY_HAVE_BEEN_SENT}",
    )


def _send_emails(messages: list[Message]) -> int:
    connection = get_connection()
    try:
        connection.open()
    except Exception as error:
        tried = [message for message in messages if _claim(message)]
        for message in tried:
            _retry(message, error)
        return len(tried)
    handed = 0
    try:
        for message in messages:
            if not _take(message):
                continue
            handed += 1
            try:
                email = _email(message, connection)
                connection.send_messages([email])
            except Exception as error:
                _retry(message, error)
            else:
                _sent(message, _provider_id(email))
    finally:
        connection.close()
    return handed


def _email(message: Message, connection) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        message.subject,
        message.body,
        to=[message.to],
        connection=connection,
        headers={"Message-ID": f"<{message.key}@leadloop>", **message.headers},
    )
    email.attach_alternative(message.html or linebreaks(message.body, autoescape=True), "text/html")
    for attachment in message.payload.get("attachments", []):
        email.attach(attachment["filename"], attachment["content"], attachment["mimetype"])
    return email


def _provider_id(email: EmailMultiAlternatives) -> str:
    """The provider's id for an email an anymail backend sent: its webhooks name it."""
    status = getattr(email, "anymail_status", None)
    return str(status.message_id or "") if status else ""


def _send_sms(message: Message) -> None:
    try:
        provider_id = sms.backend().send(message.to, message.body, message.key)
    except sms.SmsError as error:
        _retry(message, error)
    except Exception as error:
        # Not a refusal (a read timed out, an answer we could not read): failed at once, as
        # "may have been sent", rather than aborting the pass and the rest of its batch.
        logger.exception("SMS %s may have been sent", message.pk)
        Message.objects.filter(pk=message.pk).update(
            status=MessageStatus.FAILED,
            next_attempt_at=None,
            last_error=f"{error!r}: {MAY_HAVE_BEEN_SENT}"[:2000],
        )
    else:
        _sent(message, provider_id)


def _call_webhook(message: Message) -> None:
    body = json.dumps(message.payload, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        response = httpx.post(
            message.to,
            content=body,
            headers={"Content-Type": "application/json", **signature_headers(message.key, body)},
            timeout=WEBHOOK_TIMEOUT_SECONDS,
        )
        response.raise_for_status()
    except httpx.HTTPError as error:
        _retry(message, error)
    else:
        _sent(message)


def webhook_secret() -> str:
    """LEADLOOP_WEBHOOK_SECRET, else one derived from SECRET_KEY (stable, never stored)."""
    configured = settings.LEADLOOP_WEBHOOK_SECRET
    return configured or salted_hmac("leadloop.webhooks", "signing key").hexdigest()


def signature_headers(key: str, body: bytes, at: int | None = None) -> dict[str, str]:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>` under the webhook secret: a
    receiver recomputes it and refuses an old timestamp (a replay)."""
    stamp = int(time.time()) if at is None else at
    digest = hmac.new(
        webhook_secret().encode(), f"{stamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return {"X-Leadloop-Delivery": key, "X-Leadloop-Signature": f"t={stamp},v1={digest}"}


def _sent(message: Message, provider_id: str = "") -> None:
    now = timezone.now()
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(
            status=MessageStatus.SENT, sent_at=now, next_attempt_at=None, provider_id=provider_id
        )
        if message.lead_id is None:
            return
        if message.to_lead:
            Lead.objects.filter(pk=message.lead_id, acknowledged_at__isnull=True).update(
                acknowledged_at=now
            )
        event = f"{message.channel}.sent" if message.to_lead else "notice.sent"
        core.record_event(
            Lead(pk=message.lead_id),
            event,
            {"kind": message.kind, "origin": message.origin, "to": message.to, "key": message.key},
            occurred_at=now,
        )


def _retry(message: Message, error: Exception) -> None:
    logger.warning("message %s not sent: %r", message.pk, error)
    message.refresh_from_db(fields=["attempts"])
    durable.retry_later(
        message, error, BACKOFF, failed=MessageStatus.FAILED, pending=MessageStatus.PENDING
    )
