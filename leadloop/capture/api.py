"""The capture API: lead sources post leads; the widget and chat panel read and submit forms."""

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status
from ninja.security import HttpBearer

from leadloop.capture import services, tracking
from leadloop.capture.cleaning import InvalidValue, clean_text
from leadloop.capture.models import CaptureChannel, Form, Submission, SubmissionStatus
from leadloop.capture.schemas import CaptureOut, ErrorsOut, LeadIn, LeadOut
from leadloop.core import services as core
from leadloop.core.models import Lead, Source
from leadloop.quality import services as quality
from leadloop.quality.schemas import CheckAsTypedOut

router = Router(tags=["capture"])
CAPTURE_RESPONSES = {
    201: CaptureOut,
    200: CaptureOut,
    202: CaptureOut,
    401: ErrorsOut,
    404: ErrorsOut,
    409: ErrorsOut,
    413: ErrorsOut,
    422: ErrorsOut,
}
STATUS_CODES = {
    SubmissionStatus.ACCEPTED: 201,
    SubmissionStatus.MERGED: 200,
    SubmissionStatus.REJECTED: 422,
}


class SourceKey(HttpBearer):
    """`Authorization: Bearer <source API key>`, as printed by `leadloop sources add`."""

    def authenticate(self, request: HttpRequest, token: str) -> Source | None:
        return core.source_for_api_key(token)


def staff_session(request: HttpRequest) -> object | None:
    user = request.user
    return user if user.is_authenticated and user.is_staff else None


class BodyTooLarge(Exception):
    pass


def read_body(request: HttpRequest) -> str:
    limit = settings.LEADLOOP_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise BodyTooLarge
    try:
        body = request.body
    except RequestDataTooBig:
        raise BodyTooLarge from None
    if len(body) > limit:
        raise BodyTooLarge
    return body.decode("utf-8", errors="replace")


def request_meta(request: HttpRequest) -> services.RequestMeta:
    return services.RequestMeta(
        ip_address=request.META.get("REMOTE_ADDR") or None,
        user_agent=request.headers.get("User-Agent", ""),
        origin=request.headers.get("Origin", ""),
    )


def too_large() -> Status:
    limit = settings.LEADLOOP_MAX_BODY_BYTES
    return Status(413, {"errors": [{"field": None, "message": f"The body is over {limit} bytes."}]})


def answer(outcome: services.Outcome, *, to_visitor: bool = False) -> Status:
    """The HTTP answer to a capture. A visitor whose submission the duplicate policy rejected is
    thanked like anyone else (a form must not tell strangers who is already a lead); a lead
    source is told, so it is not paid for the lead."""
    if outcome.status == SubmissionStatus.DUPLICATE:
        if to_visitor:
            body = {"id": None, "status": "received", "submission_id": outcome.submission.pk}
            return Status(200, body)
        return Status(409, {"errors": [services.DUPLICATE_ERROR]})
    if outcome.errors:
        return Status(422, {"errors": outcome.errors})
    body = {
        "id": outcome.lead.pk if outcome.lead else None,
        "status": outcome.status,
        "submission_id": outcome.submission.pk,
        "capture_state": outcome.lead.capture_state if outcome.lead else None,
    }
    return Status(STATUS_CODES.get(outcome.status, 202), body)


@router.post(
    "/leads",
    auth=SourceKey(),
    response=CAPTURE_RESPONSES,
    summary="Post a lead from a lead source",
    description=(
        "201 for a new lead, 200 when the submission merged into an existing lead, 409 when the "
        "person is already a lead and the source's duplicate policy is to reject, 422 with "
        "field-level errors, 401 for a missing or unknown key, 413 for a body over the limit, 202 "
        "when the submission is stored but processing failed (it is retried). Send an "
        "`Idempotency-Key` header to make retries safe: a repeat returns the first answer."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": LeadIn.model_json_schema(ref_template="#/components/schemas/{model}")
                }
            },
        }
    },
)
def post_lead(request: HttpRequest):
    try:
        raw = read_body(request)
    except BodyTooLarge:
        return too_large()
    key = request.headers.get("Idempotency-Key", "")[:200]
    outcome = services.capture(
        CaptureChannel.API, raw, request_meta(request), source=request.auth, idempotency_key=key
    )
    return answer(outcome)


