"""Deal outcomes from a CSV: a business's won and lost deals, so the predictive model learns from
its history on day one (docs/scoring.md "Importing outcomes").

An outcomes import is an ImportJob of kind "outcomes", run by the importer's machinery (the
durable job, batches committed with their progress, the rejects report, the dry run, the column
mapping). This module is what differs from a leads import: the columns, how a row's cells are
read, and what a good row writes: a "deal.won" or "deal.lost" event on the lead it names, the
move of a won lead to "customer", and a request to score the lead again.

Re-importing a file records nothing twice: a row whose outcome (same lead, won or lost, close
time and revenue) an earlier import already put on the lead's timeline is counted and skipped.
The key is the outcome's content, not the job and row, because a second upload of the same
export is a new job; within one job, a batch's events commit with its progress, so a resumed
job never repeats a committed batch either.
"""

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from leadloop.capture.cleaning import InvalidValue, clean_email, clean_phone
from leadloop.core import services as core
from leadloop.core.keys import email_key
from leadloop.core.models import LOST, WON, Event, Lead, LifecycleStage
from leadloop.scoring import services as scoring

LEAD_ID, EMAIL, PHONE = "lead_id", "email", "phone"
KEY_TARGETS = (LEAD_ID, EMAIL, PHONE)
OUTCOME, REVENUE, CLOSED_AT = "outcome", "revenue", "closed_at"
TARGETS = [
    (EMAIL, "Lead's email"),
    (PHONE, "Lead's phone"),
    (LEAD_ID, "Lead id"),
    (OUTCOME, "Outcome (won or lost)"),
    (REVENUE, "Revenue"),
    (CLOSED_AT, "Close date"),
]
KEY_NOUNS = {LEAD_ID: "id", EMAIL: "email", PHONE: "phone number"}

# Header synonyms (compared without case, spaces or punctuation); email and phone headers are
# the leads import's.
SYNONYMS: dict[str, str] = {
    **dict.fromkeys(["leadid", "lead", "id", "leadnumber", "leadno"], LEAD_ID),
    **dict.fromkeys(
        [
            "outcome",
            "result",
            "status",
            "dealstatus",
            "dealstage",
            "stage",
            "dealoutcome",
            "wonlost",
            "winloss",
            "won",
            "iswon",
            "converted",
            "opportunitystatus",
        ],
        OUTCOME,
    ),
    **dict.fromkeys(
        [
            "revenue",
            "amount",
            "dealamount",
            "dealvalue",
            "value",
            "dealsize",
            "saleamount",
            "salevalue",
            "closedrevenue",
            "total",
        ],
        REVENUE,
    ),
    **dict.fromkeys(
        [
            "closedate",
            "closedat",
            "closeddate",
            "closed",
            "closedon",
            "dateclosed",
            "closingdate",
            "dealclosedate",
            "closetime",
            "date",
            "wondate",
            "lostdate",
        ],
        CLOSED_AT,
    ),
}

# Compared with case and punctuation gone: "Closed-Won", "closed_won" and "Closed Won" meet.
WON_WORDS = {"won", "win", "closed won", "closedwon", "converted", "yes", "y", "1", "true"}
LOST_WORDS = {"lost", "loss", "closed lost", "closedlost", "not converted", "no", "n", "0",
              "false"}  # fmt: skip
AMOUNT = re.compile(
    r"(?P<minus>-?)\s*(?:[$€£¥]\s*)?(?P<minus_after_symbol>-?)"
    r"(?P<units>\d{1,3}(?:,\d{3})+|\d+)(?P<fraction>\.\d+)?"
)
MAX_REVENUE = Decimal(10) ** 12
CENT = Decimal("0.01")
NO_REVENUE = Decimal("0.00")  # an empty revenue cell: a deal of no recorded value
# One documented format besides ISO: a date with slashes is US month/day/year. Guessing
# day/month from the data would read 03/04/2024 differently from row to row.
US_FORMATS = ("%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")
DAY_FIRST = re.compile(r"(\d{1,2})/(\d{1,2})/\d{4}\b.*")
CHUNK = 500  # keys per lookup: bounded IN lists (SQLite caps a query's parameters)


@dataclass(frozen=True)
class OutcomeRow:
    """A row's values, read and checked; the lead keys are normalised as leads store them."""

    won: bool
    closed_at: datetime  # aware, UTC
    revenue: Decimal
    lead_id: int | None = None
    email_key: str = ""
    phone: str = ""  # E.164

    def keys(self) -> dict[str, object]:
        given = {LEAD_ID: self.lead_id, EMAIL: self.email_key, PHONE: self.phone}
        return {target: key for target, key in given.items() if key}


Problem = tuple[str, str]  # (target, message): the importer names the column


def mapping_problems(targets: Iterable[str]) -> list[str]:
    """What an outcomes mapping lacks, as sentences."""
    used = set(targets)
    problems = []
    if not used & set(KEY_TARGETS):
        problems.append(
            "Map a column to the lead's email, phone or lead id: an outcome needs its lead."
        )
    if OUTCOME not in used:
        problems.append("Map a column to outcome (won or lost).")
    if CLOSED_AT not in used:
        problems.append(
            "Map a column to close date: the model learns from what was known before it."
        )
    return problems


