"""Quality's verbs: judge an intake before it becomes a lead, release a quarantined lead, merge
two leads, and answer the as-you-type check.

A verdict is valid, suspect or invalid, with the reasons behind it and the raw signals it judged.
Invalid leads are quarantined: kept, listed for review, left out of routing, nurture and sale
until a person releases them."""

from collections.abc import Sequence
from dataclasses import dataclass, field

import phonenumbers
from django.db import transaction
from email_validator import EmailNotValidError, validate_email

from leadloop.core import services as core
from leadloop.core.keys import email_key
from leadloop.core.models import Lead, Quality
from leadloop.core.types import LeadIntake
from leadloop.quality import bots, dns, enrichment, names, phone, providers
from leadloop.quality.bots import form_opened_token as form_opened_token
from leadloop.quality.bots import proof_challenge as proof_challenge
from leadloop.quality.email import (
    check_email,
    is_disposable,
    is_free_mail,
    is_role_account,
    suggest_domain,
)
from leadloop.quality.reasons import RANK, Findings, verdict_of

QUALITY_ORDER = {Quality.VALID: 0, Quality.SUSPECT: 1, Quality.INVALID: 2}
# Signals about the lead itself, not about one submission: a later submission keeps them.
LEAD_SIGNALS = ("possible_duplicate_of",)


@dataclass
class Assessment:
    quality: str
    reasons: list[dict] = field(default_factory=list)
    signals: dict = field(default_factory=dict)
    enrichment: dict = field(default_factory=dict)

    @property
    def is_invalid(self) -> bool:
        return self.quality == Quality.INVALID

    def summary(self) -> dict:
        return {"verdict": self.quality, "reasons": [r["code"] for r in self.reasons]}


def prefetch(emails: Sequence[str]) -> None:
    """Look up the domains of a batch at once, before its transaction opens, so no write lock is
    held while DNS answers."""
    dns.checker().check_many({e.rpartition("@")[2].lower() for e in emails if "@" in e})


def assess(intakes: Sequence[LeadIntake]) -> list[Assessment]:
    prefetch([intake.email for intake in intakes])
    return [assess_one(intake) for intake in intakes]


def assess_one(intake: LeadIntake) -> Assessment:
    signals = intake.signals
    found = Findings()
    found.extend(check_email(intake.email, other_contact=bool(intake.phone)))
    found.extend(phone.check_phone(intake.phone, str(intake.custom_fields.get("country") or "")))
    found.extend(names.check_names(intake.first_name, intake.last_name, intake.email))
    if signals.get("browser"):
        found.extend(bots.check_browser(signals))
        found.extend(enrichment.place_from_ip(signals.get("ip_address")))
    if not signals.get("bulk"):  # an import holds many leads from one place by design
        ip = signals.get("ip_address") if signals.get("browser") else None
        found.extend(bots.check_rate(ip, email_key(intake.email) if intake.email else ""))
    found.extend(enrichment.company_from_email(intake.email))
    reasons = sorted(found.reasons, key=lambda r: -RANK[r.severity])
    return Assessment(
        quality=verdict_of(reasons),
        reasons=[r.as_dict() for r in reasons],
        signals=found.signals,
        enrichment=found.enrichment,
    )


def enrich_later(leads: list[Lead]) -> None:
    """Stage 3's slow part: the HTTP provider, as durable work in the caller's transaction."""
    providers.request_enrichment(leads)


def judge_new(lead: Lead, assessment: Assessment) -> None:
    lead.quality = assessment.quality
    lead.quality_reasons = assessment.reasons
    lead.quality_signals = assessment.signals
    lead.enrichment = {**lead.enrichment, **assessment.enrichment}


def judge_repeat(lead: Lead, assessment: Assessment) -> None:
    """A later submission merged into a lead: a better verdict clears an earlier doubt; a worse
    one does not spoil a lead (a worse submission never merges: the journey links it)."""
    if QUALITY_ORDER[assessment.quality] <= QUALITY_ORDER[lead.quality]:
        kept = {k: lead.quality_signals[k] for k in LEAD_SIGNALS if k in lead.quality_signals}
        judge_new(lead, assessment)
        lead.quality_signals = {**assessment.signals, **kept}
    else:
        lead.enrichment = {**lead.enrichment, **assessment.enrichment}


def release(lead: Lead, *, by: str, why: str) -> None:
    """A person decides a quarantined lead is real: it joins the loop, and the timeline says who
    and why."""
    if not why.strip():
        raise ValueError("Say why the lead is released.")
    with transaction.atomic():
        previous = lead.quality
        lead.quality = Quality.VALID
        lead.save(update_fields=["quality", "updated_at"])
        core.record_event(
            lead,
            "lead.released",
            {"from": previous, "why": why.strip(), "reasons": lead.quality_reasons},
            actor=by,
        )


def check_as_typed(email: str = "", phone_number: str = "", region: str = "US") -> dict:
    """What the as-you-type check tells a visitor and a form: each part only when it was sent."""
    answer: dict = {}
    if email:
        answer["email"] = _email_as_typed(email)
    if phone_number:
        answer["phone"] = _phone_as_typed(phone_number, region)
    return answer


def _email_as_typed(email: str) -> dict:
    try:
        # Stripped as the submission will be: a phone keyboard's trailing space is not an error.
        normalized = validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        return {"valid": False, "message": str(error)}
    local, _, domain = normalized.rpartition("@")
    suggestion = suggest_domain(domain)
    return {
        "valid": True,
        "normalized": normalized,
        "suggestion": f"{local}@{suggestion}" if suggestion else "",
        "deliverability": dns.checker().check(domain).status,
        "disposable": is_disposable(domain),
        "role_account": is_role_account(local),
        "free_mail": is_free_mail(domain),
    }


def _phone_as_typed(number: str, region: str) -> dict:
    try:
        parsed = phonenumbers.parse(number, region or None)
    except phonenumbers.NumberParseException as error:
        return {"valid": False, "message": str(error)}
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    facts = {**phone.describe_phone(e164), "country_name": phone.country_name(e164)}
    if not facts["valid"]:
        facts["message"] = "This phone number is not valid: check the digits and country code."
    return facts
