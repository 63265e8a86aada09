"""What the email and SMS providers tell us back.

Email arrives through anymail's webhooks (`/anymail/<provider>/tracking/` and `/inbound/`,
HTTP basic auth with ANYMAIL_WEBHOOK_SECRET), as its `tracking` and `inbound` signals:
a bounce suppresses the address for everything, a complaint for marketing, an unsubscribe
at the provider withdraws email consent, opens and clicks the provider tracked are kept like
our own pixel's and redirect's, and a reply is an `email.replied` event (which ends the
lead's workflows).

SMS arrives on Twilio's inbound webhook (`/sms/twilio/inbound`, signed with
TWILIO_AUTH_TOKEN). The CTIA keywords are the whole message: STOP (and its synonyms) is a
refusal and a suppression, START a new grant that lifts the suppression, HELP a reply that
names the business and how to stop; anything else is an `sms.replied` event.

It lives in nurture (which sends the emails and texts and owns their tracking) rather than in
compliance: compliance keeps the ledger and the gate and imports no layer above core."""

import logging

from anymail.signals import AnymailInboundEvent, AnymailTrackingEvent, EventType, RejectReason
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from leadloop.compliance import services as compliance
from leadloop.compliance.models import ConsentChannel, Suppression, SuppressionReason
from leadloop.core import services as core
from leadloop.core.keys import email_key
from leadloop.core.models import Lead, Message, MessageChannel
from leadloop.core.types import ConsentGiven
from leadloop.nurture.views import _seen
from leadloop.routing.models import RoutingSettings

logger = logging.getLogger(__name__)

# A provider's refusal to send, by its reason: which of ours it amounts to (others, such as
# its own policy blocks, say nothing about the address).
REJECTED_AS = {
    RejectReason.INVALID: EventType.BOUNCED,
    RejectReason.BOUNCED: EventType.BOUNCED,
    RejectReason.SPAM: EventType.COMPLAINED,
    RejectReason.UNSUBSCRIBED: EventType.UNSUBSCRIBED,
}
UNDELIVERABLE = {
    EventType.BOUNCED: (SuppressionReason.BOUNCED, "email.bounced"),
    EventType.COMPLAINED: (SuppressionReason.COMPLAINED, "email.complained"),
}
# RFC 3834 and the older Precedence header: a robot answering, not the person.
AUTOMATIC_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
REPLY_CHARS = 2000

# CTIA's keywords (and Twilio's), each the whole message, in any case.
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
START_WORDS = {"START", "YES", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}


# --- email, through anymail --------------------------------------------------------------


def on_tracking(sender, event: AnymailTrackingEvent, esp_name: str, **kwargs) -> None:
    """anymail's `tracking` signal: one delivery or engagement event from a provider."""
    kind = event.event_type
    if kind == EventType.REJECTED:
        kind = REJECTED_AS.get(event.reject_reason)
    if kind == EventType.BOUNCED and _soft(event):
        return
    address = (event.recipient or "").strip().lower()
    if kind in UNDELIVERABLE and address:
        reason, event_type = UNDELIVERABLE[kind]
        _undeliverable(address, reason, event_type, event, esp_name)
    elif kind == EventType.UNSUBSCRIBED and address:
        _unsubscribed(address, event, esp_name)
    elif kind in (EventType.OPENED, EventType.CLICKED):
        _engaged(event, esp_name)


def _undeliverable(
    address: str, reason: str, event_type: str, event: AnymailTrackingEvent, esp_name: str
) -> None:
    """The address is suppressed (a bounce for every message, a complaint for marketing) and
    each lead with that mailbox gets the event, which ends their workflows."""
    detail = event.mta_response or event.description or ""
    data = {
        "address": address,
        "provider": esp_name,
        "reason": event.reject_reason or "",
        "detail": str(detail)[:500],
        "provider_message_id": str(event.message_id or ""),
    }
    with transaction.atomic():
        compliance.suppress(address, ConsentChannel.EMAIL, reason, f"{esp_name}: {detail}")
        core.record_events(
            core.NewEvent(lead, event_type, data, actor=esp_name, occurred_at=event.timestamp)
            for lead in _leads_by_email(address)
        )


def _soft(event: AnymailTrackingEvent) -> bool:
    """Postmark reports a full or disabled mailbox as a "SoftBounce", which anymail calls a
    bounce: the address exists, so it is not suppressed (a hard bounce follows if it dies)."""
    esp_event = event.esp_event
    return isinstance(esp_event, dict) and esp_event.get("Type") == "SoftBounce"


def _unsubscribed(address: str, event: AnymailTrackingEvent, esp_name: str) -> None:
    wording = f"Unsubscribed at {esp_name}"
    evidence = {"provider": esp_name, "provider_message_id": str(event.message_id or "")}
    with transaction.atomic():
        compliance.suppress(address, ConsentChannel.EMAIL, SuppressionReason.UNSUBSCRIBED, wording)
        for lead in _leads_by_email(address):
            compliance.withdraw(lead, ConsentChannel.EMAIL, wording=wording, evidence=evidence)


