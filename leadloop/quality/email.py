"""What an email address says about a lead: can it take mail, is it throwaway, a role, free mail,
or a likely typo of a well-known domain."""

import functools
from pathlib import Path

from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS

from leadloop.quality import dns
from leadloop.quality.reasons import INFO, INVALID, SUSPECT, Findings

DATA = Path(__file__).parent / "data"
# A slip is one wrong, missing, extra or swapped letter in the name ("gmial.com"), in the ending
# ("gmail.con"), or one in each ("hotmial.con"). A slip in the name keeps its first letter and
# needs a provider name of five letters or more: aon.com, key.com, max.com, hive.com, cloud.com,
# wahoo.com and horizon.net are real businesses a letter or two from aol, hey, mac, live, icloud,
# yahoo and verizon, and a short address like "me.co" sits near too many real domains.
MIN_NAME_FOR_SLIP = 5
SHORTEST_SUGGESTION = 7


@functools.cache
def _word_list(name: str) -> frozenset[str]:
    lines = (DATA / name).read_text().splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def free_mail_domains() -> frozenset[str]:
    return _word_list("free_mail.txt")


def is_free_mail(domain: str) -> bool:
    return domain.lower() in free_mail_domains()


def is_role_account(local: str) -> bool:
    return local.lower().split("+", 1)[0] in _word_list("role_accounts.txt")


def is_disposable(domain: str) -> bool:
    parts = domain.lower().split(".")
    # A throwaway service often hands out sub-domains of a listed domain.
    return any(".".join(parts[i:]) in DISPOSABLE_DOMAINS for i in range(len(parts) - 1))


@functools.lru_cache(maxsize=10_000)
def suggest_domain(domain: str) -> str:
    """The well-known domain this one looks like a slip of ("gmial.com" → "gmail.com"), or ""."""
    domain = domain.lower()
    if domain in free_mail_domains() or len(domain) < SHORTEST_SUGGESTION:
        return ""
    name, _, ending = domain.partition(".")
    best, best_distance = "", 3
    for candidate in _suggestions_in_order():
        candidate_name, _, candidate_ending = candidate.partition(".")
        if abs(len(name) - len(candidate_name)) > 1 or abs(len(ending) - len(candidate_ending)) > 1:
            continue  # more than one letter apart already
        distance = _edit_distance(ending, candidate_ending, 2)
        if distance > 1:
            continue
        if name != candidate_name:
            if len(candidate_name) < MIN_NAME_FOR_SLIP or name[:1] != candidate_name[:1]:
                continue
            if _edit_distance(name, candidate_name, 2) > 1:
                continue
            distance += 1
        if distance < best_distance:
            best, best_distance = candidate, distance
    return best


@functools.cache
def _suggestions_in_order() -> list[str]:
    # On a tie the .com wins: "yahoo.co" is far likelier yahoo.com than yahoo.ca.
    return sorted(free_mail_domains(), key=lambda d: (not d.endswith(".com"), d))


def _edit_distance(a: str, b: str, give_up_at: int) -> int:
    """Optimal string alignment distance (a swap of neighbours counts once), stopping early once
    a row cannot beat `give_up_at`."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            cost = char_a != char_b
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) >= give_up_at:
            return give_up_at
        previous2, previous = previous, current
    return previous[-1]


def check_email(email: str, *, other_contact: bool) -> Findings:
    """`other_contact`: the lead also left a usable phone, so a dead address is not fatal."""
    found = Findings()
    if not email:
        return found
    local, _, domain = email.rpartition("@")
    domain = domain.lower()
    free = is_free_mail(domain)
    found.signals["email"] = {"domain": domain, "free_mail": free}
    suggestion = suggest_domain(domain)
    if is_disposable(domain):
        # Slips of big providers (gmial.com, hotmial.com) are registered by mail catchers and
        # listed as throwaway, but the person most likely mistyped: a doubt, not a quarantine.
        severity = SUSPECT if suggestion else INVALID
        found.add("email_disposable", severity, f"{domain} hands out throwaway addresses.")
    if suggestion:
        found.signals["email"]["suggestion"] = f"{local}@{suggestion}"
        found.add("email_typo", SUSPECT, f"{domain} looks like a typo of {suggestion}.")
    if is_role_account(local):
        found.add("email_role_account", SUSPECT, f"{local}@ is a shared or role mailbox.")
    if free:
        found.add("email_free_mail", INFO, "A free-mail address (no company domain).")
    _check_deliverability(domain, found, other_contact)
    return found


def _check_deliverability(domain: str, found: Findings, other_contact: bool) -> None:
    result = dns.checker().check(domain)
    found.signals["email"]["deliverability"] = result.status
    if result.status == dns.UNDELIVERABLE:
        severity = SUSPECT if other_contact else INVALID
        found.add("email_undeliverable", severity, f"{domain} cannot take mail: {result.detail}.")
    elif result.status == dns.UNKNOWN:
        found.add("email_deliverability_unknown", INFO, f"Not checked: {result.detail}.")