@router.get(
    "/leads/{lead_id}",
    auth=[SourceKey(), staff_session],
    response={200: LeadOut, 404: ErrorsOut},
    summary="A lead with its timeline",
)
def get_lead(request: HttpRequest, lead_id: int):
    leads = Lead.objects.select_related("company", "source", "owner")
    by_source = isinstance(request.auth, Source)
    if by_source:
        leads = leads.filter(pk__in=Submission.objects.filter(source=request.auth).values("lead"))
    lead = leads.filter(pk=lead_id).first()
    if lead is None:
        return Status(
            404, {"errors": [{"field": None, "message": f"No lead {lead_id} for this key."}]}
        )
    return Status(
        200,
        {
            "id": lead.pk,
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "email": lead.email,
            "phone": lead.phone,
            "company": lead.company.name if lead.company else None,
            "custom_fields": lead.custom_fields,
            "lifecycle_stage": lead.lifecycle_stage,
            "capture_state": lead.capture_state,
            "source": lead.source.name if lead.source else None,
            "first_touch": lead.first_touch,
            "last_touch": lead.last_touch,
            "captured_at": lead.captured_at,
            "timeline": _timeline(lead, for_staff=not by_source),
            **(_staff_view(lead) if not by_source else {}),
        },
    )


def _staff_view(lead: Lead) -> dict:
    return {
        "quality": lead.quality,
        "quality_reasons": lead.quality_reasons,
        "enrichment": lead.enrichment,
        "duplicate_of": lead.duplicate_of_id,
        "score": lead.score,
        "score_drivers": lead.score_drivers,
        "owner": lead.owner.get_username() if lead.owner else None,
        "acknowledged_at": lead.acknowledged_at,
        "assigned_at": lead.assigned_at,
        "first_contact_at": lead.first_contact_at,
    }


def _timeline(lead: Lead, *, for_staff: bool) -> list[dict | object]:
    """A source sees its lead's timeline without the quality verdicts: a publisher sending bots
    must not learn which of its leads were caught."""
    events = core.lead_timeline(lead)
    if for_staff:
        return events
    return [
        {
            "type": e.type,
            "occurred_at": e.occurred_at,
            "actor": e.actor,
            "data": {k: v for k, v in e.data.items() if k != "quality"},
        }
        for e in events
    ]


def public_form(slug: str) -> Form:
    return get_object_or_404(Form, slug=slug, is_active=True)


@router.get(
    "/forms/{slug}",
    summary="A form's definition, for the widget and chat panel",
    description="With `visitor` (the widget's visitor id), the version an A/B test shows them.",
)
def get_form(request: HttpRequest, slug: str, visitor: str = ""):
    form = public_form(slug)
    version = services.version_shown(form, visitor[:64], CaptureChannel.WIDGET)
    return {
        "slug": form.slug,
        "name": form.name,
        "version": version.number,
        "definition": version.definition,
        "has_download": bool(form.download),
        "opened": quality.form_opened_token(),
    }


@router.get(
    "/forms/{slug}/challenge",
    summary="A proof-of-work challenge (ALTCHA v1) for a form that asks for one",
)
def form_challenge(request: HttpRequest, slug: str):
    public_form(slug)
    return quality.proof_challenge()


@router.get(
    "/forms/{slug}/validate",
    response=CheckAsTypedOut,
    summary="The as-you-type check for a form's visitors (allowed on the form's domains)",
)
def validate_for_form(request: HttpRequest, slug: str, email: str = "", phone: str = ""):
    form = public_form(slug)
    region = form.definition.get("settings", {}).get("default_region", "US")
    return quality.check_as_typed(email[:254], phone[:40], region)


@router.post(
    "/forms/{slug}/submissions",
    response=CAPTURE_RESPONSES,
    summary="Submit a form (or one step of a multi-step funnel, with partial=true)",
)
def submit_form(request: HttpRequest, slug: str):
    form = public_form(slug)
    try:
        raw = read_body(request)
    except BodyTooLarge:
        return too_large()
    channel = _widget_channel(request.GET.get("mode", ""))
    outcome = services.capture(channel, raw, request_meta(request), form=form)
    return answer(outcome, to_visitor=True)


def _widget_channel(mode: str) -> str:
    return {"popup": CaptureChannel.POPUP, "chat": CaptureChannel.CHAT}.get(
        mode, CaptureChannel.WIDGET
    )


@router.post(
    "/track",
    response={204: None, 413: ErrorsOut, 422: ErrorsOut},
    summary="Page-view beacon (navigator.sendBeacon friendly: any content type)",
)
def track_page_view(request: HttpRequest):
    try:
        payload = json.loads(read_body(request))
        visitor = clean_text(payload["visitor_id"], max_length=64)
        url = clean_text(payload["url"], max_length=2000)
        title = clean_text(payload.get("title", ""), max_length=300)
        referrer = clean_text(payload.get("referrer", ""), max_length=2000)
    except BodyTooLarge:
        return too_large()
    except (ValueError, KeyError, TypeError, AttributeError, InvalidValue):
        return Status(
            422, {"errors": [{"field": None, "message": "Send JSON with visitor_id and url."}]}
        )
    if not visitor or not url.startswith(("http://", "https://")):
        return Status(
            422, {"errors": [{"field": "url", "message": "Send an absolute http(s) url."}]}
        )
    tracking.record_page_view(visitor, url, title, referrer)
    return Status(204, None)
