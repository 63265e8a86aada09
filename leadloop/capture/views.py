"""The hosted landing page per form (`/p/<slug>`), its thank-you state and gated download."""

import functools
import json
import secrets

from django.conf import settings
from django.core import signing
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from leadloop.capture import services
from leadloop.capture.api import request_meta
from leadloop.capture.definitions import parse_definition
from leadloop.capture.models import CaptureChannel, Form, Submission
from leadloop.capture.views_support import fields_with_errors
from leadloop.quality import services as quality

VISITOR_COOKIE = "ll_vid"
VISITOR_COOKIE_AGE = 60 * 60 * 24 * 395
DOWNLOAD_SALT = "leadloop.capture.download"
DOWNLOAD_MAX_AGE = 60 * 60 * 24 * 7
HONEYPOT_NAME = "ll_website"


def visitor_id(request: HttpRequest) -> str:
    value = request.COOKIES.get(VISITOR_COOKIE, "")
    return value if value.isalnum() and len(value) <= 64 else secrets.token_hex(16)


def _remember_visitor(response: HttpResponse, visitor: str) -> HttpResponse:
    response.set_cookie(VISITOR_COOKIE, visitor, max_age=VISITOR_COOKIE_AGE, samesite="Lax")
    return response


@require_http_methods(["GET", "POST"])
def landing_page(request: HttpRequest, slug: str) -> HttpResponse:
    form = get_object_or_404(Form, slug=slug, is_active=True)
    visitor = visitor_id(request)
    shown = services.version_shown(form, visitor, CaptureChannel.LANDING_PAGE)
    definition = parse_definition(shown.definition)
    answers, errors, status = {}, [], 200
    if request.method == "POST":
        answers = _answers_from_post(request, definition)
        payload = {
            "answers": answers,
            "visitor_id": visitor,
            "page_url": request.build_absolute_uri(),
            "tracking": {"referrer": request.POST.get("_referrer", "")},
            "honeypot": request.POST.get(HONEYPOT_NAME, ""),
            "opened": request.POST.get("_opened", ""),
            "proof_of_work": request.POST.get("_proof", ""),
            "signals": _typing_signals(request.POST.get("_signals", "")),
        }
        outcome = services.capture(
            CaptureChannel.LANDING_PAGE, json.dumps(payload), request_meta(request), form=form
        )
        if not outcome.errors:
            return _remember_visitor(_after_submit(form, definition, outcome.submission), visitor)
        errors, status = outcome.errors, 422
    context = {
        "form": form,
        "definition": definition,
        "visitor_id": visitor,
        "steps": fields_with_errors(definition, answers, errors),
        "form_errors": [e["message"] for e in errors if not e["field"]],
        "opened": quality.form_opened_token(),
        "honeypot_name": HONEYPOT_NAME,
    }
    return _remember_visitor(
        render(request, "capture/landing_page.html", context, status=status), visitor
    )


def _typing_signals(posted: str) -> dict:
    """What landing.js recorded of the typing; nothing (not judged) when JavaScript was off."""
    try:
        signals = json.loads(posted) if posted else {}
    except ValueError:
        return {}
    return signals if isinstance(signals, dict) else {}


def _answers_from_post(request: HttpRequest, definition) -> dict:
    answers = {}
    for spec in definition.fields:
        if spec.is_multi_choice:
            answers[spec.name] = request.POST.getlist(spec.name)
        elif spec.name in request.POST:
            answers[spec.name] = request.POST[spec.name]
    return answers


def _after_submit(form: Form, definition, submission: Submission) -> HttpResponse:
    # The redirect target is set by the form's owner in its definition, never by the visitor.
    target = definition.settings.thank_you.redirect_url
    if target:
        return redirect(target)
    token = signing.dumps(submission.pk, salt=DOWNLOAD_SALT)
    return redirect(f"{reverse('capture:thanks', args=[form.slug])}?t={token}")


def thanks(request: HttpRequest, slug: str) -> HttpResponse:
    form = get_object_or_404(Form, slug=slug)
    definition = parse_definition(form.definition)
    token = request.GET.get("t", "")
    download_url = ""
    if form.download and _submission_for(token, form) is not None:
        download_url = reverse("capture:download", args=[form.slug, token])
    return render(
        request,
        "capture/thanks.html",
        {"form": form, "definition": definition, "download_url": download_url},
    )


def download(request: HttpRequest, slug: str, token: str) -> FileResponse:
    """The lead magnet, only for someone who submitted the form in the last week."""
    form = get_object_or_404(Form, slug=slug)
    if not form.download or _submission_for(token, form) is None:
        raise Http404("This download link is not valid or has expired.")
    return FileResponse(
        form.download.open("rb"), as_attachment=True, filename=form.download.name.rsplit("/", 1)[-1]
    )


def _submission_for(token: str, form: Form) -> Submission | None:
    try:
        submission_id = signing.loads(token, salt=DOWNLOAD_SALT, max_age=DOWNLOAD_MAX_AGE)
    except signing.BadSignature:
        return None
    return Submission.objects.filter(pk=submission_id, form=form, lead__isnull=False).first()


def chat_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The same form asked one question at a time, in the chat panel of the widget."""
    form = get_object_or_404(Form, slug=slug, is_active=True)
    return render(request, "capture/chat_page.html", {"form": form})


def widget_script(request: HttpRequest) -> HttpResponse:
    """widget.js with the shared condition rules and proof-of-work solver, in one function scope so nothing leaks into
    the embedding page and a page that includes the widget twice does not break."""
    response = HttpResponse(_widget_source(), content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@functools.cache
def _widget_source() -> str:
    static = settings.BASE_DIR / "capture" / "static" / "capture"
    parts = [(static / name).read_text() for name in ("conditions.js", "proof.js", "widget.js")]
    return "(function () {\n" + "\n".join(parts) + "\n})();\n"
