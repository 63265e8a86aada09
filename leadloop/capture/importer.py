"""CSV import of leads: a business's whole history through the same door as one API post.
An import of deal outcomes runs through the same machinery (see `outcomes`).

Each row is mapped onto the API's `LeadIn` (so the same cleaners judge it), kept raw as an
`import` Submission, and handed to `journey.admit` a batch at a time. A batch's submissions,
leads, events, consents and the job's progress commit in one transaction, so the ImportJob row
is the record of how far the import got: a crashed import resumes from `processed_rows`
(ARCHITECTURE.md "Durable work"). Rejected rows, with every reason, go to a CSV report.

Memory stays bounded: the file is streamed, and only one batch of rows and the leads it touches
are held at a time (a dry run also keeps the contact keys it has seen; see `_SeenContacts`).
"""

import csv
import gc
import io
import json
import logging
import pickle
import re
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import F, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from pydantic import ValidationError

from leadloop import journey
from leadloop.capture import outcomes, services
from leadloop.capture.cleaning import CONTROL_CHARACTERS
from leadloop.capture.models import (
    CaptureChannel,
    ImportJob,
    ImportKind,
    ImportStatus,
    Submission,
    SubmissionStatus,
)
from leadloop.capture.schemas import MAX_CUSTOM_FIELDS, LeadIn, pydantic_errors
from leadloop.compliance.models import ConsentChannel
from leadloop.core.models import Source
from leadloop.core.types import TOUCH_KEYS

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
# A running job writes its heartbeat after every batch (well under a second); one silent for
# this long lost its worker. Generous, because a batch may wait out SQLite's 30 s busy timeout.
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 5
SNIFF_BYTES = 64 * 1024
# Below this many rows to go, starting a second process to check rows costs more than it saves.
PARALLEL_MIN_ROWS = 10_000
# Rows per settling UPDATE: 5 parameters a row stays under SQLite's 999 before 3.32.
SETTLE_CHUNK = 190

IGNORE = ""
FULL_NAME = "full_name"
LEAD_ATTRIBUTES = ("first_name", "last_name", "email", "phone", "company")
CONTACT_TARGETS = ("email", "phone")
FIELD_NAME_MAX = 64

# Header synonyms, compared with case, spaces and punctuation removed ("E-mail" == "email").
SYNONYMS: dict[str, str] = {
    **dict.fromkeys(
        [
            "email",
            "emailaddress",
            "mail",
            "emailid",
            "contactemail",
            "workemail",
            "primaryemail",
            "personalemail",
            "courriel",
            "correo",
            "emailadresse",
        ],
        "email",
    ),
    **dict.fromkeys(
        [
            "phone",
            "phonenumber",
            "phoneno",
            "telephone",
            "telephonenumber",
            "tel",
            "mobile",
            "mobilephone",
            "mobilenumber",
            "cell",
            "cellphone",
            "cellnumber",
            "contactnumber",
            "workphone",
            "primaryphone",
            "homephone",
            "telefon",
            "telefono",
        ],
        "phone",
    ),
    **dict.fromkeys(
        ["firstname", "first", "givenname", "forename", "fname", "prenom", "vorname"],
        "first_name",
    ),
    **dict.fromkeys(
        ["lastname", "last", "surname", "familyname", "lname", "nom", "nachname"], "last_name"
    ),
    **dict.fromkeys(["name", "fullname", "contactname", "contact", "leadname"], FULL_NAME),
    **dict.fromkeys(
        [
            "company",
            "companyname",
            "organisation",
            "organization",
            "organisationname",
            "organizationname",
            "org",
            "business",
            "businessname",
            "employer",
            "account",
            "accountname",
            "firma",
        ],
        "company",
    ),
    **dict.fromkeys(
        [
            "emailoptin",
            "emailconsent",
            "acceptsemailmarketing",
            "acceptsmarketing",
            "marketingconsent",
            "marketingoptin",
            "newsletter",
            "subscribed",
            "optin",
        ],
        "consent.email",
    ),
    **dict.fromkeys(
        ["smsoptin", "smsconsent", "acceptssmsmarketing", "textoptin", "smsmarketing"],
        "consent.sms",
    ),
    **dict.fromkeys(["phoneconsent", "calloptin", "phoneoptin"], "consent.phone"),
    **{key.replace("_", ""): f"tracking.{key}" for key in TOUCH_KEYS},
    "referer": "tracking.referrer",
    "referringurl": "tracking.referrer",
    "landingpageurl": "tracking.landing_page",
}

# An outcomes file names its lead by the same email and phone headers a leads file has.
OUTCOME_SYNONYMS: dict[str, str] = {
    **{header: target for header, target in SYNONYMS.items() if target in CONTACT_TARGETS},
    **outcomes.SYNONYMS,
}

