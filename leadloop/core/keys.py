"""Normalised contact keys: two ways of writing one address or one person meet on the same key."""

import re
import unicodedata

# Providers that ignore dots in the local part (and the alias domains they answer for).
DOTLESS_PROVIDERS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
# Providers whose sub-addresses use "-" rather than "+".
DASH_SUBADDRESS_PROVIDERS = {"yahoo.com", "ymail.com", "rocketmail.com"}
COMPANY_SUFFIXES = {
    "inc", "incorporated", "llc", "ltd", "limited", "corp", "corporation", "co", "company",
    "gmbh", "ag", "sa", "sas", "sarl", "bv", "nv", "plc", "pty", "srl", "spa", "oy", "ab", "as",
}  # fmt: skip
NOT_ALPHANUMERIC = re.compile(r"[^0-9a-z]+")


def email_key(email: str) -> str:
    """The address a mailbox really is: lower-cased, sub-address tags dropped ("+news"), and for
    Gmail the dots ignored and googlemail.com folded into gmail.com."""
    email = email.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at:
        return email
    domain = DOTLESS_PROVIDERS.get(domain, domain)
    local = local.split("+", 1)[0] or local
    if domain in DASH_SUBADDRESS_PROVIDERS:
        local = local.split("-", 1)[0] or local
    if domain == "gmail.com":
        local = local.replace(".", "")
    return f"{local}@{domain}"


def plain(text: str) -> str:
    """Lower-case ASCII letters and digits only: "Zoë O'Brien" → "zoeobrien"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return NOT_ALPHANUMERIC.sub("", decomposed.encode("ascii", "ignore").decode())


def company_key(company: str) -> str:
    words = NOT_ALPHANUMERIC.split(
        unicodedata.normalize("NFKD", company.lower()).encode("ascii", "ignore").decode()
    )
    return "".join(w for w in words if w and w not in COMPANY_SUFFIXES)


def name_key(first_name: str, last_name: str, company: str) -> str:
    """The fuzzy person-at-company key: first initial, last name and company with case, accents,
    punctuation and legal suffixes gone, so "Ada Lovelace, Analytical Engines Ltd." and
    "A. lovelace, ANALYTICAL ENGINES" meet. Empty unless all three are known: a name alone is
    shared by too many people."""
    first, last, firm = plain(first_name)[:1], plain(last_name), company_key(company)
    if not (first and last and firm):
        return ""
    return f"{first}:{last}:{firm}"[:200]
