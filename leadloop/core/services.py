"""The verbs on leads, companies, sources and the timeline that every layer shares."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Lower
from django.utils import timezone

from leadloop.core import reactions, rows
from leadloop.core.keys import email_key, name_key
from leadloop.core.models import (
    CaptureState,
    Company,
    Event,
    Lead,
    LeadTag,
    LifecycleStage,
    Source,
    Visitor,
    hash_api_key,
)
from leadloop.core.types import LeadIntake

CONTACT_FIELDS = ("first_name", "last_name", "email", "phone")


@dataclass(frozen=True)
class NewEvent:
    lead: Lead
    type: str
    data: dict
    actor: str = "system"
    occurred_at: datetime | None = None


def record_event(
    lead: Lead,
    type: str,
    data: dict | None = None,
    actor: str = "system",
    occurred_at: datetime | None = None,
) -> Event:
    event = Event(
        lead=lead,
        type=type,
        data=data or {},
        actor=actor,
        occurred_at=occurred_at or timezone.now(),
    )
    return reactions.insert_with_deliveries([event])[0]


def record_events(events: Iterable[NewEvent]) -> list[Event]:
    now = timezone.now()
    return reactions.insert_with_deliveries(
        [
            Event(
                lead=e.lead,
                type=e.type,
                data=e.data,
                actor=e.actor,
                occurred_at=e.occurred_at or now,
            )
            for e in events
        ]
    )


def source_for_api_key(key: str) -> Source | None:
    if not key:
        return None
    found = rows.select(Source, _source_by_key, key_hash=[hash_api_key(key)])
    return next(iter(found), None)


def _source_by_key(sources: QuerySet, key_hash: list[str]) -> QuerySet:
    return sources.filter(api_key_hash=key_hash[0], is_active=True)[:1]


def create_source(
    name: str, channel: str = "api", campaign: str = "", duplicate_policy: str = "update"
) -> tuple[Source, str]:
    """A new source and its API key (shown once: only the hash is kept)."""
    source = Source.objects.create(
        name=name, channel=channel, campaign=campaign, duplicate_policy=duplicate_policy
    )
    return source, source.issue_api_key()


def companies_by_name(names: Iterable[str]) -> dict[str, Company]:
    """The companies with these names, created where missing, keyed by lower-cased name."""
    wanted = {name.strip().lower(): name.strip() for name in names if name.strip()}
    if not wanted:
        return {}
    found: dict[str, Company] = {}
    # One IN on the lower-cased name. An OR of iexact lookups scanned the table once per name
    # (2.6 s for a batch of 900 names among 50,000 companies), and SQLite refuses an OR of
    # 1,000 terms outright ("Expression tree is too large"). The database lowers both sides
    # (SQLite's LOWER folds ASCII only, so a Python-lowered "école" never met "École"), and
    # the company_name_lower index answers it.
    for company in rows.select(Company, _companies_named, names=list(wanted.values())):
        found.setdefault(company.name.lower(), company)
    missing = [Company(name=name) for key, name in wanted.items() if key not in found]
    for company in rows.insert(missing):
        found[company.name.lower()] = company
    return found


def _leads_by_contact(
    leads: QuerySet, emails: list[str], phones: list[str], names: list[str]
) -> QuerySet:
    # No select_related("company"): a JOIN on every lookup, for a name read only when a merge
    # changes the company.
    contact = Q(email_key__in=emails) | Q(phone__in=phones) | Q(name_key__in=names)
    return leads.filter(contact).order_by("id")


class LeadIndex:
    """Existing leads keyed by their contact keys, so a batch of intakes meets its duplicates:
    the same person by email or phone, and a likely same person by name and company."""

    def __init__(self, intakes: Iterable[LeadIntake]):
        intakes = list(intakes)
        emails = {email_key(i.email) for i in intakes if i.email}
        phones = {i.phone for i in intakes if i.phone}
        names = {_name_key_of(i) for i in intakes} - {""}
        self._by_email: dict[str, Lead] = {}
        self._by_phone: dict[str, Lead] = {}
        self._by_name: dict[str, Lead] = {}
        if emails or phones or names:
            found = rows.select(
                Lead, _leads_by_contact, emails=list(emails), phones=list(phones), names=list(names)
            )
            # Linked duplicates and merged leads point at their primary: only primaries are met.
            # (Filtered here, not in SQL: without ANALYZE statistics SQLite answered
            # "duplicate_of IS NULL" with its index, a scan of nearly every lead.)
            for lead in found:
                if lead.duplicate_of_id is None:
                    self.add(lead)

    def add(self, lead: Lead) -> None:
        if lead.email_key:
            self._by_email.setdefault(lead.email_key, lead)
        if lead.phone:
            self._by_phone.setdefault(lead.phone, lead)
        if lead.name_key:
            self._by_name.setdefault(lead.name_key, lead)

    def find(self, intake: LeadIntake) -> Lead | None:
        """The lead this intake is, by email, or by phone when the email does not decide."""
        if intake.email:
            by_email = self._by_email.get(email_key(intake.email))
            if by_email is not None:
                return by_email
            # A phone match only counts when that lead has no other email: a shared office line
            # must not merge two different people.
            by_phone = self._by_phone.get(intake.phone) if intake.phone else None
            return by_phone if by_phone is not None and not by_phone.email_key else None
        return self._by_phone.get(intake.phone) if intake.phone else None

    def find_similar(self, intake: LeadIntake) -> Lead | None:
        """A lead with the same fuzzy name at the same company: likely, not surely, this one."""
        key = _name_key_of(intake)
        return self._by_name.get(key) if key else None


def _name_key_of(intake: LeadIntake) -> str:
    return name_key(intake.first_name, intake.last_name, intake.company)


def new_lead(intake: LeadIntake, company: Company | None) -> Lead:
    first_touch = intake.first_touch or intake.touch
    return Lead(
        first_name=intake.first_name,
        last_name=intake.last_name,
        email=intake.email,
        email_key=email_key(intake.email),
        phone=intake.phone,
        name_key=name_key(intake.first_name, intake.last_name, intake.company),
        company=company,
        custom_fields=dict(intake.custom_fields),
        capture_state=CaptureState.PARTIAL if intake.is_partial else CaptureState.COMPLETE,
        source_id=intake.source_id,
        first_touch=first_touch,
        last_touch=intake.touch or first_touch,
        captured_at=intake.occurred_at or timezone.now(),
    )


def _companies_named(companies: QuerySet, names: list[str]) -> QuerySet:
    given = [Lower(Value(name)) for name in names]
    return companies.alias(key=Lower("name")).filter(key__in=given).order_by("id")


def merge_intake(lead: Lead, intake: LeadIntake, company: Company | None) -> dict:
    """Fold a later submission into a lead: newer non-empty values win. Returns what changed."""
    changes: dict[str, list] = {}
    for name in CONTACT_FIELDS:
        new_value = getattr(intake, name)
        old_value = getattr(lead, name)
        same_email = name == "email" and email_key(new_value) == lead.email_key
        if new_value and new_value != old_value and not same_email:
            changes[name] = [old_value, new_value]
            setattr(lead, name, new_value)
    lead.email_key = email_key(lead.email)
    if company is not None and lead.company_id != company.pk:
        changes["company"] = [lead.company.name if lead.company else "", company.name]
        lead.company = company
    if lead.company is not None:
        lead.name_key = name_key(lead.first_name, lead.last_name, lead.company.name)
    for name, value in intake.custom_fields.items():
        if value not in ("", None, []) and lead.custom_fields.get(name) != value:
            changes[f"fields.{name}"] = [lead.custom_fields.get(name), value]
            lead.custom_fields[name] = value
    if lead.capture_state == CaptureState.PARTIAL and not intake.is_partial:
        changes["capture_state"] = [CaptureState.PARTIAL, CaptureState.COMPLETE]
        lead.capture_state = CaptureState.COMPLETE
    if intake.touch:
        lead.last_touch = intake.touch
    if not lead.first_touch and (intake.first_touch or intake.touch):
        lead.first_touch = intake.first_touch or intake.touch
    if lead.source_id is None and intake.source_id:
        lead.source_id = intake.source_id
    return changes


def identify_visitor(visitor_key: str, lead: Lead) -> tuple[Visitor, bool]:
    """The visitor, now tied to the lead, and whether it was first seen just now."""
    now = timezone.now()
    visitor, created = Visitor.objects.get_or_create(
        key=visitor_key, defaults={"lead": lead, "last_seen_at": now}
    )
    if not created:  # a new one was written with these values already
        visitor.lead, visitor.last_seen_at = lead, now
        visitor.save(update_fields=["lead", "last_seen_at"])
    return visitor, created


def lead_timeline(lead: Lead) -> list[Event]:
    return list(lead.events.order_by("occurred_at", "id"))


def move_stage(lead: Lead, stage: str, *, by: str, why: str) -> None:
    """Someone (a person, a workflow, an import) moves a lead to a stage, with a reason kept on
    its timeline as a stage.changed event. Scoring's automatic moves write the same event."""
    if stage not in LifecycleStage.values:
        raise ValueError(f"No stage {stage!r}.")
    if not why.strip():
        raise ValueError("Say why the lead moves.")
    with transaction.atomic():
        previous = lead.lifecycle_stage
        lead.lifecycle_stage = stage
        Lead.objects.filter(pk=lead.pk).update(lifecycle_stage=stage, updated_at=timezone.now())
        record_event(
            lead,
            "stage.changed",
            {
                "from": previous,
                "to": stage,
                "why": why.strip(),
                "automatic": False,
                "score": lead.score,
            },
            actor=by,
        )


def tag(lead: Lead, *, add: Iterable[str] = (), remove: Iterable[str] = (), by: str) -> None:
    """Add and remove tags; each change that happens is a tag.added or tag.removed event."""
    for name in dict.fromkeys(t.strip()[:100] for t in add if t.strip()):
        _, added = LeadTag.objects.get_or_create(lead=lead, tag=name)
        if added:
            record_event(lead, "tag.added", {"tag": name}, actor=by)
    for name in dict.fromkeys(remove):
        if LeadTag.objects.filter(lead=lead, tag=name).delete()[0]:
            record_event(lead, "tag.removed", {"tag": name}, actor=by)