# Strict on purpose: an unreadable consent cell must not be recorded as a refusal (or a grant).
CONSENT_YES = {"1", "true", "yes", "y", "on", "x", "checked", "subscribed", "opted in", "optedin",
               "granted", "agreed"}  # fmt: skip
CONSENT_NO = {"0", "false", "no", "n", "off", "unchecked", "unsubscribed", "opted out",
              "optedout", "refused", "declined"}  # fmt: skip

# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?[\d\s().-]*\d[\d\s().-]*")


class ImportFileError(Exception):
    """The file cannot be read as CSV at all; the message tells the person how to fix it."""


class LostClaim(Exception):
    """Another worker took this job over (this one was presumed dead): stop without writing."""


# --- mapping -------------------------------------------------------------------------------


def target_choices(kind: str = ImportKind.LEADS) -> list[tuple[str, str]]:
    """Every target a column can map to, except the per-column custom field (`fields.<name>`)."""
    if kind == ImportKind.OUTCOMES:
        return [(IGNORE, "— ignore —"), *outcomes.TARGETS]
    return [
        (IGNORE, "— ignore —"),
        ("first_name", "First name"),
        ("last_name", "Last name"),
        (FULL_NAME, "Full name (split into first and last)"),
        ("email", "Email"),
        ("phone", "Phone"),
        ("company", "Company"),
        *[(f"consent.{value}", f"Consent: {label}") for value, label in ConsentChannel.choices],
        *[(f"tracking.{key}", f"Tracking: {key}") for key in TOUCH_KEYS],
    ]


def normalise_header(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.casefold())


def custom_field_name(header: str) -> str:
    """`Preferred Service` → `preferred_service`: the custom field a column becomes by default."""
    name = re.sub(r"[^0-9a-z]+", "_", header.casefold()).strip("_")
    return name[:FIELD_NAME_MAX].strip("_") or "column"


def guess_mapping(headers: Sequence[str], kind: str = ImportKind.LEADS) -> dict[str, str]:
    """A target per header: known synonyms map to lead attributes, consent or tracking; any
    other column becomes a custom field, since an import should lose nothing by default. The
    first column to claim a target wins; later ones fall back to custom fields. An outcomes
    file has no custom fields: its other columns are ignored."""
    synonyms = OUTCOME_SYNONYMS if kind == ImportKind.OUTCOMES else SYNONYMS
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        target = synonyms.get(normalise_header(header))
        if target is None or target in taken:
            target = _spare_target(header, kind)
        base, n = target, 2
        while target and target in taken:  # two columns "Notes" and "notes:" need two fields
            target, n = f"{base}_{n}", n + 1
        mapping[header] = target
        taken.add(target)
    # A full-name column beside first/last columns would fight them: keep it as a custom field.
    if taken & {"first_name", "last_name"}:
        for header, target in mapping.items():
            if target == FULL_NAME:
                mapping[header] = f"fields.{custom_field_name(header)}"
    return mapping


def _spare_target(header: str, kind: str) -> str:
    """Where a column no synonym claims goes."""
    return IGNORE if kind == ImportKind.OUTCOMES else f"fields.{custom_field_name(header)}"


def resolve_mapping(
    headers: Sequence[str], overrides: dict[str, str], kind: str = ImportKind.LEADS
) -> dict[str, str]:
    """The guessed mapping with the person's choices on top. A guessed column whose target an
    override took is demoted to a custom field, so `--map "Mobile=phone"` just works."""
    unknown = set(overrides) - set(headers)
    if unknown:
        raise ValueError(
            f"No column named {', '.join(map(repr, sorted(unknown)))}; "
            f"the columns are: {', '.join(map(repr, headers))}."
        )
    mapping = guess_mapping(headers, kind)
    claimed = {target for target in overrides.values() if target}
    for header, target in mapping.items():
        if header not in overrides and target in claimed:
            mapping[header] = _spare_target(header, kind)
    mapping.update(overrides)
    return mapping


def check_mapping(
    headers: Sequence[str], mapping: dict[str, str], kind: str = ImportKind.LEADS
) -> list[str]:
    """What is wrong with a mapping, as sentences; empty when it can be imported."""
    errors = []
    allowed = {value for value, _ in target_choices(kind)}
    used: dict[str, str] = {}
    for header, target in mapping.items():
        if header not in headers:
            errors.append(f"There is no column {header!r}.")
        if kind == ImportKind.LEADS and target.startswith("fields."):
            name = target.removeprefix("fields.")
            if not name.strip() or len(name) > FIELD_NAME_MAX:
                errors.append(f"Column {header!r}: name the custom field (1 to 64 characters).")
        elif target not in allowed:
            errors.append(f"Column {header!r}: {target!r} is not something a column can fill.")
        if target and target in used:
            errors.append(f"Columns {used[target]!r} and {header!r} both fill {target!r}.")
        used.setdefault(target, header)
    if kind == ImportKind.OUTCOMES:
        return errors + outcomes.mapping_problems(used)
    if FULL_NAME in used and ({"first_name", "last_name"} & set(used)):
        errors.append("Map either a full name column or first/last name columns, not both.")
    if not set(CONTACT_TARGETS) & set(used):
        errors.append("Map a column to email or phone: a lead needs one of them.")
    if sum(target.startswith("fields.") for target in used) > MAX_CUSTOM_FIELDS:
        errors.append(f"Keep at most {MAX_CUSTOM_FIELDS} custom fields; ignore the others.")
    return errors


