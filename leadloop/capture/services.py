"""Capture's verbs: store what arrived, clean it, and hand it to the journey.

Every entry point (hosted page, widget, chat, API, import) goes through `receive` then `process`:
1. `receive` commits the raw body as a Submission before anything can go wrong with it;
2. `process` cleans it against the form definition or the API schema; bad input is rejected
   with field-level errors and kept;
3. clean input goes through `journey.admit` and the submission is marked accepted or merged in
   the same transaction, so the caller acknowledges only what is committed;
4. an unexpected failure leaves the submission `failed` with a due time: the sweep retries it.
Under a burst, the live path (`capture`) takes the requests of a web process that arrive
together through 1-3 at once: one commit of their raw bodies, then one journey.
"""

import functools
import json
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, connections, transaction
from django.db.models import Q
from django.utils import timezone
from pydantic import ValidationError

from leadloop import journey
from leadloop.capture import tracking
from leadloop.capture.definitions import Settings, clean_answers, parse_definition
from leadloop.capture.models import (
    RETRY_BACKOFF,
    CaptureChannel,
    Form,
    FormVersion,
    Submission,
    SubmissionStatus,
)
from leadloop.capture.schemas import FormSubmissionIn, LeadIn, pydantic_errors
from leadloop.core import durable, experiments, rows
from leadloop.core.batching import Batcher
from leadloop.core.models import DuplicatePolicy, Lead, Source
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
    return _store(_submission(channel, raw, meta, form, source, idempotency_key))


def _submission(
    channel: str,
    raw: str,
    meta: RequestMeta,
    form: Form | None,
    source: Source | None,
    idempotency_key: str,
) -> Submission:
    return Submission(
        channel=channel,
        form=form,
        form_version=version_shown(form, _visitor_in(raw), channel) if form else None,
        source=source or (form.source if form else None),
        raw=raw,
        idempotency_key=idempotency_key,
        ip_address=meta.ip_address,
        user_agent=meta.user_agent[:500],
        origin=meta.origin[:500],
        next_attempt_at=timezone.now() + PROCESSING_LEASE,
    )


def version_shown(form: Form, visitor_key: str, channel: str) -> FormVersion | None:
    """The version a visitor is shown and submits: the variant an A/B test running on the form
    assigned them (core.experiments), else the form's current version."""
    tested = experiments.form_version_for(
        form.pk, visitor_key, on_landing_page=channel == CaptureChannel.LANDING_PAGE
    )
    if tested is not None:
        return form.versions.filter(pk=tested).first()
    return form.versions.filter(number=form.version).first()


def _visitor_in(raw: str) -> str:
    """The visitor id a form's body carries, read before the body is checked (a bad body has
    none, and is rejected later with its errors)."""
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        return ""
    visitor = payload.get("visitor_id") if isinstance(payload, dict) else None
    return visitor[:64] if isinstance(visitor, str) else ""


def _store(submission: Submission) -> tuple[Submission, bool]:
    # Outside a transaction the INSERT commits on its own, and SQLite's write lock is held only
    # while it runs, not while the ORM builds it; inside the caller's transaction a savepoint
    # keeps a duplicate idempotency key from spoiling that transaction.
    in_transaction = transaction.get_connection().in_atomic_block
    try:
        with transaction.atomic() if in_transaction else nullcontext():
            rows.insert([submission])
        return submission, True
    except IntegrityError:
        if not submission.idempotency_key:
            raise
        first = Submission.objects.get(
            source=submission.source_id, idempotency_key=submission.idempotency_key
        )
        return first, False


def process(submission: Submission) -> Outcome:
    cleaned = _clean(submission)
    if isinstance(cleaned, Outcome):
        return cleaned
    return _admit_and_settle([(submission, cleaned)])[0]


def _clean(submission: Submission) -> LeadIntake | Outcome:
    """The intake of a stored submission, or its answer when what arrived is rejected."""
    try:
        return _intake_from(submission)
    except Rejected as rejection:
        _settle(submission, SubmissionStatus.REJECTED, errors=rejection.errors)
        return Outcome(submission, errors=rejection.errors)


