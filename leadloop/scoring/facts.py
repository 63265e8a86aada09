"""What rules and stage definitions can ask about a lead, by a dotted name: its own fields,
`custom_fields.<name>`, `enrichment.<name>` (the value, not its source), `source.channel`,
`email_domain`, `free_mail` and `quality`."""

from leadloop.core.models import Lead

MISSING = object()


def fact(lead: Lead, name: str) -> object:
    head, _, rest = name.partition(".")
    if head == "custom_fields":
        return lead.custom_fields.get(rest, MISSING)
    if head == "enrichment":
        enriched = lead.enrichment.get(rest)
        return enriched.get("value", MISSING) if isinstance(enriched, dict) else MISSING
    if name == "source.channel":
        return lead.source.channel if lead.source_id else MISSING
    if name == "email_domain":
        return lead.email.rpartition("@")[2].lower() if lead.email else MISSING
    if name == "free_mail":
        return bool(lead.quality_signals.get("email", {}).get("free_mail"))
    if name in LEAD_FIELDS:
        return getattr(lead, name)
    raise ValueError(f"unknown fact {name!r}")


LEAD_FIELDS = {
    "first_name", "last_name", "email", "phone", "lifecycle_stage", "capture_state", "quality",
    "score", "score_fit", "score_engagement", "score_intent",
}  # fmt: skip