def check_region(region: str) -> list[str]:
    """The default country for phone numbers without a +code, as LeadIn wants it."""
    if len(region) == 2 and region.isascii() and region.isalpha():
        return []
    return [f"{region!r} is not a two-letter country code, such as US or GB."]


# --- reading the file ----------------------------------------------------------------------


@dataclass(frozen=True)
class CsvLayout:
    delimiter: str
    headers: list[str]


def _sniff_delimiter(sample: str) -> str:
    lines = sample.splitlines()
    whole = "\n".join(lines[:-1] if len(lines) > 1 else lines)
    try:
        return csv.Sniffer().sniff(whole, delimiters=";,\t").delimiter
    except csv.Error:
        # A one-column file or too few lines to be sure: the header line decides.
        header = lines[0] if lines else ""
        return max(";,\t", key=header.count) if any(d in header for d in ";,\t") else ","


def _unique_headers(cells: list[str]) -> list[str]:
    """Header names as the mapping keys them: trimmed, blanks named, repeats numbered."""
    headers: list[str] = []
    for index, cell in enumerate(cells, start=1):
        # Control characters go: a header is echoed in errors, which PostgreSQL's jsonb keeps
        # only without NUL.
        base = " ".join(CONTROL_CHARACTERS.sub("", cell).split()) or f"Column {index}"
        name, n = base, 2
        while name in headers:
            name, n = f"{base} ({n})", n + 1
        headers.append(name)
    return headers


@contextmanager
def open_csv(storage: Storage, name: str) -> Iterator[tuple[CsvLayout, Iterator[list[str]]]]:
    """The file's layout and a reader positioned after the header row. UTF-8 (with or without
    the BOM Excel writes) only: guessing another encoding would garble names silently."""
    with storage.open(name, "rb") as handle, _csv_in(getattr(handle, "file", handle)) as opened:
        yield opened


@contextmanager
def open_csv_path(path: str) -> Iterator[tuple[CsvLayout, Iterator[list[str]]]]:
    with open(path, "rb") as handle, _csv_in(handle) as opened:
        yield opened


@contextmanager
def _csv_in(binary: BinaryIO) -> Iterator[tuple[CsvLayout, Iterator[list[str]]]]:
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    try:
        sample = text.read(SNIFF_BYTES)
        text.seek(0)
        delimiter = _sniff_delimiter(sample)
        reader = csv.reader(text, delimiter=delimiter)
        first = next(reader, None)
    except UnicodeDecodeError:
        raise ImportFileError(_not_utf8()) from None
    except csv.Error as error:
        raise ImportFileError(f"The header row cannot be read as CSV: {error}.") from None
    if not first or not any(cell.strip() for cell in first):
        raise ImportFileError("The file is empty: the first row must name the columns.")
    try:
        yield CsvLayout(delimiter, _unique_headers(first)), reader
    finally:
        text.detach()  # the caller's `with` closes the file


def _not_utf8() -> str:
    return "The file is not UTF-8 text: in your spreadsheet, save it as 'CSV UTF-8' and retry."


def count_rows(reader: Iterator[list[str]]) -> int:
    """Read the whole file once: the total for the progress bar, and proof that every row
    decodes and parses before the first one is imported."""
    count = 0
    try:
        for count, _ in enumerate(reader, start=1):  # noqa: B007
            pass
    except UnicodeDecodeError:
        raise ImportFileError(_not_utf8()) from None
    except csv.Error as error:
        raise ImportFileError(f"Row {count + 2} cannot be read as CSV: {error}.") from None
    return count


def preview(storage: Storage, name: str, rows: int = 3) -> tuple[CsvLayout, list[list[str]]]:
    """The layout and the first few data rows, for the mapping step."""
    with open_csv(storage, name) as (layout, reader):
        try:
            return layout, list(islice(reader, rows))
        except (UnicodeDecodeError, csv.Error):
            raise ImportFileError(_not_utf8()) from None


# --- one row -------------------------------------------------------------------------------


