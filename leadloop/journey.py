"""The lead's path through the loop, stage by stage, in one readable place.

An entry point in `capture` stores the raw submission, cleans what the person typed into a
`LeadIntake`, and hands it here. Each stage below is a call into the layer that owns it:

1. validate: the quality layer's verdict (valid, suspect, invalid) with its reasons;
2. deduplicate: meet the intake with the lead it belongs to, and follow the duplicate policy
   of its form or source (update that lead, link a new one to it, or reject);
3. enrich: what the checks learned (company domain, phone region and time zone, device, place)
   is kept apart from what the person typed; an HTTP provider, when configured, runs later as
   durable work written in this transaction;
4. record: save the lead, its company and its consent, and write the timeline;
5. score: rules give fit, engagement and intent points with their drivers, and the shared MQL
   and SQL definitions move the lead along its stages; durable work written in this
   transaction, done by the worker once it commits;
6. assign: the first routing rule the lead meets gives it an owner (a rep, or a team's next
   rep by its strategy, among those at work and under capacity), else the fallback owner; a
   live lead is acknowledged by email, its owner told, and its first-contact SLA timed. Durable
   work written in this transaction, done by the worker after the lead's score is known;
7. enroll in nurture: a workflow whose trigger the capture meets (a form submitted) enrolls
   the lead from the event it wrote; its first step runs within the worker's next pass;
8. (next issue) distribute: durable work written in the same transaction; like the others it
   never takes a quarantined (invalid) lead.

Everything from 2 on runs in one transaction per batch: the caller acknowledges the visitor only
after it commits. A batch of one is the live path; the CSV importer sends thousands at a time.
The checks of stage 1 that wait on the network run before the transaction (`prepare`).

What runs after the commit, the worker does in `follow_up`, in the same order: score, assign,
then send what assigning wrote (the acknowledgement, the owner's notice).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from leadloop.compliance import services as compliance
from leadloop.core import outbox, reactions, rows
from leadloop.core import services as core
from leadloop.core.models import DuplicatePolicy, Lead, Quality
from leadloop.core.types import LeadIntake
from leadloop.nurture import engine as nurture
from leadloop.quality import services as quality
from leadloop.routing import services as routing
from leadloop.scoring import services as scoring

# How often the worker runs `follow_up`. Polling the rows, rather than enqueuing a task per
# capture, keeps the capture path to small INSERTs: an enqueue was 0.4 ms of ORM work.
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Admission:
    lead: Lead
    created: bool
    changes: dict
    assessment: quality.Assessment
    rejected_as_duplicate: bool = False


def prepare(intakes: Sequence[LeadIntake]) -> list[quality.Assessment]:
    """Stage 1, outside any transaction: the DNS lookups and rate counts happen here."""
    return quality.assess(intakes)


def warm(emails: Sequence[str]) -> None:
    """For a caller that builds its intakes inside its own transaction (the importer): the DNS
    lookups of stage 1 done beforehand, so `admit` finds them remembered."""
    quality.prefetch(emails)


def admit(
    intakes: Sequence[LeadIntake], assessments: Sequence[quality.Assessment] | None = None
) -> list[Admission]:
    """Turn cleaned intakes into leads. A lost race for a new email retries once as a merge."""
    if assessments is None:
        assessments = prepare(intakes)
    try:
        with transaction.atomic():
            return _admit(intakes, assessments)
    except IntegrityError:
        with transaction.atomic():
            return _admit(intakes, assessments)


def _admit(
    intakes: Sequence[LeadIntake], assessments: Sequence[quality.Assessment]
) -> list[Admission]:
    index = core.LeadIndex(intakes)
    companies = core.companies_by_name(i.company for i in intakes)
    admissions = [
        _deduplicate(intake, assessment, index, companies)
        for intake, assessment in zip(intakes, assessments, strict=True)
    ]
    _save_leads(admissions)
    _record(intakes, admissions)
    quality.enrich_later([a.lead for a in admissions if a.created])
    changed = {a.lead.pk: a.lead for a in admissions if not a.rejected_as_duplicate}
    scoring.request_scoring(changed.values(), reason="captured")
    _request_owners(intakes, admissions)
    return admissions


def follow_up() -> int:
    """The worker's frequent pass over what follows a capture: score the leads waiting for it,
    assign those whose score is known, let the layers react to the events all that wrote (a
    takeover rule claims a lead at its new stage; a workflow enrolls it), walk the workflow
    steps that are due, and send the messages all of it queued."""
    done = scoring.score_due()
    done += routing.assign_due(waiting=scoring.waiting)
    done += reactions.deliver_due()
    done += nurture.run_due()
    return done + outbox.send_due()


def _request_owners(intakes: Sequence[LeadIntake], admissions: list[Admission]) -> None:
    """A complete, workable lead gets an owner (or, when it has one, that owner hears it came
    back). Imported leads get owners too, but no acknowledgement, notice or SLA clock."""
    live, imported = {}, {}
    for intake, admission in zip(intakes, admissions, strict=True):
        lead = admission.lead
        if admission.rejected_as_duplicate or intake.is_partial or lead.quality == Quality.INVALID:
            continue
        if intake.channel == "import":
            if lead.owner_id is None:
                imported[lead.pk] = lead
        else:
            live[lead.pk] = lead
    routing.request_assignment(live.values(), live=True)
    routing.request_assignment(imported.values(), live=False)


def engaged(lead: Lead, what: str) -> None:
    """Something on a known lead's timeline that can change its score (a page view, later an
    email open or a reply): score it again, as durable work in the caller's transaction."""
    scoring.request_scoring([lead], reason=what)


