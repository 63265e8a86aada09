"""Looking things up about a lead: its company from the email domain, its place from the IP, and
an optional HTTP provider. Enriched values sit apart from what the person typed, each with its
source, and never replace it."""

import functools
import ipaddress

import geoip2.database
import geoip2.errors
import geoip2.models
from django.conf import settings

from leadloop.quality.email import is_disposable, is_free_mail
from leadloop.quality.reasons import Findings

# Second-level labels under a country code: "acme.co.uk" is Acme, not "Co".
GENERIC_SECOND_LEVEL = {"co", "com", "org", "net", "ac", "gov", "edu", "ltd", "plc", "gv", "or"}


def company_from_email(email: str) -> Findings:
    found = Findings()
    domain = email.rpartition("@")[2].lower()
    if not domain or is_free_mail(domain) or is_disposable(domain):
        return found
    found.enrich("company_domain", domain, "email")
    found.enrich("company_name", company_name_guess(domain), "email")
    return found


def company_name_guess(domain: str) -> str:
    labels = domain.split(".")
    if len(labels) >= 3 and labels[-2] in GENERIC_SECOND_LEVEL:
        labels = labels[:-1]
    name = labels[-2] if len(labels) >= 2 else labels[0]
    return " ".join(part.capitalize() for part in name.replace("_", "-").split("-") if part)


def place_from_ip(ip_address: str | None) -> Findings:
    """Country, region and city from a MaxMind-format database, when LEADLOOP_GEOIP_DB names
    one; nothing otherwise, and nothing for private addresses."""
    found = Findings()
    reader = _geoip_reader(settings.LEADLOOP_GEOIP_DB)
    if reader is None or not ip_address or not ipaddress.ip_address(ip_address).is_global:
        return found
    try:
        place = _lookup(reader, ip_address)
    except geoip2.errors.AddressNotFoundError:
        return found
    found.enrich("ip_country", place.country.iso_code, "ip")
    if isinstance(place, geoip2.models.City):
        found.enrich("ip_region", place.subdivisions.most_specific.name, "ip")
        found.enrich("ip_city", place.city.name, "ip")
    return found


def _lookup(reader: geoip2.database.Reader, ip_address: str) -> geoip2.models.Country:
    try:
        return reader.city(ip_address)
    except TypeError:  # a Country database answers country() only
        return reader.country(ip_address)


@functools.lru_cache(maxsize=4)
def _geoip_reader(path: str) -> geoip2.database.Reader | None:
    return geoip2.database.Reader(path) if path else None
