"""The lead's path through the loop, stage by stage, in one readable place.

An entry point in `capture` stores the raw submission, cleans what the person typed into a
`LeadIntake`, and hands it here. Each stage below is a call into the layer that owns it:

1. deduplicate: meet the intake with the lead it belongs to, or start a new one;
2. record: save the lead, its company and its consent, and write the timeline;
3. (next issues) validate quality, enrich, score, assign, distribute, enroll in nurture:
   each runs as durable work written in the same transaction, so an acknowledged lead is never
   left half-handled.

Everything here runs in one transaction per batch: the caller acknowledges the visitor only
after it commits. A batch of one is the live path; the CSV importer sends thousands at a time.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from leadloop.compliance import services as compliance
from leadloop.core import rows
from leadloop.core import services as core
from leadloop.core.models import Lead
from leadloop.core.types import LeadIntake


@dataclass(frozen=True)
class Admission:
    lead: Lead
    created: bool
    changes: dict


def admit(intakes: Sequence[LeadIntake]) -> list[Admission]:
    """Turn cleaned intakes into leads. A lost race for a new email retries once as a merge."""
    try:
        with transaction.atomic():
            return _admit(intakes)
    except IntegrityError:
        with transaction.atomic():
            return _admit(intakes)


def _admit(intakes: Sequence[LeadIntake]) -> list[Admission]:
    index = core.LeadIndex(intakes)
    companies = core.companies_by_name(i.company for i in intakes)
    admissions = [_deduplicate(intake, index, companies) for intake in intakes]
    _save_leads(admissions)
    _record(intakes, admissions)
    return admissions


def _deduplicate(intake: LeadIntake, index: core.LeadIndex, companies: dict) -> Admission:
    company = companies.get(intake.company.strip().lower()) if intake.company else None
    lead = index.find(intake)
    if lead is None:
        lead = core.new_lead(intake, company)
        index.add(lead)
        return Admission(lead=lead, created=True, changes={})
    return Admission(lead=lead, created=False, changes=core.merge_intake(lead, intake, company))


MERGED_FIELDS = [
    "first_name",
    "last_name",
    "email",
    "email_key",
    "phone",
    "company_id",
    "custom_fields",
    "capture_state",
    "first_touch",
    "last_touch",
    "source_id",
]


def _save_leads(admissions: list[Admission]) -> None:
    # One lead can be met twice in a batch (two rows for one email): save each object once.
    unsaved = {id(a.lead): a.lead for a in admissions if a.created}
    changed = {id(a.lead): a.lead for a in admissions if not a.created}
    rows.insert(list(unsaved.values()))
    # One UPDATE per merged lead: bulk_update builds a CASE per field per lead, measured at
    # 1.8 ms a lead for these 11 fields (six times a plain UPDATE), the largest single cost of
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
        data = {**intake.evidence, "channel": intake.channel, "touch": intake.touch}
        if admission.created:
            kind = "lead.partial_captured" if intake.is_partial else "lead.captured"
        else:
            kind = "lead.updated"
            data["changes"] = admission.changes
        events.append(core.NewEvent(admission.lead, kind, data, intake.actor, intake.occurred_at))
    core.record_events(events)
    compliance.record_consents(
        (admission.lead, consent)
        for intake, admission in zip(intakes, admissions, strict=True)
        for consent in intake.consents
    )