@dataclass
class CheckedRow:
    number: int  # as a spreadsheet shows it: the header is row 1
    raw_json: str  # the row as given, {header: cell}: what its Submission keeps
    body: LeadIn | outcomes.OutcomeRow | None = None
    errors: list[dict] = field(default_factory=list)
    raw: dict[str, str] | None = None  # for the rejects report: rejected rows only

    def reject(self, errors: list[dict]) -> None:
        self.body, self.errors, self.raw = None, errors, json.loads(self.raw_json)


class _Plan(ABC):
    """A mapping compiled against the header row; each kind of import reads its own values."""

    def __init__(self, headers: list[str], mapping: dict[str, str], region: str):
        self.headers = headers
        self.region = region
        self.columns = [(i, h, mapping.get(h, IGNORE)) for i, h in enumerate(headers)]
        self.columns = [c for c in self.columns if c[2]]
        self.column_of = {target: header for _, header, target in self.columns}

    def raw(self, cells: list[str]) -> dict[str, str]:
        raw = dict(zip(self.headers, cells, strict=False))
        for index in range(len(self.headers), len(cells)):
            raw[f"(column {index + 1})"] = cells[index]
        return raw

    @abstractmethod
    def check(self, number: int, cells: list[str]) -> CheckedRow: ...


def plan_for(job: ImportJob, headers: list[str]) -> _Plan:
    plan = OutcomePlan if job.kind == ImportKind.OUTCOMES else RowPlan
    return plan(headers, job.mapping, job.default_region)


class OutcomePlan(_Plan):
    """Turns cells into an `outcomes.OutcomeRow`; which lead it names is found when written."""

    def check(self, number: int, cells: list[str]) -> CheckedRow:
        row = CheckedRow(number, json.dumps(self.raw(cells), ensure_ascii=False))
        width = len(cells)
        values = {target: cells[i] if i < width else "" for i, _, target in self.columns}
        row.body, problems = outcomes.read_row(values, self.region, timezone.now())
        if problems:
            row.reject(self.errors(problems))
        return row

    def errors(self, problems: list[outcomes.Problem]) -> list[dict]:
        return [_error(self.column_of[target], message) for target, message in problems]


class RowPlan(_Plan):
    """Turns cells into a LeadIn payload."""

    def __init__(self, headers: list[str], mapping: dict[str, str], region: str):
        super().__init__(headers, mapping, region)
        self.wordings = {header: _wording(header) for header in headers}
        if FULL_NAME in self.column_of:
            self.column_of |= dict.fromkeys(["first_name", "last_name"], self.column_of[FULL_NAME])

    def check(self, number: int, cells: list[str]) -> CheckedRow:
        raw = self.raw(cells)
        row = CheckedRow(number, json.dumps(raw, ensure_ascii=False))
        payload, errors = self._payload(cells)
        try:
            body = LeadIn.model_validate(payload)
        except ValidationError as error:
            errors.extend(self._with_columns(pydantic_errors(error)))
        else:
            if not errors:
                row.body = body
        if errors:
            row.errors, row.raw = errors, raw
        return row

    def _payload(self, cells: list[str]) -> tuple[dict, list[dict]]:
        # Empty cells are left out, so LeadIn's defaults apply and its validators skip them.
        payload: dict = {"region": self.region}
        fields, consent, tracking, errors = {}, {}, {}, []
        width = len(cells)
        for index, header, target in self.columns:
            value = cells[index] if index < width else ""
            if not value or value.isspace():
                continue
            if target in LEAD_ATTRIBUTES:
                payload[target] = value
            elif target == FULL_NAME:
                payload["first_name"], payload["last_name"] = split_full_name(value)
            elif target.startswith("fields."):
                fields[target[7:]] = value
            elif target.startswith("consent."):
                word = " ".join(value.casefold().split())
                if word in CONSENT_YES or word in CONSENT_NO:
                    consent[target[8:]] = {
                        "granted": word in CONSENT_YES,
                        "wording": self.wordings[header],
                    }
                else:
                    errors.append(_error(header, "Write yes or no (or leave it empty)."))
            elif target.startswith("tracking."):
                tracking[target[9:]] = value
        if fields:
            payload["fields"] = fields
        if consent:
            payload["consent"] = consent
        if tracking:
            payload["tracking"] = tracking
        return payload, errors

    def _with_columns(self, errors: list[dict]) -> list[dict]:
        for error in errors:
            name = error["field"] or ""
            top = name.split(".", 1)[0]
            error["column"] = (
                self.column_of.get(name)
                or self.column_of.get(top)
                or ("custom fields" if top == "fields" else "")
            )
        return errors


def _wording(header: str) -> str:
    return f"Recorded as given in the imported CSV column {header!r} (no wording supplied)."


def _error(column: str, message: str) -> dict:
    return {"field": column, "column": column, "message": message}


def split_full_name(value: str) -> tuple[str, str]:
    """`Ada Lovelace` and `Lovelace, Ada` → (`Ada`, `Lovelace`); one word is a first name."""
    if "," in value:
        last, _, first = value.partition(",")
        return first.strip(), last.strip()
    first, _, last = value.strip().rpartition(" ")
    return (first.strip(), last) if first else (last, "")