def _admit_and_settle(items: list[tuple[Submission, LeadIntake]]) -> list[Outcome]:
    """Judge cleaned submissions (before the transaction: it may wait on DNS), then admit them in
    one transaction and mark each accepted, merged or rejected as a duplicate."""
    if not items:
        return []
    try:
        intakes = [intake for _, intake in items]
        assessments = journey.prepare(intakes)
        with transaction.atomic():
            admissions = journey.admit(intakes, assessments)
            for (submission, _), admission in zip(items, admissions, strict=True):
                tracking.identify(submission.visitor_key, admission.lead)
            _settle_admitted([submission for submission, _ in items], admissions)
    except Exception as error:
        if len(items) > 1:
            # One bad submission must not fail the others that shared its transaction.
            return [outcome for item in items for outcome in _admit_and_settle([item])]
        submission = items[0][0]
        logger.exception("submission %s failed; the sweep will retry it", submission.pk)
        _fail(submission, error)
        return [Outcome(submission)]
    return [
        Outcome(submission, admission.lead, admission.created)
        for (submission, _), admission in zip(items, admissions, strict=True)
    ]


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
    submission = _submission(channel, raw, meta, form, source, idempotency_key)
    if transaction.get_connection().in_atomic_block:
        # Inside the caller's transaction (invisible to other connections): never in another
        # thread's batch.
        result = _capture_all([submission])[0]
    else:
        result = _captured_together.submit(submission)
    if isinstance(result, Exception):
        raise result
    if isinstance(result, Submission):
        return _repeat(result)
    return result


def _capture_all(submissions: list[Submission]) -> list[Outcome | Submission | Exception]:
    """Receive then process submissions that arrived together: their raw bodies are committed
    first (one INSERT), then the clean ones are admitted in one transaction. Each gets its own
    answer: an Outcome, the first submission of a repeated idempotency key (its caller waits
    for that one's answer, outside the batch), or the exception that failed only it."""
    results: list[Outcome | Submission | Exception] = []
    admitting: list[tuple[int, Submission, LeadIntake]] = []
    for index, stored in enumerate(_store_all(submissions)):
        results.append(stored if isinstance(stored, Exception) else stored[0])
        if isinstance(stored, Exception) or not stored[1]:
            continue
        submission = stored[0]
        try:
            cleaned = _clean(submission)
        except Exception as error:  # left received: the sweep retries it
            results[index] = error
            continue
        if isinstance(cleaned, Outcome):
            results[index] = cleaned
        else:
            admitting.append((index, submission, cleaned))
    outcomes = _admit_and_settle([(submission, intake) for _, submission, intake in admitting])
    for (index, _, _), outcome in zip(admitting, outcomes, strict=True):
        results[index] = outcome
    return results


def _store_all(submissions: list[Submission]) -> list[tuple[Submission, bool] | Exception]:
    if len(submissions) > 1:
        try:
            with transaction.atomic():
                rows.insert(submissions)
            return [(submission, True) for submission in submissions]
        except Exception:
            # A repeated idempotency key among them (or one bad row): store each on its own,
            # so each gets its own answer.
            for submission in submissions:
                submission.pk, submission._state.adding = None, True
    stored: list[tuple[Submission, bool] | Exception] = []
    for submission in submissions:
        try:
            stored.append(_store(submission))
        except Exception as error:
            stored.append(error)
    return stored


# Group commit for the live path. Under a burst, the request threads of a web process that
# arrive while one of them is capturing queue up, and the next turn captures them all: one
# INSERT of raw bodies, one journey (one lead lookup, one insert per table) for the batch,
# instead of one of each per request; on SQLite, two turns at the write lock instead of two
# per request. A request that finds nobody capturing is served at once, without waiting.
_captured_together: Batcher[Submission, Outcome | Submission | Exception] = Batcher(_capture_all)


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


DUPLICATE_ERROR = {"field": "email", "message": "This person is already a lead."}


