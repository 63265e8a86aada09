"""What rules, stage definitions and routing can ask about a lead, by a dotted name: its own
fields, `custom_fields.<name>`, `enrichment.<name>` (the value, not its source),
`source.channel`, `source.campaign`, `email_domain`, `free_mail`, `quality`, and the
territory and firmographic facts below, each read from what the lead typed first and then from
what enrichment learned."""

from leadloop.core.models import Lead

MISSING = object()

# A derived fact: the first of these places that has a value.
DERIVED = {
    "country": (("custom_fields", "country"), ("enrichment", "phone_region"), ("enrichment", "ip_country")),
    "region": (("custom_fields", "state"), ("custom_fields", "region"), ("enrichment", "ip_region")),
    "postal_code": (("custom_fields", "postal_code"), ("custom_fields", "zip"), ("custom_fields", "postcode")),
    "industry": (("custom_fields", "industry"), ("enrichment", "industry")),
    "company_size": (("custom_fields", "company_size"), ("custom_fields", "employees"), ("enrichment", "company_size")),
}  # fmt: skip


def fact(lead: Lead, name: str) -> object:
    head, _, rest = name.partition(".")
    if head == "custom_fields":
        return lead.custom_fields.get(rest, MISSING)
    if head == "enrichment":
        return _enriched(lead, rest)
    if name in DERIVED:
        return _first_known(lead, DERIVED[name])
    if name in ("source.channel", "source.campaign"):
        return getattr(lead.source, rest) if lead.source_id else MISSING
    if name == "email_domain":
        return lead.email.rpartition("@")[2].lower() if lead.email else MISSING
    if name == "free_mail":
        return bool(lead.quality_signals.get("email", {}).get("free_mail"))
    if name in LEAD_FIELDS:
        return getattr(lead, name)
    raise ValueError(f"unknown fact {name!r}")


def _enriched(lead: Lead, name: str) -> object:
    enriched = lead.enrichment.get(name)
    return enriched.get("value", MISSING) if isinstance(enriched, dict) else MISSING


def _first_known(lead: Lead, places: tuple[tuple[str, str], ...]) -> object:
    for where, name in places:
        if where == "enrichment":
            value = _enriched(lead, name)
        else:
            value = lead.custom_fields.get(name, MISSING)
        if value not in (MISSING, None, ""):
            return value
    return MISSING


LEAD_FIELDS = {
    "first_name", "last_name", "email", "phone", "lifecycle_stage", "capture_state", "quality",
    "score", "score_fit", "score_engagement", "score_intent",
}  # fmt: skip