def reasons(errors: list[dict]) -> str:
    return "; ".join(
        f"{e['column']}: {e['message']}" if e.get("column") else e["message"] for e in errors
    )


def spreadsheet_safe(cell: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula; numbers and phones stay as is."""
    if cell.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


# --- jobs ----------------------------------------------------------------------------------


def create_job(
    *,
    file_name: str,
    mapping: dict[str, str],
    kind: str = ImportKind.LEADS,
    source: Source | None = None,
    region: str = "US",
    dry_run: bool = False,
    created_by: object | None = None,
    enqueue: bool = True,
) -> ImportJob:
    """A queued job for a file already in storage; its task is enqueued in the same transaction,
    so a job is never left without its nudge (and the sweep is there if the nudge is lost)."""
    from leadloop.capture.tasks import run_import

    with transaction.atomic():
        job = ImportJob.objects.create(
            kind=kind,
            file=file_name,
            mapping=mapping,
            source=source,
            default_region=region.upper(),
            dry_run=dry_run,
            created_by=created_by,
            heartbeat_at=timezone.now(),
        )
        if enqueue:
            run_import.enqueue(job.pk)
    return job


def claim(job: ImportJob) -> bool:
    """Take a queued job for this process: a conditional UPDATE only one claimer can win. The
    attempt number it sets fences every later write, so a worker presumed dead that wakes up
    cannot write over the one that took its job."""
    now = timezone.now()
    won = ImportJob.objects.filter(
        pk=job.pk, status=ImportStatus.QUEUED, attempts=job.attempts, attempts__lt=MAX_ATTEMPTS
    ).update(status=ImportStatus.RUNNING, attempts=F("attempts") + 1, heartbeat_at=now)
    if won:
        job.refresh_from_db()
        if job.started_at is None:
            ImportJob.objects.filter(pk=job.pk).update(started_at=now)
            job.started_at = now
    return bool(won)


def run_claimed(job_id: int) -> ImportJob | None:
    """What the task does: claim the job if it is still queued, then run it to the end."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or not claim(job):
        return None
    return execute(job)


def requeue(job: ImportJob) -> bool:
    """Put a failed job back in the queue with fresh attempts; it resumes where it stopped."""
    from leadloop.capture.tasks import run_import

    with transaction.atomic():
        again = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.FAILED).update(
            status=ImportStatus.QUEUED, attempts=0, heartbeat_at=timezone.now(), finished_at=None
        )
        if again:
            run_import.enqueue(job.pk)
    job.refresh_from_db()
    return bool(again)


def stop(job: ImportJob, reason: str) -> None:
    """Mark a job this process runs as failed (an operator interrupted it); `requeue` resumes."""
    _fenced(job).update(
        status=ImportStatus.FAILED, last_error=reason[:2000], finished_at=timezone.now()
    )
    job.refresh_from_db()


def sweep() -> int:
    """The sweep: queued jobs whose nudge got lost, and running jobs whose worker went silent.

    1. A running job with a stale heartbeat goes back to queued (this also fences out its old
       worker, should it be alive after all), or to failed once its attempts are spent.
    2. Every queued job not nudged within the lease gets a task, and its nudge time is noted so
       the next sweep does not pile up duplicates while the first task waits for a worker."""
    from leadloop.capture.tasks import run_import

    now = timezone.now()
    stale = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - LEASE)
    dead = ImportJob.objects.filter(stale, status=ImportStatus.RUNNING)
    dead.filter(attempts__gte=MAX_ATTEMPTS).update(
        status=ImportStatus.FAILED,
        finished_at=now,
        last_error=f"Its worker stopped answering {MAX_ATTEMPTS} times; requeue it to resume.",
    )
    dead.update(
        status=ImportStatus.QUEUED,
        last_error="Its worker stopped answering; resuming.",
        heartbeat_at=None,
    )
    due = list(
        ImportJob.objects.filter(stale, status=ImportStatus.QUEUED).values_list("pk", flat=True)
    )
    for pk in due:
        with transaction.atomic():
            run_import.enqueue(pk)
            ImportJob.objects.filter(pk=pk).update(heartbeat_at=now)
    return len(due)


def _fenced(job: ImportJob):
    return ImportJob.objects.filter(pk=job.pk, attempts=job.attempts, status=ImportStatus.RUNNING)


# --- running a job -------------------------------------------------------------------------


ProgressCallback = Callable[[ImportJob], None]