def _engaged(event: AnymailTrackingEvent, esp_name: str) -> None:
    """An open or click the provider tracked, on the message it names (its id is kept as the
    message's provider_id when the outbox hands the email to an anymail backend)."""
    if not event.message_id:
        return
    message = Message.objects.filter(
        channel=MessageChannel.EMAIL, provider_id=str(event.message_id)
    ).first()
    if message is None:
        return
    if event.event_type == EventType.CLICKED:
        _seen(message.key, "email.clicked", {"url": event.click_url or "", "via": esp_name})
    else:
        _seen(message.key, "email.opened", {"via": esp_name})


def on_inbound(sender, event: AnymailInboundEvent, esp_name: str, **kwargs) -> None:
    """anymail's `inbound` signal: an email to one of our addresses. From a lead's address,
    and written by the person (not an autoresponder, not spam), it is their reply."""
    message = event.message
    if message is None or message.spam_detected or _automatic(message):
        return
    sender_address = getattr(message.from_email, "addr_spec", "")
    if not sender_address:
        return
    text = message.stripped_text or message.text or ""
    data = {
        "from": sender_address.lower(),
        "subject": (message.subject or "")[:300],
        "text": text.strip()[:REPLY_CHARS],
        "provider": esp_name,
    }
    core.record_events(
        core.NewEvent(lead, "email.replied", data, actor="recipient")
        for lead in _leads_by_email(sender_address)
    )


def _automatic(message) -> bool:
    auto_submitted = (message.get("Auto-Submitted") or "no").strip().lower()
    precedence = (message.get("Precedence") or "").strip().lower()
    return auto_submitted != "no" or precedence in AUTOMATIC_PRECEDENCE


def _leads_by_email(address: str) -> list[Lead]:
    """Every lead (duplicates too, not those merged away) whose mailbox this is."""
    return list(Lead.objects.filter(email_key=email_key(address), merged_at__isnull=True))


# --- SMS, from Twilio ----------------------------------------------------------------------


@csrf_exempt  # Twilio's signature is the credential
@require_POST
def twilio_sms(request: HttpRequest) -> HttpResponse:
    """Twilio's webhook for a text to our number (form fields From, To, Body, MessageSid);
    the answer is TwiML, with the reply to send back if there is one."""
    if not _signed_by_twilio(request):
        return HttpResponseForbidden("The X-Twilio-Signature does not match.")
    reply = sms_received(
        request.POST.get("From", "").strip(),
        request.POST.get("Body", ""),
        evidence={
            "message_sid": request.POST.get("MessageSid", ""),
            "to": request.POST.get("To", ""),
        },
    )
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return HttpResponse(str(response), content_type="text/xml")


def _signed_by_twilio(request: HttpRequest) -> bool:
    """Twilio signs the URL it was given and the form fields with the auth token. Behind a
    proxy the URL this server sees may differ from that one, so SITE_URL's is tried too."""
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    validator = RequestValidator(token)
    urls = (request.build_absolute_uri(), settings.SITE_URL + request.get_full_path())
    return any(validator.validate(url, request.POST, signature) for url in urls)


def sms_received(phone: str, body: str, *, evidence: dict) -> str:
    """1. STOP: each lead with this number refuses SMS (suppression, `sms.opted_out`); an
       unknown number is suppressed all the same.
    2. START: a granted SMS consent for each lead, and the suppression lifted.
    3. HELP: who we are and how to stop.
    4. Anything else: an `sms.replied` event on each lead with this number.
    Returns the text to answer with ("" for none)."""
    if not phone:
        return ""
    keyword = body.strip().strip(".!").upper()
    leads = list(Lead.objects.filter(phone=phone, merged_at__isnull=True))
    wording = f"Replied {body.strip()[:160]!r} by SMS"
    with transaction.atomic():
        if keyword in STOP_WORDS:
            compliance.suppress(phone, ConsentChannel.SMS, SuppressionReason.STOPPED, wording)
            for lead in leads:
                compliance.withdraw(lead, ConsentChannel.SMS, wording=wording, evidence=evidence)
            return (
                f"You are unsubscribed from {_business_name()} texts and will get no more. "
                "Reply START to subscribe again."
            )
        if keyword in START_WORDS:
            given = ConsentGiven(ConsentChannel.SMS, True, "Replied START", evidence=evidence)
            compliance.record_consents([(lead, given) for lead in leads])
            Suppression.objects.filter(address=phone, channel=ConsentChannel.SMS).delete()
            core.record_events(
                core.NewEvent(lead, "sms.opted_in", {"wording": wording}, actor="recipient")
                for lead in leads
            )
            return (
                f"You are subscribed to {_business_name()} texts again. "
                "Reply HELP for help, STOP to unsubscribe. Msg & data rates may apply."
            )
        if keyword in HELP_WORDS:
            return (
                f"{_business_name()}: reply to this number to reach us. "
                "Reply STOP to unsubscribe, START to subscribe again. Msg & data rates may apply."
            )
        core.record_events(
            core.NewEvent(
                lead, "sms.replied", {"text": body[:REPLY_CHARS], **evidence}, actor="recipient"
            )
            for lead in leads
        )
    return ""


def _business_name() -> str:
    """The name the lead's acknowledgement is signed with (Admin → Routing settings)."""
    return RoutingSettings.current().business_name