# --- reading one row -----------------------------------------------------------------------


def read_row(
    values: dict[str, str], region: str, now: datetime
) -> tuple[OutcomeRow | None, list[Problem]]:
    """A row's mapped cells ({target: cell}) read into an OutcomeRow, or every problem."""
    problems: list[Problem] = []

    def read(target: str, reader: Callable[[str], object], empty=None, required: str = ""):
        text = values.get(target, "").strip()
        if not text:
            if required:
                problems.append((target, required))
            return empty
        try:
            return reader(text)
        except InvalidValue as error:
            problems.append((target, str(error)))
            return None

    lead_id = read(LEAD_ID, read_lead_id)
    email = read(EMAIL, lambda text: email_key(clean_email(text)), "")
    phone = read(PHONE, lambda text: clean_phone(text, region), "")
    if not (lead_id or email or phone) and not problems:
        first_key = next(t for t in KEY_TARGETS if t in values)
        problems.append((first_key, "Give the lead's email, phone or id: this row has none."))
    won = read(OUTCOME, read_outcome, required="Write won or lost.")
    closed_at = read(
        CLOSED_AT, lambda text: read_closed_at(text, now), required="Give the date it closed."
    )
    revenue = read(REVENUE, read_revenue, NO_REVENUE)
    if problems:
        return None, problems
    return OutcomeRow(won, closed_at, revenue, lead_id, email or "", phone or ""), []


def read_lead_id(text: str) -> int:
    # 18 digits: any id a 64-bit key holds; a longer number would fail the query, not the row.
    if not text.isdigit() or len(text) > 18 or int(text) == 0:
        raise InvalidValue("A lead id is a whole number, as the admin shows it.")
    return int(text)


def read_outcome(text: str) -> bool:
    """True for won, False for lost, in the spellings CRMs export."""
    word = " ".join(re.sub(r"[^0-9a-z]+", " ", text.casefold()).split())
    if word in WON_WORDS:
        return True
    if word in LOST_WORDS:
        return False
    raise InvalidValue(
        "Write won or lost (or closed won / closed lost, win / loss, converted / not converted, "
        "yes / no, 1 / 0)."
    )


def read_revenue(text: str) -> Decimal:
    """`1200`, `1,200.50` or `$1200` (a comma only groups thousands), to the cent."""
    amount = AMOUNT.fullmatch(text.strip())
    if amount is None:
        raise InvalidValue("Write an amount such as 1200.50, 1,200.50 or $1200.")
    if amount["minus"] or amount["minus_after_symbol"]:
        raise InvalidValue("Revenue cannot be negative.")
    value = Decimal(amount["units"].replace(",", "") + (amount["fraction"] or ""))
    if value >= MAX_REVENUE:
        raise InvalidValue("This amount is too large for one deal.")
    return value.quantize(CENT)


def read_closed_at(text: str, now: datetime) -> datetime:
    """An ISO date or date-time (`2024-03-05`, `2024-03-05T14:30:00+01:00`) or a US date
    (`03/05/2024`, optionally with `14:30`). Without a zone it is in the server's TIME_ZONE."""
    moment = _iso(text) or _us(text)
    if moment is None:
        day_first = DAY_FIRST.fullmatch(text)
        if day_first and int(day_first[1]) > 12:
            raise InvalidValue(
                "Dates with slashes are read as MM/DD/YYYY; this looks like DD/MM/YYYY. "
                "Write it as YYYY-MM-DD."
            )
        raise InvalidValue("Write the date as YYYY-MM-DD (a time may follow) or MM/DD/YYYY.")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if moment > now:
        raise InvalidValue("This date is in the future: an outcome is known once the deal closed.")
    return moment.astimezone(UTC)


def _iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _us(text: str) -> datetime | None:
    for pattern in US_FORMATS:
        try:
            return datetime.strptime(text, pattern)  # made aware by the caller
        except ValueError:
            continue
    return None


# --- writing a batch -----------------------------------------------------------------------


@dataclass
class Recorded:
    """What a batch did: outcomes recorded, outcomes already there, and rows that named no
    single lead (by row number)."""

    recorded: int = 0
    already: int = 0
    problems: dict[int, list[Problem]] = field(default_factory=dict)


