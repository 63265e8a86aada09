"""The links in nurture emails: the open pixel, the click redirect, and the unsubscribe page
(GET shows a button; a POST, or a mail client's RFC 8058 one-click POST, unsubscribes)."""

import base64

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from leadloop.compliance import services as compliance
from leadloop.core import services as core
from leadloop.core.models import Lead, Message
from leadloop.nurture import tracking

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def opened(request: HttpRequest, token: str) -> HttpResponse:
    key = tracking.read(token, tracking.OPEN)
    if isinstance(key, str):
        _seen(key, "email.opened", {})
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    return response


def clicked(request: HttpRequest, token: str) -> HttpResponse:
    signed = tracking.read(token, tracking.CLICK)
    if not isinstance(signed, dict) or not str(signed.get("u", "")).startswith(
        ("http://", "https://")
    ):
        raise Http404("This link is not one of ours.")
    _seen(signed["k"], "email.clicked", {"url": signed["u"]})
    return HttpResponseRedirect(signed["u"])


def _seen(key: str, event: str, data: dict) -> None:
    """The first open (a click is an open too) and click are kept on the message; each one is
    an event on the lead's timeline, with the message's origin for the workflow report."""
    message = Message.objects.filter(key=key).first()
    if message is None or message.lead_id is None:
        return
    now = timezone.now()
    with transaction.atomic():
        first = Message.objects.filter(pk=message.pk, opened_at__isnull=True)
        first.update(opened_at=now)
        if event == "email.clicked":
            Message.objects.filter(pk=message.pk, clicked_at__isnull=True).update(clicked_at=now)
        core.record_event(
            Lead(pk=message.lead_id),
            event,
            {"key": key, "origin": message.origin, **data},
            actor="recipient",
        )


@csrf_exempt  # the signed token is the credential; mail clients POST without a session
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    signed = tracking.read(token, tracking.UNSUBSCRIBE)
    if not isinstance(signed, dict):
        raise Http404("This unsubscribe link is not valid.")
    lead = Lead.objects.filter(pk=signed.get("l")).first()
    if lead is None:
        raise Http404("This unsubscribe link is not valid.")
    if request.method == "GET":
        return render(request, "nurture/unsubscribe.html", {"email": lead.email, "done": False})
    compliance.withdraw(
        lead,
        "email",
        wording="Unsubscribed through the link in an email",
        evidence={"message": signed.get("k", "")},
    )
    return render(request, "nurture/unsubscribe.html", {"email": lead.email, "done": True})
