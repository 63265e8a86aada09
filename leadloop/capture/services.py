"""Capture's verbs: store what arrived, clean it, and hand it to the journey.

Every entry point (hosted page, widget, chat, API, import) goes through `receive` then `process`:
1. `receive` commits the raw body as a Submission before anything can go wrong with it;
2. `process` cleans it against the form definition or the API schema; bad input is rejected
   with field-level errors and kept;
3. clean input goes through `journey.admit` and the submission is marked accepted or merged in
   the same transaction, so the caller acknowledges only what is committed;
4. an unexpected failure leaves the submission `failed` with a due time: the sweep retries it.
"""

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from pydantic import ValidationError

from leadloop import journey
from leadloop.capture import tracking
from leadloop.capture.definitions import clean_answers, parse_definition
from leadloop.capture.models import (
    RETRY_BACKOFF,
    CaptureChannel,
    Form,
    Submission,
    SubmissionStatus,
)
from leadloop.capture.schemas import FormSubmissionIn, LeadIn, pydantic_errors
from leadloop.core import durable
from leadloop.core.models import Lead, Source
from leadloop.core.types import ConsentGiven, LeadIntake

logger = logging.getLogger(__name__)
PROCESSING_LEASE = timedelta(minutes=1)
REPEAT_WAIT = timedelta(seconds=10)  # how long a repeat waits for the first request's answer
REPEAT_POLL = 0.02
MAX_ATTEMPTS = len(RETRY_BACKOFF) + 1
PENDING = Q(status__in=[SubmissionStatus.RECEIVED, SubmissionStatus.FAILED])


@dataclass(frozen=True)
class RequestMeta:
    ip_address: str | None = None
    user_agent: str = ""
    origin: str = ""


@dataclass
class Outcome:
    submission: Submission
    lead: Lead | None = None
    created: bool = False
    errors: list[dict] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.submission.status


class Rejected(Exception):
    def __init__(self, errors: list[dict]):
        super().__init__(errors)
        self.errors = errors


def receive(
    channel: str,
    raw: str,
    meta: RequestMeta,
    *,
    form: Form | None = None,
    source: Source | None = None,
    idempotency_key: str = "",
) -> tuple[Submission, bool]:
    """Commit the raw body. Returns (submission, is_new); a repeated idempotency key returns the
    submission first stored under it."""
    version = form.versions.filter(number=form.version).first() if form else None
    try:
        with transaction.atomic():
            submission = Submission.objects.create(
                channel=channel,
                form=form,
                form_version=version,
                source=source or (form.source if form else None),
                raw=raw,
                idempotency_key=idempotency_key,
                ip_address=meta.ip_address,
                user_agent=meta.user_agent[:500],
                origin=meta.origin[:500],
                next_attempt_at=timezone.now() + PROCESSING_LEASE,
            )
        return submission, True
    except IntegrityError:
        if not idempotency_key:
            raise
        return Submission.objects.get(source=source, idempotency_key=idempotency_key), False


def process(submission: Submission) -> Outcome:
    try:
        intake = _intake_from(submission)
    except Rejected as rejection:
        _settle(submission, SubmissionStatus.REJECTED, errors=rejection.errors)
        return Outcome(submission, errors=rejection.errors)
    try:
        with transaction.atomic():
            admission = journey.admit([intake])[0]
            tracking.identify(submission.visitor_key, admission.lead)
            status = SubmissionStatus.ACCEPTED if admission.created else SubmissionStatus.MERGED
            _settle(submission, status, lead=admission.lead)
    except Exception as error:
        logger.exception("submission %s failed; the sweep will retry it", submission.pk)
        _fail(submission, error)
        return Outcome(submission)
    return Outcome(submission, admission.lead, admission.created)


def outcome_of(submission: Submission) -> Outcome:
    """What an already processed submission answered: an idempotent retry gets the same."""
    created = submission.status == SubmissionStatus.ACCEPTED
    return Outcome(submission, submission.lead, created, list(submission.errors))


def capture(
    channel: str,
    raw: str,
    meta: RequestMeta,
    *,
    form: Form | None = None,
    source: Source | None = None,
    idempotency_key: str = "",
) -> Outcome:
    submission, is_new = receive(
        channel, raw, meta, form=form, source=source, idempotency_key=idempotency_key
    )
    if is_new:
        return process(submission)
    return _repeat(submission)


def _repeat(submission: Submission) -> Outcome:
    """A repeated idempotency key gets the first request's answer. A repeat that arrives while
    the first request is still processing the submission waits for it (processing it here too
    would capture the lead twice and answer "merged"); one whose first request died with the
    submission unprocessed (its lease is over) claims it and finishes it."""
    deadline = time.monotonic() + REPEAT_WAIT.total_seconds()
    while not submission.is_settled and not submission.attempts:
        if submission.next_attempt_at is None or submission.next_attempt_at <= timezone.now():
            return process_claimed(submission.pk) or outcome_of(
                Submission.objects.get(pk=submission.pk)
            )
        if time.monotonic() > deadline:
            break  # still in flight: answer 202, stored and not processed yet
        time.sleep(REPEAT_POLL)
        submission.refresh_from_db()
    return outcome_of(submission)


def _settle(
    submission: Submission, status: str, *, lead: Lead | None = None, errors: list | None = None
) -> None:
    submission.status = status
    submission.lead = lead
    submission.errors = errors or []
    submission.processed_at = timezone.now()
    submission.next_attempt_at = None
    submission.save(
        update_fields=[
            "status",
            "lead",
            "errors",
            "processed_at",
            "next_attempt_at",
            "visitor_key",
            "is_partial",
        ]
    )


