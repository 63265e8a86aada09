"""The messages of speed to lead: the acknowledgement to the lead, the new-lead notice to its
owner (email, and a signed webhook usable with Slack-style incoming hooks), the SLA alert to a
manager. Each is a Notice row written with its cause and sent by the worker's poll.

A notice is marked `sending` (committed) before it is handed to the mail server or the
webhook, and `sent` after. A worker that dies between the two leaves it `sending`: after the
lease it is marked failed with "may have been sent" for a person to check, never sent twice.
The notice's key is its email's Message-ID and its webhook's X-Leadloop-Delivery, so a
receiver can drop a repeat too."""

import hashlib
import hmac
import json
import logging
import time
import uuid
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F
from django.template import Context, Template
from django.utils import timezone
from django.utils.html import linebreaks

from leadloop.core import durable
from leadloop.core import services as core
from leadloop.core.models import Lead
from leadloop.routing.models import (
    NOTICE_BACKOFF,
    Assignment,
    Notice,
    NoticeKind,
    NoticeStatus,
    RoutingSettings,
    SlaTimer,
)

logger = logging.getLogger(__name__)

BATCH = 100
LEASE = timedelta(minutes=2)
WEBHOOK_TIMEOUT_SECONDS = 5
PAGES_SHOWN = 10


def acknowledge(lead: Lead, promise: str) -> None:
    """Thank the lead and say what happens next, if it left an email address."""
    chosen = RoutingSettings.current()
    if not (chosen.acknowledge and lead.email):
        return
    owner = lead.owner
    context = {
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "business_name": chosen.business_name,
        "promise": promise,
        "owner_name": (owner.get_full_name() or owner.get_username()) if owner else "",
    }
    body = render(chosen.ack_body, context)
    _email(lead, NoticeKind.ACKNOWLEDGEMENT, lead.email, render(chosen.ack_subject, context), body)


def render(template: str, context: dict) -> str:
    """Plain text: nothing is HTML-escaped here (the HTML part escapes the result whole)."""
    return Template(template).render(Context(context, autoescape=False)).strip()


def new_lead(lead: Lead, assignment: Assignment, sla_due: datetime) -> None:
    """Tell the owner, with the lead's story so far, by email and on their webhooks."""
    owner = assignment.owner
    story = lead_story(lead)
    subject = f"New lead: {_name(lead)} (first contact due by {sla_due:%H:%M} UTC)"
    text = f"{subject}\n\n{story}\nWhy you: {assignment.why}\n{_link(lead)}"
    if owner.email:
        _email(lead, NoticeKind.NEW_LEAD, owner.email, subject, text)
    rep = getattr(owner, "rep", None)
    hooks = {getattr(rep, "webhook_url", ""), getattr(assignment.team, "webhook_url", "")}
    summary = {"owner": owner.get_username(), "sla_due_at": sla_due.isoformat()}
    for url in sorted(hook for hook in hooks if hook):
        _webhook(lead, NoticeKind.NEW_LEAD, url, text, summary)


def returned(lead: Lead) -> None:
    """A lead that already has an owner came back (a new form, a new request): tell them."""
    owner = lead.owner
    if owner.email:
        subject = f"{_name(lead)} came back"
        _email(lead, NoticeKind.RETURNED, owner.email, subject, f"{subject}\n\n{lead_story(lead)}")


def sla_missed(lead: Lead, timer: SlaTimer, manager, minutes: int) -> None:
    subject = f"SLA missed: {_name(lead)} has waited {minutes} min for {timer.owner.get_username()}"
    text = f"{subject}\n\n{lead_story(lead)}\n{_link(lead)}"
    if manager.email:
        _email(lead, NoticeKind.SLA_MISSED, manager.email, subject, text)
    team = timer.assignment.team
    if team and team.webhook_url:
        _webhook(lead, NoticeKind.SLA_MISSED, team.webhook_url, text, {"minutes": minutes})


def lead_story(lead: Lead) -> str:
    """Who, from where, what they answered, why they scored, what they looked at."""
    touch = lead.first_touch or {}
    lines = [
        f"Lead: {_name(lead)} <{lead.email}> {lead.phone}".rstrip(),
        f"Source: {lead.source.name} ({lead.source.channel})" if lead.source_id else "Source: -",
        "Campaign: "
        + " / ".join(str(touch.get(k)) for k in ("utm_source", "utm_campaign") if touch.get(k)),
        f"Score: {lead.score} (fit {lead.score_fit}, engagement {lead.score_engagement}, "
        f"intent {lead.score_intent})",
    ]
    lines += [f"  {d['rule']}: {d.get('points', d.get('weight'))}" for d in lead.score_drivers]
    lines += ["Answers:", *(f"  {k}: {v}" for k, v in lead.custom_fields.items())]
    lines += ["Pages viewed:", *(f"  {page}" for page in _pages(lead))]
    return "\n".join(lines) + "\n"


