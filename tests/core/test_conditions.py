"""The shared condition language: the territory facts and the range and prefix operators that
routing rules need, and a broken condition refused with its reason."""

import pytest
from pydantic import ValidationError

from leadloop.core.conditions import holds, parse_condition
from leadloop.core.models import Lead, Source


def check(condition: dict, lead: Lead) -> bool:
    return holds(parse_condition(condition), lead, [], now=None)


def a_lead(custom: dict | None = None, enrichment: dict | None = None) -> Lead:
    return Lead(custom_fields=custom or {}, enrichment=enrichment or {})


@pytest.mark.parametrize(
    ("postal_code", "inside"),
    [("94016", True), ("94016-1234", True), ("94000", True), ("94999", True), ("95001", False)],
)
def test_a_postal_code_range_includes_both_ends_and_zip_plus_four(postal_code, inside):
    between = {"fact": "postal_code", "op": "between", "value": ["94000", "94999"]}

    assert check(between, a_lead({"postal_code": postal_code})) is inside


def test_text_ranges_and_prefixes_for_postcodes_that_are_not_numbers():
    london = a_lead({"postcode": "SW1A 1AA"})

    assert check({"fact": "postal_code", "op": "starts_with", "value": "sw"}, london)
    assert check({"fact": "postal_code", "op": "between", "value": ["SA", "SZ"]}, london)
    assert not check({"fact": "postal_code", "op": "between", "value": ["A", "M"]}, london)


def test_country_is_what_the_lead_typed_else_what_enrichment_learned():
    typed = a_lead({"country": "DE"}, {"phone_region": {"value": "US", "source": "phone"}})
    from_phone = a_lead(enrichment={"phone_region": {"value": "US", "source": "phone"}})
    from_ip = a_lead(enrichment={"ip_country": {"value": "FR", "source": "ip"}})
    is_us = {"fact": "country", "op": "equals", "value": "us"}

    assert not check(is_us, typed)
    assert check(is_us, from_phone)
    assert check({"fact": "country", "op": "in", "value": ["FR", "BE"]}, from_ip)
    assert not check(is_us, a_lead())


@pytest.mark.django_db
def test_a_source_campaign_is_a_fact():
    source = Source.objects.create(name="Spring", slug="spring", campaign="spring-sale")
    lead = Lead(source=source)

    assert check({"fact": "source.campaign", "op": "equals", "value": "spring-sale"}, lead)
    assert not check({"fact": "source.campaign", "op": "equals", "value": "spring"}, Lead())


def test_a_range_needs_two_ends():
    with pytest.raises(ValidationError, match="takes \\[low, high\\]"):
        parse_condition({"fact": "postal_code", "op": "between", "value": "94000"})
