"""What a phone number says: line type, carrier where the library knows it (it has none for US
numbers), region and time zone, and whether it fits the country the person stated."""

import functools

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


@functools.lru_cache(maxsize=10_000)
def describe_phone(e164: str) -> dict:
    """The facts about a number (for the as-you-type check and for enrichment). Read-only: the
    answer is shared by every caller asking for the same number."""
    number = phonenumbers.parse(e164, None)
    valid = phonenumbers.is_valid_number(number)
    facts = {
        "e164": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        "valid": valid,
        "possible": phonenumbers.is_possible_number(number),
        "region": phonenumbers.region_code_for_number(number) or "",
        "line_type": "unknown",
        "carrier": "",
        "location": "",
        "time_zones": [],
    }
    if valid:
        # The *_valid_number variants skip validating again: each full check costs as much as
        # the rest of the lookups together.
        number_type = phonenumbers.number_type(number)
        line_type = LINE_TYPES.get(number_type, "unknown")
        if phonenumbers.is_number_type_geographical(number_type, number.country_code):
            zones = timezone.time_zones_for_geographical_number(number)
        else:  # a mobile or toll-free number can ring anywhere in its country: all its zones
            zones = timezone.time_zones_for_number(number)
        facts |= {
            "line_type": line_type,
            "carrier": carrier.name_for_valid_number(number, "en") if "mobile" in line_type else "",
            "location": geocoder.description_for_valid_number(number, "en"),
            "time_zones": [z for z in zones if z != "Etc/Unknown"],
        }
    return facts


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


# What people type for a country besides its code and English name.
COUNTRY_ALIASES = {
    "usa": "us", "united states of america": "us", "america": "us",
    "uk": "gb", "great britain": "gb", "britain": "gb", "england": "gb", "scotland": "gb",
    "wales": "gb", "northern ireland": "gb",
}  # fmt: skip
# Jersey, Guernsey and the Isle of Man share +44, and their people often say they live in the UK.
PART_OF = {"GG": "GB", "JE": "GB", "IM": "GB"}


def _same_country(stated: str, facts: dict) -> bool:
    """Compared with the number's region, never its own country name: that is empty for numbers
    that belong to no one place (toll-free, VoIP). A number whose region is unknown is no
    mismatch."""
    region = facts["region"]
    if not region or region == "001":
        return True
    stated = " ".join(stated.replace(".", "").lower().split())  # "U.S." is "us"
    stated = COUNTRY_ALIASES.get(stated, stated)
    regions = {region, PART_OF.get(region, region)}
    if len(stated) == 2:
        return stated.upper() in regions
    return stated in {region_name(r).lower() for r in regions}


@functools.cache
def region_name(region: str) -> str:
    """A region's English name: "GB" -> "United Kingdom"."""
    example = phonenumbers.example_number(region)
    return geocoder.country_name_for_number(example, "en") if example else ""


def country_name(e164: str) -> str:
    return geocoder.country_name_for_number(phonenumbers.parse(e164, None), "en")