def _deduplicate(
    intake: LeadIntake, assessment: quality.Assessment, index: core.LeadIndex, companies: dict
) -> Admission:
    company = companies.get(intake.company.strip().lower()) if intake.company else None
    existing = index.find(intake)
    if existing is None:
        lead = _new_lead(intake, assessment, company)
        similar = index.find_similar(intake)
        if similar is not None:
            lead.quality_signals["possible_duplicate_of"] = similar.pk
        index.add(lead)
        return Admission(lead, True, {}, assessment)
    if intake.duplicate_policy == DuplicatePolicy.REJECT:
        return Admission(existing, False, {}, assessment, rejected_as_duplicate=True)
    # An invalid submission never rewrites a good lead: it stays apart, quarantined, linked to
    # it. Into a lead that is quarantined itself (the same bot's next funnel step) it merges.
    spoils_a_good_lead = assessment.is_invalid and existing.quality != Quality.INVALID
    if intake.duplicate_policy == DuplicatePolicy.LINK or spoils_a_good_lead:
        lead = _new_lead(intake, assessment, company)
        lead.duplicate_of = existing
        return Admission(lead, True, {}, assessment)
    changes = core.merge_intake(existing, intake, company)
    verdict_before = existing.quality
    quality.judge_repeat(existing, assessment)
    if existing.quality != verdict_before:
        changes["quality"] = [verdict_before, existing.quality]
    return Admission(existing, False, changes, assessment)


def _new_lead(intake: LeadIntake, assessment: quality.Assessment, company: object) -> Lead:
    lead = core.new_lead(intake, company)
    quality.judge_new(lead, assessment)
    return lead


MERGED_FIELDS = [
    "first_name",
    "last_name",
    "email",
    "email_key",
    "phone",
    "name_key",
    "company_id",
    "custom_fields",
    "capture_state",
    "first_touch",
    "last_touch",
    "source_id",
    "quality",
    "quality_reasons",
    "quality_signals",
    "enrichment",
]


def _save_leads(admissions: list[Admission]) -> None:
    # One lead can be met twice in a batch (two rows for one email): save each object once.
    unsaved = {id(a.lead): a.lead for a in admissions if a.created}
    changed = {
        id(a.lead): a.lead for a in admissions if not a.created and not a.rejected_as_duplicate
    }
    rows.insert(list(unsaved.values()))
    # One UPDATE per merged lead: bulk_update builds a CASE per field per lead, measured at
    # 1.8 ms a lead for these fields (six times a plain UPDATE), the largest single cost of
    # a CSV import with 5% repeats and four times slower than creating on a re-import.
    now = timezone.now()
    for key, lead in changed.items():
        if key not in unsaved:
            lead.updated_at = now
            Lead.objects.filter(pk=lead.pk).update(
                updated_at=now, **{name: getattr(lead, name) for name in MERGED_FIELDS}
            )


def _record(intakes: Sequence[LeadIntake], admissions: list[Admission]) -> None:
    events = []
    for intake, admission in zip(intakes, admissions, strict=True):
        data = {
            **intake.evidence,
            "channel": intake.channel,
            "touch": intake.touch,
            "quality": admission.assessment.summary(),
        }
        lead = admission.lead
        if admission.rejected_as_duplicate:
            kind = "lead.duplicate_rejected"
        elif admission.created:
            kind = "lead.partial_captured" if intake.is_partial else "lead.captured"
            if lead.duplicate_of_id:
                data["duplicate_of"] = lead.duplicate_of_id
        else:
            kind = "lead.updated"
            data["changes"] = admission.changes
        events.append(core.NewEvent(lead, kind, data, intake.actor, intake.occurred_at))
    core.record_events(events)
    compliance.record_consents(
        (admission.lead, consent)
        for intake, admission in zip(intakes, admissions, strict=True)
        for consent in intake.consents
        if not admission.rejected_as_duplicate
    )