def _settle_admitted(submissions: list[Submission], admissions: list[journey.Admission]) -> None:
    """`_settle` for a batch of admitted submissions, in one UPDATE: a CASE on the primary key
    for what differs (as the importer does). An UPDATE per submission was a third of the
    ORM work of a batch, all of it under SQLite's write lock; compiling the one UPDATE through
    the ORM was still a sixth of a lead's CPU, so its SQL is written once per batch size.
    Duplicates rejected by policy (rare, and carrying an error) are settled one by one."""
    pairs = list(zip(submissions, admissions, strict=True))
    for submission, admission in pairs:
        if admission.rejected_as_duplicate:
            _settle(
                submission,
                SubmissionStatus.DUPLICATE,
                lead=admission.lead,
                errors=[DUPLICATE_ERROR],
            )
    pairs = [(s, a) for s, a in pairs if not a.rejected_as_duplicate]
    if not pairs:
        return
    submissions = [s for s, _ in pairs]
    now = timezone.now()
    for submission, admission in pairs:
        created = admission.created
        submission.status = SubmissionStatus.ACCEPTED if created else SubmissionStatus.MERGED
        submission.lead, submission.errors = admission.lead, []
        submission.processed_at, submission.next_attempt_at = now, None
    connection = transaction.get_connection()
    params = [
        value
        for name in SETTLED_EACH
        for submission in submissions
        for value in (submission.pk, _db_value(submission, name, connection))
    ]
    params += [_db_value(submissions[0], name, connection) for name in SETTLED_ALIKE]
    params += [submission.pk for submission in submissions]
    with connection.cursor() as cursor:
        cursor.execute(_settle_sql(connection.alias, len(submissions)), params)


# What settling an admitted submission writes: per submission, and the same for all.
SETTLED_EACH = ("status", "lead_id", "visitor_key", "is_partial")
SETTLED_ALIKE = ("errors", "processed_at", "next_attempt_at")


def _db_value(submission: Submission, attname: str, connection) -> object:
    field = Submission._meta.get_field(attname.removesuffix("_id"))
    return field.get_db_prep_save(getattr(submission, attname), connection)


@functools.lru_cache(maxsize=64)
def _settle_sql(alias: str, count: int) -> str:
    quote = connections[alias].ops.quote_name
    column = {f.attname: quote(f.column) for f in Submission._meta.concrete_fields}
    pk = quote(Submission._meta.pk.column)
    whens = " ".join(["WHEN %s THEN %s"] * count)
    each = [f"{column[name]} = CASE {pk} {whens} END" for name in SETTLED_EACH]
    alike = [f"{column[name]} = %s" for name in SETTLED_ALIKE]
    table = quote(Submission._meta.db_table)
    ids = ", ".join(["%s"] * count)
    # Names quoted from the model's own metadata; every value is a placeholder.
    return f"UPDATE {table} SET {', '.join(each + alike)} WHERE {pk} IN ({ids})"  # noqa: S608


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
        signals=_browser_signals(submission, body, definition.settings),
        duplicate_policy=_duplicate_policy(submission, definition.settings.duplicate_policy),
    )


MAX_FOCUS_EVENTS = 50


def _browser_signals(submission: Submission, body: FormSubmissionIn, settings: Settings) -> dict:
    """What the quality layer judges a browser submission by. Typing is reported only by our
    script (a hosted page without JavaScript sends none, and is not judged on it)."""
    typed = body.signals
    client_ms = typed.get("ms_to_submit")
    return {
        "browser": True,
        "user_agent": submission.user_agent,
        "ip_address": submission.ip_address,
        "honeypot": body.honeypot,
        "opened": body.opened,
        "client_seconds": client_ms / 1000 if isinstance(client_ms, int | float) else None,
        "typing": _typing(typed) if typed else None,
        "min_seconds": settings.min_seconds,
        "proof_required": settings.proof_of_work,
        "proof_of_work": body.proof_of_work,
    }


def _typing(typed: dict) -> dict:
    focus = typed.get("focus_order")
    return {
        "keystrokes": _count(typed.get("keystrokes")),
        "pastes": _count(typed.get("pastes")),
        "focus_order": [str(n)[:100] for n in focus[:MAX_FOCUS_EVENTS]]
        if isinstance(focus, list)
        else [],
    }


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _duplicate_policy(submission: Submission, form_policy: str | None) -> str:
    if form_policy:
        return form_policy
    source = submission.source
    return source.duplicate_policy if source else DuplicatePolicy.UPDATE


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
        signals={"bulk": submission.channel == CaptureChannel.IMPORT},
        duplicate_policy=DuplicatePolicy.UPDATE
        if submission.channel == CaptureChannel.IMPORT
        else _duplicate_policy(submission, None),
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
