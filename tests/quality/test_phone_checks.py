"""Phone checks over real numbers read by phonenumbers (no mocks): line type, carrier where the
library has one, region, time zone, and whether the number fits the country the person stated."""

import pytest

from leadloop.core.types import LeadIntake
from leadloop.quality.phone import check_phone, describe_phone
from leadloop.quality.reasons import verdict_of
from leadloop.quality.services import assess_one

# (E.164, line type, region, the one time zone or "" when several or none, reason codes)
PHONE_TABLE = [
    # US numbers: the plan does not tell landline from mobile, and there is no carrier.
    ("+14155552671", "landline_or_mobile", "US", "America/Los_Angeles", set()),
    ("+12125551234", "landline_or_mobile", "US", "America/New_York", set()),
    ("+13125550123", "landline_or_mobile", "US", "America/Chicago", set()),
    ("+17025550123", "landline_or_mobile", "US", "America/Los_Angeles", set()),
    ("+14165550123", "landline_or_mobile", "CA", "America/Toronto", set()),
    # UK and Europe.
    ("+447400123456", "mobile", "GB", "", set()),  # +44 mobiles ring on the islands too
    ("+442079460000", "landline", "GB", "Europe/London", set()),
    ("+447911123456", "mobile", "GG", "", set()),  # Guernsey: +44 but its own region
    ("+33612345678", "mobile", "FR", "Europe/Paris", set()),
    ("+4930123456", "landline", "DE", "Europe/Berlin", set()),
    ("+4915123456789", "mobile", "DE", "Europe/Berlin", set()),
    ("+918123456789", "mobile", "IN", "Asia/Calcutta", set()),
    ("+81312345678", "landline", "JP", "Asia/Tokyo", set()),
    ("+5511987654321", "mobile", "BR", "America/Sao_Paulo", set()),
    # Numbers nobody answers as their own.
    ("+18005551234", "toll_free", "US", "", {"phone_not_personal"}),
    ("+18885550100", "toll_free", "US", "", {"phone_not_personal"}),
    ("+19005550100", "premium_rate", "US", "", {"phone_not_personal"}),
    ("+449098790000", "premium_rate", "GB", "", {"phone_not_personal"}),
    ("+448432000000", "premium_rate", "GB", "", {"phone_not_personal"}),
    ("+443003000000", "company_number", "GB", "", {"phone_not_personal"}),
    # VoIP: worth knowing, not a doubt.
    ("+445612345678", "voip", "GB", "", {"phone_voip"}),
    ("+15005550100", "personal", "US", "", set()),
    # Numbers the plan says do not exist.
    ("+447700900123", "unknown", "", "", set()),  # Ofcom's range for drama
    ("+10000000000", "unknown", "", "", set()),
]


@pytest.mark.parametrize(("e164", "line_type", "region", "time_zone", "expected"), PHONE_TABLE)
def test_phone_table(e164, line_type, region, time_zone, expected):
    found = check_phone(e164)
    assert found.signals["phone"]["line_type"] == line_type
    assert found.signals["phone"]["region"] == region
    assert found.enrichment.get("time_zone", {}).get("value", "") == time_zone
    assert {r.code for r in found.reasons} == expected
    assert verdict_of(found.reasons) == ("suspect" if "phone_not_personal" in expected else "valid")


@pytest.mark.parametrize(
    ("e164", "zones"),
    [
        # A mobile or toll-free number rings anywhere in its country: all its zones.
        ("+61412345678", {"Australia/Sydney", "Australia/Perth", "Australia/Brisbane"}),
        ("+611800123456", {"Australia/Sydney", "Australia/Perth"}),
        ("+447400123456", {"Europe/London", "Europe/Jersey"}),
        ("+18005551234", {"America/New_York", "America/Los_Angeles", "Pacific/Honolulu"}),
    ],
)
def test_several_time_zones_are_kept_for_the_caller(e164, zones):
    found = check_phone(e164)
    assert "time_zone" not in found.enrichment
    assert zones <= set(found.enrichment.get("time_zones", {}).get("value", []))