def execute(
    job: ImportJob,
    on_progress: ProgressCallback | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    parallel: bool | None = None,
) -> ImportJob:
    """Run a job this process has claimed; its row ends done, failed, or queued for a retry.
    `parallel` checks rows in a second process (default: when there are many rows to go)."""
    try:
        with fewer_collections():
            _run(job, on_progress, batch_size, parallel)
    except LostClaim:
        logger.warning("import %s was taken over by another worker; stopping", job.pk)
    except ImportFileError as error:
        _fenced(job).update(
            status=ImportStatus.FAILED, last_error=str(error), finished_at=timezone.now()
        )
    except Exception as error:
        logger.exception("import %s failed at row %s", job.pk, job.processed_rows + 2)
        retry = job.attempts < MAX_ATTEMPTS
        # Left queued with a fresh nudge time, the sweep retries it after LEASE: the backoff.
        _fenced(job).update(
            status=ImportStatus.QUEUED if retry else ImportStatus.FAILED,
            last_error=f"At row {job.processed_rows + 2}: {error!r}"[:2000],
            heartbeat_at=timezone.now(),
            finished_at=None if retry else timezone.now(),
        )
    job.refresh_from_db()
    return job


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Keep Python's cyclic garbage collector off the objects that were there before the
    import (Django's, the app's: hundreds of thousands) and let it run less often on a
    batch's thousands of short-lived model objects, which reference counting frees anyway.
    Measured: a fifth of the import's CPU time went to collections that found nothing."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], 10_000), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _run(
    job: ImportJob, on_progress: ProgressCallback | None, batch_size: int, parallel: bool | None
) -> None:
    """
    1. Read the file once: its layout, its row count, and proof that it parses.
    2. Start the rejects report afresh, or cut it back to the committed rows on a resume
       (a crash between writing a batch's rejects and committing it leaves extra lines).
    3. Skip the rows a previous attempt committed; then, a batch at a time, check the rows
       (outside any transaction, and for a large file in a second process, as it is the
       slow part), then store and admit them, write their rejects and save progress, all in
       one transaction.
    4. Mark the job done.
    """
    path = job.file.path
    try:
        with open_csv_path(path) as (layout, reader):
            total = count_rows(reader)
    except FileNotFoundError:
        raise ImportFileError(
            f"The uploaded file {job.file.name} is gone; upload it again."
        ) from None
    problems = check_mapping(layout.headers, job.mapping, job.kind)
    problems += check_region(job.default_region)
    if problems:
        raise ImportFileError(" ".join(problems))
    if job.total_rows != total:
        _fenced(job).update(total_rows=total)
        job.total_rows = total

    plan = plan_for(job, layout.headers)
    if parallel is None:
        parallel = total - job.processed_rows >= PARALLEL_MIN_ROWS
    batches = (_checked_in_child if parallel else checked_batches)(
        path, plan, job.processed_rows, batch_size
    )
    writer = _OutcomesWriter(job, plan) if job.kind == ImportKind.OUTCOMES else _LeadsWriter(job)
    if on_progress:
        on_progress(job)
    with _RejectsReport(job, layout.headers) as report, closing(batches):
        for consumed, checked in batches:
            _import_batch(job, writer, checked, consumed, report)
            if on_progress:
                on_progress(job)
    _fenced(job).update(status=ImportStatus.DONE, finished_at=timezone.now(), last_error="")


def checked_batches(
    path: str, plan: _Plan, skip: int, batch_size: int
) -> Iterator[tuple[int, list[CheckedRow]]]:
    """The rows after the first `skip`, checked, a batch at a time: (rows read, checked rows).
    Blank rows are read but not checked: they are not leads, and not rejects either."""
    with open_csv_path(path) as (_, reader):
        number = skip + 2  # the header is row 1
        rows = islice(reader, skip, None)
        while batch := list(islice(rows, batch_size)):
            checked = [
                plan.check(number + offset, cells)
                for offset, cells in enumerate(batch)
                if any(cell.strip() for cell in cells)
            ]
            number += len(batch)
            yield len(batch), checked