def record(
    rows: Sequence[tuple[int, OutcomeRow]], *, job_id: int, seen: set | None = None
) -> Recorded:
    """In the caller's transaction, for rows given as (row number, outcome):

    1. Find the lead each row names; a row naming none, or several, is a problem.
    2. Skip an outcome an earlier import (or an earlier row) already recorded for its lead.
    3. Append a "deal.won" / "deal.lost" event per new outcome, at its close time.
    4. Move a lead with a won outcome to "customer" (unless it is one), with the reason.
    5. Ask for the touched leads to be scored again.

    `seen` carries the outcomes of a dry run's earlier batches, whose writes were rolled back."""
    result = Recorded()
    leads = LeadFinder([outcome for _, outcome in rows])
    matched = []
    for number, outcome in rows:
        lead, problems = leads.match(outcome)
        if lead is None:
            result.problems[number] = problems
        else:
            matched.append((number, outcome, lead))
    known = seen if seen is not None else set()
    known |= _imported_outcomes({lead.pk for _, _, lead in matched})
    events, touched = [], {}
    actor, why = f"import {job_id}", f"imported outcome (import {job_id})"
    for number, outcome, lead in matched:
        kind = WON if outcome.won else LOST
        data = {
            "closed_at": outcome.closed_at.isoformat(),
            # Money as an exact decimal string, as the demo history writes it; the model reads
            # either a number or a string.
            "revenue": str(outcome.revenue),
            "imported_from": job_id,
            "row": number,
        }
        key = _outcome_key(lead.pk, kind, data)
        if key in known:
            result.already += 1
            continue
        known.add(key)
        events.append(core.NewEvent(lead, kind, data, actor, outcome.closed_at))
        touched[lead.pk] = lead
        if outcome.won and lead.lifecycle_stage != LifecycleStage.CUSTOMER:
            core.move_stage(lead, LifecycleStage.CUSTOMER, by=actor, why=why)
    core.record_events(events)
    scoring.request_scoring(touched.values(), reason=why)
    result.recorded = len(events)
    return result


def _outcome_key(lead_id: int, kind: str, data: dict) -> tuple:
    return (lead_id, kind, data.get("closed_at"), data.get("revenue"))


def _imported_outcomes(lead_ids: set[int]) -> set[tuple]:
    """The outcomes earlier imports recorded for these leads, as `_outcome_key`s."""
    ids = sorted(lead_ids)
    found = set()
    for start in range(0, len(ids), CHUNK):
        events = Event.objects.filter(
            type__in=(WON, LOST),
            lead_id__in=ids[start : start + CHUNK],
            data__has_key="imported_from",
        ).values_list("lead_id", "type", "data")
        found.update(_outcome_key(lead_id, kind, data) for lead_id, kind, data in events)
    return found


class LeadFinder:
    """The leads a batch's keys name, found in a few queries. Email and phone find primary
    leads only: a linked duplicate or a merged lead shares its primary's keys, and the outcome
    belongs to the primary."""

    def __init__(self, outcomes: Sequence[OutcomeRow]) -> None:
        self.leads: dict[int, Lead] = {}
        self.found: dict[str, dict[object, list[int]]] = {target: {} for target in KEY_TARGETS}
        wanted = {target: set() for target in KEY_TARGETS}
        for outcome in outcomes:
            for target, key in outcome.keys().items():
                wanted[target].add(key)
        self._find(LEAD_ID, "pk", wanted[LEAD_ID], Q(merged_at__isnull=True))
        primary = Q(duplicate_of__isnull=True)
        self._find(EMAIL, "email_key", wanted[EMAIL], primary)
        self._find(PHONE, "phone", wanted[PHONE], primary)

    def _find(self, target: str, column: str, keys: set, where: Q) -> None:
        keys = sorted(keys)
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            for lead in Lead.objects.filter(where, **{f"{column}__in": chunk}).order_by("pk"):
                lead = self.leads.setdefault(lead.pk, lead)  # one object per lead
                self.found[target].setdefault(getattr(lead, column), []).append(lead.pk)

    def match(self, outcome: OutcomeRow) -> tuple[Lead | None, list[Problem]]:
        """The one lead the row's keys name. A key that matches nothing is ignored when another
        matches (an old export's phone may be stale); keys that disagree are a problem."""
        keys = outcome.keys()
        matches = {t: self.found[t][key] for t, key in keys.items() if key in self.found[t]}
        if not matches:
            return None, [(t, self._no_lead(t, key)) for t, key in keys.items()]
        several = {t: pks for t, pks in matches.items() if len(pks) > 1}
        if several:
            return None, [
                (
                    t,
                    f"{len(pks)} leads have this {KEY_NOUNS[t]} ({_ids(pks)}): "
                    "add a lead id column to say which one.",
                )
                for t, pks in several.items()
            ]
        named = {pks[0] for pks in matches.values()}
        if len(named) > 1:
            return None, [
                (
                    t,
                    f"This {KEY_NOUNS[t]} is lead {pks[0]}'s, but the row's other keys name "
                    "another lead.",
                )
                for t, pks in matches.items()
            ]
        return self.leads[named.pop()], []

    def _no_lead(self, target: str, key: object) -> str:
        if target == LEAD_ID:
            merged = Lead.objects.filter(pk=key).values_list("duplicate_of_id", flat=True)
            if merged and merged[0]:
                return f"Lead {key} was merged into lead {merged[0]}: use that id."
        return f"No lead has this {KEY_NOUNS[target]}."


def _ids(pks: list[int]) -> str:
    return "leads " + ", ".join(map(str, pks[:5])) + (", …" if len(pks) > 5 else "")


def touched_leads(job_id: int) -> list[int]:
    """The leads an outcomes import recorded outcomes on."""
    return sorted(
        set(
            Event.objects.filter(type__in=(WON, LOST), data__imported_from=job_id).values_list(
                "lead_id", flat=True
            )
        )
    )