@pytest.mark.parametrize(
    ("e164", "carrier"),
    [
        ("+447400123456", "Three"),
        ("+447975777666", "Orange"),
        ("+33612345678", "SFR"),
        ("+4915123456789", "T-Mobile"),
        ("+918123456789", "Tata Docomo"),
        ("+5511987654321", "TIM"),
        ("+61412345678", "Optus"),
        # The library has no carrier for US numbers, nor for landlines.
        ("+14155552671", ""),
        ("+12125551234", ""),
        ("+442079460000", ""),
    ],
)
def test_carrier_where_the_library_has_one(e164, carrier):
    facts = describe_phone(e164)
    assert facts["carrier"] == carrier
    found = check_phone(e164)
    assert found.signals["phone"]["carrier"] == carrier
    assert ("phone_carrier" in found.enrichment) is bool(carrier)


def test_describe_phone_gives_the_facts_for_the_as_you_type_check():
    facts = describe_phone("+14155552671")
    assert facts["e164"] == "+14155552671"
    assert facts["valid"] is True
    assert facts["possible"] is True
    assert facts["region"] == "US"
    assert facts["location"] == "San Francisco, CA"
    assert facts["time_zones"] == ["America/Los_Angeles"]
    invalid = describe_phone("+447700900123")
    assert (invalid["valid"], invalid["line_type"], invalid["time_zones"]) == (False, "unknown", [])


# (number, stated country, mismatch?)
COUNTRY_TABLE = [
    ("+447400123456", "US", True),
    ("+447400123456", "United States", True),
    ("+447400123456", "France", True),
    ("+447400123456", "United Kingdom", False),
    ("+447400123456", "GB", False),
    ("+447400123456", "gb", False),
    ("+447400123456", "UK", False),
    ("+447400123456", "U.K.", False),
    ("+447400123456", "Great Britain", False),
    ("+447400123456", "England", False),
    ("+447400123456", "Scotland", False),
    ("+447400123456", " united  kingdom ", False),
    # A Guernsey mobile: its people may well say they live in the UK.
    ("+447911123456", "United Kingdom", False),
    ("+447911123456", "UK", False),
    ("+447911123456", "Guernsey", False),
    ("+447911123456", "US", True),
    # ...but a UK number is not a Jersey one.
    ("+447400123456", "Jersey", True),
    ("+14155552671", "US", False),
    ("+14155552671", "USA", False),
    ("+14155552671", "U.S.", False),
    ("+14155552671", "U.S.A.", False),
    ("+14155552671", "United States", False),
    ("+14155552671", "United States of America", False),
    ("+14155552671", "Canada", True),
    ("+14155552671", "CA", True),
    ("+14165550123", "Canada", False),
    ("+14165550123", "US", True),
    ("+4930123456", "Germany", False),
    ("+4930123456", "DE", False),
    ("+33612345678", "fr", False),
    # Numbers that belong to no one place still have a region.
    ("+445612345678", "United Kingdom", False),
    ("+445612345678", "US", True),
    ("+18005551234", "United States", False),
    ("+18005551234", "US", False),
    # A number the plan does not place cannot contradict anything.
    ("+447700900123", "GB", False),
    ("+447700900123", "Britain", False),
]


@pytest.mark.parametrize(("e164", "stated", "mismatch"), COUNTRY_TABLE)
def test_stated_country_against_the_phone(e164, stated, mismatch):
    found = check_phone(e164, stated)
    assert ("country_mismatch" in {r.code for r in found.reasons}) is mismatch
    if mismatch:
        assert verdict_of(found.reasons) == "suspect"


def test_no_phone_no_findings():
    found = check_phone("", "US")
    assert (found.reasons, found.signals, found.enrichment) == ([], {}, {})


@pytest.mark.parametrize(
    ("phone", "country", "verdict", "reasons"),
    [
        ("+447400123456", "US", "suspect", ["country_mismatch"]),
        ("+447400123456", "United Kingdom", "valid", []),
        ("+18005551234", "", "suspect", ["phone_not_personal"]),
        ("+445612345678", "", "valid", ["phone_voip"]),
        ("+14155552671", "", "valid", []),
    ],
)
def test_phone_verdicts_on_a_whole_intake(phone, country, verdict, reasons):
    intake = LeadIntake(
        channel="api",
        first_name="Ada",
        last_name="Lovelace",
        phone=phone,
        custom_fields={"country": country} if country else {},
    )
    assessment = assess_one(intake)
    assert assessment.quality == verdict
    assert [r["code"] for r in assessment.reasons] == reasons
    assert assessment.enrichment["phone_region"]["source"] == "phone"