def _pages(lead: Lead) -> list[str]:
    views = lead.events.filter(type="page.viewed").order_by("-occurred_at")[:PAGES_SHOWN]
    return [str(view.data.get("path") or view.data.get("url") or "") for view in views]


def _name(lead: Lead) -> str:
    return f"{lead.first_name} {lead.last_name}".strip() or lead.email or lead.phone


def _link(lead: Lead) -> str:
    return f"{settings.SITE_URL}/admin/core/lead/{lead.pk}/change/"


def _email(lead: Lead, kind: str, to: str, subject: str, text: str) -> None:
    Notice.objects.create(
        lead=lead, kind=kind, channel="email", to=to, subject=subject[:300], body=text, key=_key()
    )


def _webhook(lead: Lead, kind: str, url: str, text: str, extra: dict) -> None:
    payload = {"text": text, "kind": kind, "lead": {"id": lead.pk, "url": _link(lead), **extra}}
    Notice.objects.create(
        lead=lead, kind=kind, channel="webhook", to=url, body=text, payload=payload, key=_key()
    )


def _key() -> str:
    return uuid.uuid4().hex


def send_due() -> int:
    """The worker's poll: hand every due notice over (emails on one SMTP connection)."""
    _give_up_on_lost_sends()
    due = Notice.objects.filter(status=NoticeStatus.PENDING, next_attempt_at__lte=timezone.now())
    claimed = [notice for notice in due.order_by("pk")[:BATCH] if _claim(notice)]
    emails = [notice for notice in claimed if notice.channel == "email"]
    if emails:
        _send_emails(emails)
    for notice in claimed:
        if notice.channel == "webhook":
            _call_webhook(notice)
    return len(claimed)


def _claim(notice: Notice) -> bool:
    now = timezone.now()
    return bool(
        Notice.objects.filter(
            pk=notice.pk, status=NoticeStatus.PENDING, attempts=notice.attempts
        ).update(
            status=NoticeStatus.SENDING, attempts=F("attempts") + 1, next_attempt_at=now + LEASE
        )
    )


def _give_up_on_lost_sends() -> None:
    Notice.objects.filter(status=NoticeStatus.SENDING, next_attempt_at__lt=timezone.now()).update(
        status=NoticeStatus.FAILED,
        next_attempt_at=None,
        last_error="The worker stopped while handing this over: it may have been sent. "
        "Check with the recipient before sending it again.",
    )


def _send_emails(notices: list[Notice]) -> None:
    connection = get_connection()
    try:
        connection.open()
    except Exception as error:
        for notice in notices:
            _retry(notice, error)
        return
    try:
        for notice in notices:
            try:
                connection.send_messages([_message(notice, connection)])
            except Exception as error:
                _retry(notice, error)
            else:
                _sent(notice)
    finally:
        connection.close()


def _message(notice: Notice, connection) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        notice.subject,
        notice.body,
        to=[notice.to],
        connection=connection,
        headers={"Message-ID": f"<{notice.key}@leadloop>"},
    )
    message.attach_alternative(linebreaks(notice.body, autoescape=True), "text/html")
    return message


def _call_webhook(notice: Notice) -> None:
    body = json.dumps(notice.payload, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        response = httpx.post(
            notice.to,
            content=body,
            headers={"Content-Type": "application/json", **signature_headers(notice.key, body)},
            timeout=WEBHOOK_TIMEOUT_SECONDS,
        )
        response.raise_for_status()
    except httpx.HTTPError as error:
        _retry(notice, error)
    else:
        _sent(notice)


def signature_headers(key: str, body: bytes, at: int | None = None) -> dict[str, str]:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>` under the routing settings'
    webhook secret: a receiver recomputes it and refuses an old timestamp (a replay)."""
    stamp = int(time.time()) if at is None else at
    secret = RoutingSettings.current().webhook_secret.encode()
    digest = hmac.new(secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Leadloop-Delivery": key, "X-Leadloop-Signature": f"t={stamp},v1={digest}"}


def _sent(notice: Notice) -> None:
    now = timezone.now()
    with transaction.atomic():
        Notice.objects.filter(pk=notice.pk).update(
            status=NoticeStatus.SENT, sent_at=now, next_attempt_at=None
        )
        lead = Lead.objects.get(pk=notice.lead_id)
        if notice.kind == NoticeKind.ACKNOWLEDGEMENT and lead.acknowledged_at is None:
            Lead.objects.filter(pk=lead.pk).update(acknowledged_at=now)
        core.record_event(
            lead, "notice.sent", {"kind": notice.kind, "channel": notice.channel, "to": notice.to}
        )


def _retry(notice: Notice, error: Exception) -> None:
    logger.warning("notice %s not sent: %r", notice.pk, error)
    notice.refresh_from_db(fields=["attempts"])
    durable.retry_later(
        notice, error, NOTICE_BACKOFF, failed=NoticeStatus.FAILED, pending=NoticeStatus.PENDING
    )