def _checked_in_child(
    path: str, plan: _Plan, skip: int, batch_size: int
) -> Iterator[tuple[int, list[CheckedRow]]]:
    """`checked_batches`, run in a second process, so checking the next batches (pure CPU:
    about a third of the work) overlaps writing this one. The child writes pickled batches to
    its stdout, a pipe: it blocks once the pipe is full (memory stays bounded), and if this
    process dies its next write fails, so it never outlives its job. A fresh interpreter, not a
    fork: a fork would copy this process's database connections and the worker's threads."""
    child = subprocess.Popen(
        [sys.executable, "-m", "leadloop.capture.import_checker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        with child.stdin:
            pickle.dump((path, plan, skip, batch_size), child.stdin)
        while True:
            try:
                message = pickle.load(child.stdout)  # noqa: S301 (our own child's output)
            except EOFError:
                raise RuntimeError("the row-checking process stopped unexpectedly") from None
            if message is None:
                return
            if isinstance(message, str):
                raise RuntimeError(f"the row-checking process failed: {message}")
            yield message
    finally:
        child.stdout.close()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def send_checked_batches(source: BinaryIO, sink: BinaryIO) -> None:
    """The child's side: read its orders, send each checked batch, then None (or the error)."""
    path, plan, skip, batch_size = pickle.load(source)  # noqa: S301 (from our own parent)
    try:
        with fewer_collections():
            for batch in checked_batches(path, plan, skip, batch_size):
                pickle.dump(batch, sink, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(None, sink)
            sink.flush()
    except BrokenPipeError:
        return  # the importing process stopped: so does this one
    except Exception as error:
        with suppress(OSError):
            pickle.dump(repr(error), sink)
            sink.flush()


def _import_batch(
    job: ImportJob,
    writer: "_LeadsWriter | _OutcomesWriter",
    rows: list[CheckedRow],
    consumed: int,
    report: "_RejectsReport",
) -> None:
    """Write one batch, its rejects and the job's progress in one transaction; a dry run rolls
    it back."""
    writer.prepare(rows)
    with transaction.atomic():
        tally = writer.write(rows)
        job.processed_rows += consumed
        job.created_count += tally.created
        job.merged_count += tally.merged
        job.rejected_count += len(tally.rejected)
        job.quarantined_count += tally.quarantined
        report.write(tally.rejected)  # before the commit: a resume cuts back what did not commit
        if job.dry_run:
            transaction.set_rollback(True)
        else:
            _save_progress(job)
    if job.dry_run:
        _save_progress(job)


@dataclass
class _Tally:
    """What one batch did, for the job's counts and the rejects report."""

    rejected: list[CheckedRow]
    created: int = 0
    merged: int = 0
    quarantined: int = 0


class _LeadsWriter:
    """Stores a batch's rows as Submissions and admits the good ones as leads."""

    def __init__(self, job: ImportJob) -> None:
        self.job = job
        self.source = job.source
        self.seen = _SeenContacts() if job.dry_run else None

    def prepare(self, rows: list[CheckedRow]) -> None:
        """Outside the transaction: the DNS lookups of the quality checks."""
        journey.warm([row.body.email for row in rows if row.body and row.body.email])

    def write(self, rows: list[CheckedRow]) -> _Tally:
        tally = _Tally(rejected=[row for row in rows if row.body is None])
        now = timezone.now()
        new_submission = _SubmissionMaker(
            channel=CaptureChannel.IMPORT, source=self.source, received_at=now, processed_at=now
        )
        submissions = [
            new_submission(
                raw=row.raw_json,
                status=SubmissionStatus.REJECTED if row.body is None else SubmissionStatus.RECEIVED,
                errors=row.errors,
                idempotency_key=f"import:{self.job.pk}:{row.number}",
            )
            for row in rows
        ]
        Submission.objects.bulk_create(submissions)
        valid = [(row, s) for row, s in zip(rows, submissions, strict=True) if row.body]
        intakes = [services.intake_from_lead_in(s, row.body) for row, s in valid]
        admissions = journey.admit(intakes) if intakes else []
        settled = []
        for (_, submission), admission in zip(valid, admissions, strict=True):
            seen = self.seen is not None and self.seen.met_before(admission.lead)
            new = admission.created and not seen
            status = SubmissionStatus.ACCEPTED if new else SubmissionStatus.MERGED
            settled.append((submission.pk, admission.lead.pk, status))
            tally.created += new
            tally.merged += not new
        _settle(settled)
        if self.seen is not None:
            self.seen.add(a.lead for a in admissions)
        tally.quarantined = sum(a.assessment.is_invalid for a in admissions)
        return tally


class _OutcomesWriter:
    """Records a batch's outcomes on their leads (see `outcomes.record`). Counts: created is
    outcomes recorded, merged is outcomes already recorded by an earlier import."""

    def __init__(self, job: ImportJob, plan: OutcomePlan) -> None:
        self.job = job
        self.plan = plan
        self.seen: set | None = set() if job.dry_run else None

    def prepare(self, rows: list[CheckedRow]) -> None:
        """Nothing to look up outside the transaction."""

    def write(self, rows: list[CheckedRow]) -> _Tally:
        good = [(row.number, row.body) for row in rows if row.body is not None]
        recorded = outcomes.record(good, job_id=self.job.pk, seen=self.seen)
        for row in rows:
            if row.number in recorded.problems:
                row.reject(self.plan.errors(recorded.problems[row.number]))
        rejected = [row for row in rows if row.body is None]
        return _Tally(rejected, created=recorded.recorded, merged=recorded.already)


class _SubmissionMaker:
    """Builds a batch's Submissions from positional values: Django's keyword path cost twice
    as much, a tenth of the importing process's time. Fields set neither here nor per row keep
    their model defaults, so a field added to Submission later needs nothing here."""

    def __init__(self, *, source: Source | None, **shared: object) -> None:
        fields = Submission._meta.concrete_fields
        self.slots = {f.attname: i for i, f in enumerate(fields)}
        self.template = [None if f.primary_key else f.get_default() for f in fields]
        for name, value in {**shared, "source_id": source.pk if source else None}.items():
            self.template[self.slots[name]] = value
        self.source = source

    def __call__(self, **values: object) -> Submission:
        row = self.template.copy()
        for name, value in values.items():
            row[self.slots[name]] = value
        submission = Submission(*row)
        if self.source is not None:
            submission.source = self.source  # cached: the intake reads its slug for the actor
        return submission


def _settle(settled: list[tuple[int, int, str]]) -> None:
    """Set each admitted submission's lead and status in one UPDATE per chunk. A simple CASE on
    the primary key, because Django's bulk_update builds a filter expression per row and cost
    more than everything else in the batch together."""
    for start in range(0, len(settled), SETTLE_CHUNK):
        chunk = settled[start : start + SETTLE_CHUNK]
        whens = " ".join(["WHEN %s THEN %s"] * len(chunk))
        leads = [value for pk, lead, _ in chunk for value in (pk, lead)]
        statuses = [value for pk, _, status in chunk for value in (pk, status)]
        Submission.objects.filter(pk__in=[pk for pk, _, _ in chunk]).update(
            lead_id=RawSQL(f"CASE id {whens} END", leads),  # noqa: S611 (placeholders only)
            status=RawSQL(f"CASE id {whens} END", statuses),  # noqa: S611
        )


def _save_progress(job: ImportJob) -> None:
    saved = _fenced(job).update(
        processed_rows=job.processed_rows,
        created_count=job.created_count,
        merged_count=job.merged_count,
        rejected_count=job.rejected_count,
        quarantined_count=job.quarantined_count,
        rejects=job.rejects.name,
        heartbeat_at=timezone.now(),
    )
    if not saved:
        raise LostClaim


class _SeenContacts:
    """A dry run rolls every batch back, so a later batch cannot meet the leads an earlier one
    would have created. This remembers their contact keys (about 100 bytes a lead: the one
    thing a dry run holds beyond a batch) and counts a later match as a merge, by the rule
    `core.LeadIndex` applies: same email, or same phone when the earlier lead had no email."""

    def __init__(self) -> None:
        self.emails: set[str] = set()
        self.phones_without_email: set[str] = set()
        self.phones: set[str] = set()

    def met_before(self, lead) -> bool:
        if lead.email_key:
            return lead.email_key in self.emails or lead.phone in self.phones_without_email
        return bool(lead.phone) and lead.phone in self.phones

    def add(self, leads) -> None:
        for lead in leads:
            if lead.email_key:
                self.emails.add(lead.email_key)
            elif lead.phone:
                self.phones_without_email.add(lead.phone)
            if lead.phone:
                self.phones.add(lead.phone)


class _RejectsReport:
    """The rejected rows, with every reason, as a CSV a spreadsheet opens safely."""

    def __init__(self, job: ImportJob, headers: list[str]):
        self.job = job
        self.headers = headers
        if not job.rejects.name:
            job.rejects.name = f"imports/rejects/import-{job.pk}-rejects.csv"
        self.path = Path(job.rejects.storage.path(job.rejects.name))
        self.handle = None

    def __enter__(self) -> "_RejectsReport":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.job.processed_rows and self.path.exists():
            self._cut_back(last_row=self.job.processed_rows + 1)
        else:
            with self.path.open("w", encoding="utf-8-sig", newline="") as fresh:
                csv.writer(fresh).writerow(["row", "errors", *map(spreadsheet_safe, self.headers)])
        self.handle = self.path.open("a", encoding="utf-8", newline="")
        self.writer = csv.writer(self.handle)
        return self

    def __exit__(self, *exc_info) -> None:
        self.handle.close()

    def write(self, rows: list[CheckedRow]) -> None:
        for row in rows:
            cells = [row.raw.get(h, "") for h in self.headers]
            cells += [v for k, v in row.raw.items() if k.startswith("(column ")]
            self.writer.writerow(
                [row.number, spreadsheet_safe(reasons(row.errors)), *map(spreadsheet_safe, cells)]
            )
        self.handle.flush()

    def _cut_back(self, last_row: int) -> None:
        kept = self.path.with_suffix(".partial")
        with (
            self.path.open(encoding="utf-8-sig", newline="") as old,
            kept.open("w", encoding="utf-8-sig", newline="") as new,
        ):
            reader, writer = csv.reader(old), csv.writer(new)
            writer.writerow(next(reader, ["row", "errors", *self.headers]))
            for line in reader:
                if line and line[0].isdigit() and int(line[0]) <= last_row:
                    writer.writerow(line)
        kept.replace(self.path)