def _fail(submission: Submission, error: Exception) -> None:
    attempts = submission.attempts + 1
    Submission.objects.filter(pk=submission.pk).update(
        status=SubmissionStatus.FAILED,
        attempts=attempts,
        last_error=repr(error)[:2000],
        next_attempt_at=durable.backoff(attempts, RETRY_BACKOFF)
        if attempts < MAX_ATTEMPTS
        else None,
    )
    submission.refresh_from_db()


def _intake_from(submission: Submission) -> LeadIntake:
    try:
        payload = json.loads(submission.raw)
    except (ValueError, RecursionError):
        raise Rejected([{"field": None, "message": "The body is not valid JSON."}]) from None
    if not isinstance(payload, dict):
        raise Rejected([{"field": None, "message": "The body must be a JSON object."}])
    if submission.channel in {CaptureChannel.API, CaptureChannel.IMPORT}:
        return _intake_from_api(submission, payload)
    return _intake_from_form(submission, payload)


def _evidence(submission: Submission, page_url: str = "") -> dict:
    evidence = {"submission_id": submission.pk}
    if submission.form_version_id:
        evidence |= {"form": submission.form.slug, "form_version": submission.form_version.number}
    if page_url:
        evidence["page_url"] = page_url
    return evidence


def _with_evidence(consents: list[ConsentGiven], submission: Submission, page_url: str) -> list:
    return [
        ConsentGiven(
            c.channel,
            c.granted,
            c.wording,
            page_url=page_url,
            ip_address=submission.ip_address,
            user_agent=submission.user_agent,
            evidence=_evidence(submission, page_url),
        )
        for c in consents
    ]


def _intake_from_form(submission: Submission, payload: dict) -> LeadIntake:
    try:
        body = FormSubmissionIn.model_validate(payload)
    except ValidationError as error:
        raise Rejected(pydantic_errors(error)) from None
    version = submission.form_version
    if version is None:
        raise Rejected([{"field": None, "message": "This form no longer exists."}])
    definition = parse_definition(version.definition)
    through_step = body.step if body.partial else None
    if through_step is not None and not 0 <= through_step < len(definition.steps):
        raise Rejected([{"field": "step", "message": "There is no such step in this form."}])
    answers = clean_answers(definition, body.answers, through_step=through_step)
    if answers.errors:
        raise Rejected(answers.errors)
    attributes = answers.lead_attributes
    if not (attributes.get("email") or attributes.get("phone")):
        raise Rejected([{"field": None, "message": "Leave an email address or a phone number."}])
    submission.visitor_key = body.visitor_id
    submission.is_partial = body.partial
    return LeadIntake(
        channel=submission.channel,
        **attributes,
        custom_fields=answers.custom_fields,
        consents=_with_evidence(answers.consents, submission, body.page_url),
        touch=tracking.clean_touch(body.tracking, page_url=body.page_url),
        first_touch=tracking.first_touch_of(body.visitor_id),
        source_id=submission.source_id,
        is_partial=body.partial,
        actor=f"form:{submission.form.slug}",
        evidence=_evidence(submission, body.page_url) | {"answers": answers.values},
    )


def _intake_from_api(submission: Submission, payload: dict) -> LeadIntake:
    try:
        body = LeadIn.model_validate(payload)
    except ValidationError as error:
        raise Rejected(pydantic_errors(error)) from None
    return intake_from_lead_in(submission, body)


def intake_from_lead_in(submission: Submission, body: LeadIn) -> LeadIntake:
    """The intake of a validated API body; the CSV importer builds each row into a LeadIn too."""
    submission.visitor_key = body.visitor_id
    consents = [ConsentGiven(c.channel, c.granted, c.wording) for c in body.consent_list()]
    return LeadIntake(
        channel=submission.channel,
        first_name=body.first_name,
        last_name=body.last_name,
        email=body.email,
        phone=body.phone,
        company=body.company,
        custom_fields=body.fields,
        consents=_with_evidence(consents, submission, body.tracking.get("landing_page", "")),
        touch=tracking.clean_touch(body.tracking),
        first_touch=tracking.first_touch_of(body.visitor_id),
        source_id=submission.source_id,
        actor=f"source:{submission.source.slug}" if submission.source else submission.channel,
        evidence=_evidence(submission),
    )


def retry_due_submissions(limit: int = 500) -> int:
    """The sweep: submissions whose processing never finished (a crash) or failed and are due."""
    from leadloop.capture.tasks import process_submission

    due = Submission.objects.filter(
        PENDING, next_attempt_at__lte=timezone.now(), attempts__lt=MAX_ATTEMPTS
    ).values_list("pk", flat=True)[:limit]
    due = list(due)
    for pk in due:
        process_submission.enqueue(pk)
    return len(due)


def process_claimed(submission_id: int) -> Outcome | None:
    """Process a submission found by the sweep, if no other worker has claimed it first."""
    submission = Submission.objects.filter(pk=submission_id).first()
    if submission is None or submission.is_settled:
        return None
    if not durable.claim(
        submission,
        attempts_field="attempts",
        due_field="next_attempt_at",
        lease=PROCESSING_LEASE,
        still_pending=PENDING,
    ):
        return None
    return process(submission)


def import_form(data: dict) -> Form:
    """Create or update a form from its exported JSON (a new version if the definition changed)."""
    definition = parse_definition(data.get("definition"))
    slug, name = data.get("slug"), data.get("name") or definition.title
    if not slug or not name:
        raise ValueError("a form needs a slug and a name")
    form = Form.objects.filter(slug=slug).first() or Form(slug=slug)
    form.name = name
    form.definition = data["definition"]
    form.is_active = data.get("is_active", True)
    form.save()
    return form


def export_form(form: Form) -> dict:
    return {
        "slug": form.slug,
        "name": form.name,
        "version": form.version,
        "is_active": form.is_active,
        "definition": form.definition,
    }
