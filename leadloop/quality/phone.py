"""What a phone number says: line type, carrier where the library knows it (it has none for US
numbers), region and time zone, and whether it fits the country the person stated."""

import phonenumbers
from phonenumbers import PhoneNumberType, carrier, geocoder, timezone

from leadloop.quality.reasons import INFO, SUSPECT, Findings

LINE_TYPES = {
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "landline_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "company_number",
    PhoneNumberType.VOICEMAIL: "voicemail",
}
# Numbers a business publishes or charges for: not where a person answers their own phone.
NOT_PERSONAL = {"toll_free", "premium_rate", "shared_cost", "company_number", "pager"}


def describe_phone(e164: str) -> dict:
    """The facts about a number (for the as-you-type check and for enrichment)."""
    number = phonenumbers.parse(e164, None)
    zones = [z for z in timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    return {
        "e164": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        "valid": phonenumbers.is_valid_number(number),
        "possible": phonenumbers.is_possible_number(number),
        "line_type": LINE_TYPES.get(phonenumbers.number_type(number), "unknown"),
        "carrier": carrier.name_for_number(number, "en"),
        "region": phonenumbers.region_code_for_number(number) or "",
        "location": geocoder.description_for_number(number, "en"),
        "time_zones": zones,
        "country_name": geocoder.country_name_for_number(number, "en"),
    }


def check_phone(e164: str, stated_country: str = "") -> Findings:
    found = Findings()
    if not e164:
        return found
    facts = describe_phone(e164)
    found.signals["phone"] = {k: facts[k] for k in ("line_type", "carrier", "region")}
    found.enrich("phone_region", facts["region"], "phone")
    found.enrich("phone_location", facts["location"], "phone")
    found.enrich("phone_carrier", facts["carrier"], "phone")
    # One zone is the lead's; several (a country spanning zones) are kept for the caller to pick.
    zones = facts["time_zones"]
    found.enrich("time_zone", zones[0] if len(zones) == 1 else "", "phone")
    found.enrich("time_zones", zones if len(zones) > 1 else [], "phone")
    line_type = facts["line_type"]
    if line_type in NOT_PERSONAL:
        found.add("phone_not_personal", SUSPECT, f"A {line_type.replace('_', '-')} number.")
    elif line_type == "voip":
        found.add("phone_voip", INFO, "A VoIP number.")
    if stated_country and not _same_country(stated_country, facts):
        found.add(
            "country_mismatch",
            SUSPECT,
            f"The stated country ({stated_country}) is not the phone's ({facts['region']}).",
        )
    return found


def _same_country(stated: str, facts: dict) -> bool:
    stated = stated.strip().lower()
    aliases = {"usa": "us", "united states of america": "us", "uk": "gb", "great britain": "gb"}
    stated = aliases.get(stated, stated)
    return stated in {facts["region"].lower(), facts["country_name"].lower()}
