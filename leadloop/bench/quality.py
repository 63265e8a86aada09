"""The quality benchmark: `leadloop bench quality` and `python benchmarks/quality.py`.

1. Validations per second, in one process, beside a floor measured in the same run:
   - email: `check_email` over a mix of addresses (free mail, many business domains, typos,
     throwaway, role accounts, dead domains) with the DNS answers cached. The answers come from
     a real DNS server on loopback (dnslib) that this benchmark starts, since this machine's own
     resolver says "does not exist" for every name; the cache is warmed first and the benchmark
     checks that no question reaches the server while the clock runs. Floor: the syntax check
     capture already did before quality (`validate_email(check_deliverability=False)`).
   - phone: `check_phone(e164, "US")` over a mix; floor: `phonenumbers.parse` +
     `is_valid_number`.
   - a whole lead: `assess_one` (email, phone, names, browser signals, rate limits, enrichment);
     floor: capture's cleaning of the email and phone.
2. Duplicate lookup latency with N leads (default 1,000,000) on a fresh SQLite database under a
   fresh LEADLOOP_HOME and, with --postgres, on a fresh PostgreSQL database (dropped afterwards):
   leads are loaded with raw SQL (executemany / COPY, the lead indexes dropped and rebuilt around
   the load, then ANALYZE), and `LeadIndex([intake])` + `.find()` + `.find_similar()` is timed
   for random intakes, half of them people already there. Floor: a primary-key lookup
   (`Lead.objects.filter(pk=…).first()`) in the same run. The query plan is printed once.

Each part runs in a child process whose settings point at the throw-away installation, so the
installation this command is configured for is never touched.
"""

import argparse
import functools
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from leadloop.bench.dns import start_dns
from leadloop.bench.server import stream_child

DEFAULT_LEADS = 1_000_000
DEFAULT_LOOKUPS = 2000
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432"
TARGET_P99_MS = 2.0
CHUNK = 50_000  # rows per executemany / COPY batch
ROUNDS = 5  # timed batches per validation figure (the median is reported)
BATCH = 3000  # items per batch, each checked once

FIRST = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Sandra", "Mark",
    "Ashley", "Steven", "Kimberly", "Andrew", "Emily", "Paul", "Donna", "Joshua", "Michelle",
    "Kevin", "Amanda", "Brian", "Melissa", "José", "Zoë", "Renée", "Siobhan", "François", "Bjørn",
]  # fmt: skip
LAST = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Nguyen", "Hill", "Flores", "Green", "O'Brien", "Müller", "Kowalski", "Lovelace",
]  # fmt: skip
COMPANY_WORDS = [
    "Summit", "Harbor", "Maple", "Granite", "Cedar", "Coastal", "Urban", "Prime", "Bright",
    "Swift", "Evergreen", "Pioneer", "Northstar", "Bluewater", "Redwood", "Silverline", "Keystone",
    "Ironwood", "Lakeside", "Sunrise",
]  # fmt: skip
COMPANY_KINDS = [
    "Cleaning", "Dental", "Realty", "Logistics", "Studios", "Plumbing", "Roofing", "Law Group",
    "Insurance", "Fitness", "Landscaping", "Accounting", "Auto Repair", "Consulting", "Bakery",
]  # fmt: skip
LEGAL = ["", "", "", " LLC", " Inc.", " Ltd", " Co."]
FREE_MAIL = [  # (domain, weight): roughly what a US consumer form receives
    ("gmail.com", 50), ("yahoo.com", 14), ("hotmail.com", 8), ("outlook.com", 8),
    ("icloud.com", 7), ("aol.com", 4), ("comcast.net", 3), ("live.com", 2), ("msn.com", 2),
    ("proton.me", 1), ("gmx.com", 1),
]  # fmt: skip
TYPO_DOMAINS = ["gmial.com", "gmail.con", "yaho.com", "hotmial.com", "outlok.com", "iclod.com"]
DISPOSABLE = ["mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com"]
ROLES = ["info", "sales", "office", "admin", "contact", "hello"]
TLDS = [".com"] * 6 + [".net", ".co", ".io", ".co.uk", ".us"]
AREA_CODES = [212, 213, 303, 305, 312, 404, 415, 503, 512, 602, 617, 702, 713, 206, 314, 412]
UA = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.3 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "python-requests/2.31.0",
]


# --------------------------------------------------------------------------------------------
# The parent: a throw-away installation per database, each part in a child process.


@dataclass(frozen=True)
class Options:
    leads: int = DEFAULT_LEADS
    lookups: int = DEFAULT_LOOKUPS
    sqlite: bool = True
    postgres: bool = False
    postgres_url: str = DEFAULT_POSTGRES
    validations: bool = True
    wait_quiet: float = 0.0


def run(options: Options, out=sys.stdout) -> bool:
    """Run the parts asked for and print their tables; True when every part succeeded."""
    print(
        f"leadloop quality benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        file=out,
    )
    ok = True
    if options.validations:
        with _home() as home:
            ok &= stream_child(
                "quality", ["validations", *_quiet_args(options)], _env(home, None), out
            )
    if options.sqlite:
        with _home() as home:
            ok &= stream_child("quality", _lookup_args(options), _env(home, None), out)
    if options.postgres:
        from leadloop.bench.capture import postgres_database

        with _home() as home, postgres_database(options.postgres_url) as database_url:
            ok &= stream_child("quality", _lookup_args(options), _env(home, database_url), out)
    return ok


def _lookup_args(options: Options) -> list[str]:
    return [
        "lookups", "--leads", str(options.leads), "--lookups", str(options.lookups),
        *_quiet_args(options),
    ]  # fmt: skip


def _quiet_args(options: Options) -> list[str]:
    return ["--wait-quiet", str(options.wait_quiet)] if options.wait_quiet else []


@contextmanager
def _home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="leadloop-bench-quality-"))
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _env(home: Path, database_url: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "LEADLOOP_HOME": str(home),
        "DJANGO_SETTINGS_MODULE": "leadloop.settings",
        "DEBUG": "0",  # with DEBUG on Django keeps every query it ran
        "LOG_LEVEL": "WARNING",
    }
    for name in ("DATABASE_URL", "REDIS_URL", "LEADLOOP_GEOIP_DB", "LEADLOOP_ENRICHMENT_URL"):
        env.pop(name, None)  # the figures are for the defaults: locmem cache, no GeoIP
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


@functools.cache
def _valid_exchanges() -> list[tuple[int, int]]:
    """The (area code, exchange) pairs phonenumbers accepts as valid US numbers."""
    import phonenumbers

    return [
        (area, exchange)
        for area in AREA_CODES
        for exchange in range(201, 1000)
        if phonenumbers.is_valid_number(phonenumbers.parse(f"+1{area}{exchange}1234"))
    ]


def unique_phone(index: int) -> str:
    """A valid US number in E.164 that no other index gets (up to ~100 million)."""
    exchanges = _valid_exchanges()
    area, exchange = exchanges[index % len(exchanges)]
    return f"+1{area}{exchange}{index // len(exchanges) % 10000:04d}"


def company_name(number: int) -> str:
    word = COMPANY_WORDS[number % len(COMPANY_WORDS)]
    kind = COMPANY_KINDS[number // len(COMPANY_WORDS) % len(COMPANY_KINDS)]
    return f"{word} {kind} {number}{LEGAL[number % len(LEGAL)]}"


def company_domain(number: int) -> str:
    word = COMPANY_WORDS[number % len(COMPANY_WORDS)].lower()
    kind = COMPANY_KINDS[number // len(COMPANY_WORDS) % len(COMPANY_KINDS)].lower()
    return f"{word}-{kind.replace(' ', '')}{number}{TLDS[number % len(TLDS)]}"


def _weighted_free_mail(rng: random.Random) -> str:
    domains, weights = zip(*FREE_MAIL, strict=True)
    return rng.choices(domains, weights)[0]


def email_mix(count: int, rng: random.Random, business_domains: int = 1500) -> list[str]:
    """Addresses as a capture form receives them (already through the syntax check)."""
    emails = []
    for index in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        local = _ascii(f"{first}.{last}").lower()
        local = rng.choice([local, f"{local}{index}", f"{local[0]}{local.split('.')[1]}{index}"])
        roll = rng.random()
        if roll < 0.45:
            domain = _weighted_free_mail(rng)
        elif roll < 0.88:
            domain = company_domain(rng.randrange(business_domains))
        elif roll < 0.91:
            domain = company_domain(rng.randrange(business_domains))
            local = rng.choice(ROLES)
        elif roll < 0.94:
            domain = rng.choice(TYPO_DOMAINS)
        elif roll < 0.96:
            domain = rng.choice(DISPOSABLE)
        elif roll < 0.98:
            domain = f"gone-{rng.randrange(200)}.com"  # the zone says it does not exist
        else:
            domain = f"webonly-{rng.randrange(50)}.com"  # an A record, no MX
        if rng.random() < 0.03 and "+" not in local:
            local += "+quotes"
        emails.append(f"{local}@{domain}")
    return emails


def phone_mix(count: int, rng: random.Random) -> list[str]:
    """E.164 numbers as capture stores them (valid ones: capture rejects the rest): mostly US,
    some toll-free, Canada, UK, Mexico."""
    import phonenumbers

    numbers: list[str] = []
    seen: set[str] = set()  # every number once: a lead's number is new to the checks
    index = 0
    while len(numbers) < count:
        index += 1
        roll = rng.random()
        if roll < 0.85:
            numbers.append(unique_phone(rng.randrange(10**7) + index))
        elif roll < 0.90:
            numbers.append(f"+1{rng.choice([800, 833, 844, 888])}555{rng.randrange(10000):04d}")
        elif roll < 0.95:
            numbers.append(f"+1{rng.choice([416, 604, 514])}555{rng.randrange(10000):04d}")
        elif roll < 0.98:
            numbers.append(f"+447{rng.randrange(100, 999)}{rng.randrange(1000000):06d}")
        else:
            numbers.append(f"+5255{rng.randrange(10**8):08d}")
        if numbers[-1] in seen or not phonenumbers.is_valid_number(phonenumbers.parse(numbers[-1])):
            numbers.pop()
        else:
            seen.add(numbers[-1])
    return numbers


def _ascii(text: str) -> str:
    from leadloop.core.keys import plain

    return ".".join(plain(part) for part in text.split("."))


# --------------------------------------------------------------------------------------------
# Part 1 (in the child): validations per second.


class Elsewhere:
    """The share of the machine's CPU that neither this process nor PostgreSQL used while the
    block ran: someone else's work on a shared machine (another benchmark, a test run)."""

    def __init__(self, postgres: bool = False):
        self.postgres = postgres
        self.share = 0.0

    def _now(self) -> tuple[float, float, float, float]:
        from leadloop.bench.capture import machine_cpu_seconds, postgres_cpu_seconds

        database = postgres_cpu_seconds() if self.postgres else 0.0
        return time.monotonic(), machine_cpu_seconds(), time.process_time(), database

    def __enter__(self) -> "Elsewhere":
        self._before = self._now()
        return self

    def __exit__(self, *exc_info) -> None:
        wall, machine, ours, database = (
            a - b for a, b in zip(self._now(), self._before, strict=True)
        )
        self.share = max(0.0, (machine - ours - database) / (wall * (os.cpu_count() or 1)))

    def __str__(self) -> str:
        return f"{100 * self.share:.0f}%"


def quiet(limit: float, out) -> None:
    """With --wait-quiet, wait (up to `limit` seconds) until nobody else is busy."""
    if limit:
        from leadloop.bench.capture import wait_for_quiet

        print(f"  background load before timing: {100 * wait_for_quiet(limit):.0f}%", file=out)


def timed_rate(function: Callable, items: list) -> float:
    """Calls per second of `function`, once over each of `items`."""
    started = time.perf_counter()
    for item in items:
        function(item)
    return len(items) / (time.perf_counter() - started)


def compare(floor: Callable, subject: Callable, batches: list[list]) -> tuple[float, float]:
    """Median rate of the floor and the subject, each over every batch in turn (the two
    alternate, so another job on a shared machine slows both, not one). Every batch is new to
    the subject: a lead's phone number is checked once, so a cache of numbers seen must not
    flatter it."""
    floors, subjects = [], []
    for batch in batches:
        floors.append(timed_rate(floor, batch))
        subjects.append(timed_rate(subject, batch))
    return statistics.median(floors), statistics.median(subjects)


def rate_row(label: str, rate: float) -> str:
    return f"  {label:<62}{rate:>10,.0f}{1e6 / rate:>10.1f}"


def ratio_row(floor: float, subject: float) -> str:
    return f"  {'':<62}ratio subject/s ÷ floor/s = {subject / floor:.2f}"


def _batches(items: list, size: int = BATCH) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def validations(wait_quiet: float = 0.0, out=sys.stdout) -> None:
    import phonenumbers
    from django.conf import settings
    from email_validator import validate_email

    from leadloop.capture.cleaning import clean_email, clean_phone
    from leadloop.core.types import LeadIntake
    from leadloop.quality import dns
    from leadloop.quality.email import check_email
    from leadloop.quality.phone import check_phone
    from leadloop.quality.services import assess_one

    server, questions, address = start_dns()
    try:
        settings.LEADLOOP_DNS = address
        rng = random.Random(3)
        total = ROUNDS * BATCH
        # Separate pools, so no timed part meets a number another part already checked.
        emails, lead_emails = email_mix(total, rng), email_mix(total, rng)
        numbers = phone_mix(2 * total, rng)
        numbers, lead_numbers = numbers[:total], numbers[total:]
        domains = {e.rpartition("@")[2] for e in emails + lead_emails}
        intakes = [
            _browser_intake(LeadIntake, email, number, index, rng)
            for index, (email, number) in enumerate(zip(lead_emails, lead_numbers, strict=True))
        ]
        typed = [(i.email, _as_typed(i.phone)) for i in intakes]
        # Warm: every domain asked once (the DNS cache, and the typo check's cache of domains),
        # every lazy import done, on addresses and numbers that are not timed.
        started = time.perf_counter()
        for domain in domains:
            dns.checker().check(domain)
            check_email(f"warm@{domain}", other_contact=False)
        for intake in _warm_intakes(LeadIntake, rng):
            assess_one(intake)
            clean_phone(_as_typed(intake.phone), "US")
        warm = time.perf_counter() - started
        asked_warming = len(questions)
        quiet(wait_quiet, out)

        def syntax(email: str) -> None:
            validate_email(email, check_deliverability=False)

        def email_check(email: str) -> None:
            check_email(email, other_contact=False)

        def phone_floor(number: str) -> None:
            phonenumbers.is_valid_number(phonenumbers.parse(number, "US"))

        def phone_check(number: str) -> None:
            check_phone(number, "US")

        def cleaning(pair: tuple[str, str]) -> None:
            clean_email(pair[0])
            clean_phone(pair[1], "US")

        with Elsewhere() as elsewhere:
            email_floor, email_rate = compare(syntax, email_check, _batches(emails))
            phone_floor_rate, phone_rate = compare(phone_floor, phone_check, _batches(numbers))
            # The last batch again, straight away: describe_phone keeps the last 10,000 numbers.
            phone_again = timed_rate(phone_check, _batches(numbers)[-1])
            lead_floor, lead_rate = _compare_leads(cleaning, assess_one, typed, intakes)
        asked_timing = len(questions) - asked_warming
    finally:
        server.stop()

    print(
        f"\nValidations: {total:,} emails over {len(domains):,} domains (45% free mail, "
        f"business, role, typo, throwaway, dead; DNS from a server on loopback, cached), "
        f"{total:,} phone numbers (US, toll-free, CA, GB, MX), {total:,} leads; median of "
        f"{ROUNDS} batches of {BATCH:,}, each new to the check",
        file=out,
    )
    print(f"  {'':<62}{'per s':>10}{'µs each':>10}", file=out)
    print(rate_row("floor: validate_email(check_deliverability=False)", email_floor), file=out)
    print(rate_row("email: check_email(email, other_contact=False)", email_rate), file=out)
    print(ratio_row(email_floor, email_rate), file=out)
    print(rate_row("floor: phonenumbers.parse + is_valid_number", phone_floor_rate), file=out)
    print(rate_row('phone: check_phone(e164, "US")', phone_rate), file=out)
    print(ratio_row(phone_floor_rate, phone_rate), file=out)
    print(rate_row("  the same numbers again (describe_phone's cache)", phone_again), file=out)
    print(rate_row("floor: capture's clean_email + clean_phone", lead_floor), file=out)
    print(
        rate_row("lead: assess_one (email, phone, names, browser, enrichment)", lead_rate), file=out
    )
    print(ratio_row(lead_floor, lead_rate), file=out)
    print(
        f"  DNS: {asked_warming:,} questions while warming ({warm:.1f} s), "
        f"{asked_timing} while timing (0 = every answer came from the cache); CPU used "
        f"elsewhere on the machine meanwhile: {elsewhere}",
        file=out,
    )


def _compare_leads(cleaning: Callable, assess: Callable, typed: list, intakes: list) -> tuple:
    """`compare` for the whole lead: the floor cleans what was typed, the subject judges the
    cleaned intake."""
    floors, subjects = [], []
    for raw, cleaned in zip(_batches(typed), _batches(intakes), strict=True):
        floors.append(timed_rate(cleaning, raw))
        subjects.append(timed_rate(assess, cleaned))
    return statistics.median(floors), statistics.median(subjects)


def _warm_intakes(intake_type, rng: random.Random) -> list:
    emails = email_mix(200, rng)
    numbers = phone_mix(200, rng)
    return [
        _browser_intake(intake_type, email, number, 10**6 + index, rng)
        for index, (email, number) in enumerate(zip(emails, numbers, strict=True))
    ]


def _browser_intake(intake_type, email: str, number: str, index: int, rng: random.Random):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    company = company_name(rng.randrange(5000)) if rng.random() < 0.6 else ""
    return intake_type(
        channel="form",
        first_name=first,
        last_name=last,
        email=email,
        phone=number,
        company=company,
        custom_fields={"service": "deep clean", "country": "US" if rng.random() < 0.5 else ""},
        signals={
            "browser": True,
            "user_agent": rng.choice(UA),
            "ip_address": f"198.51.100.{index % 250 + 1}",
            "client_seconds": rng.choice([2.1, 14.0, 35.5, 80.0]),
            "typing": {"keystrokes": 42, "pastes": 0, "focus_order": ["first_name", "email"]},
        },
    )


def _as_typed(e164: str) -> str:
    """A number the way a person types it into a form ("(212) 555-0134")."""
    if e164.startswith("+1"):
        digits = e164[2:]
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return e164


# --------------------------------------------------------------------------------------------
# Part 2 (in the child): duplicate lookups with N leads.

LEAD_COLUMNS = (
    "id", "first_name", "last_name", "email", "email_key", "phone", "custom_fields",
    "lifecycle_stage", "capture_state", "first_touch", "last_touch", "captured_at", "updated_at",
    "company_id", "owner_id", "source_id", "enrichment", "merged_at", "name_key", "quality",
    "quality_reasons", "quality_signals", "duplicate_of_id",
)  # fmt: skip
CUSTOM = [
    '{"service": "deep clean", "budget": 400, "bedrooms": 3}',
    '{"service": "regular clean", "budget": 150}',
    '{"service": "office clean", "budget": 1500, "notes": "Two floors, alarm code at the desk."}',
    "{}",
]
TOUCHES = [
    '{"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring-3", '
    '"gclid": "EAIaIQobChMI8f3k", "landing_page": "https://cleanpro.example/quote"}',
    '{"utm_source": "facebook", "utm_medium": "paid_social", "utm_campaign": "spring-1"}',
    '{"referrer": "https://www.bing.com/"}',
    "{}",
]
ENRICHMENT = [
    '{"phone_region": {"value": "US", "source": "phone"}, '
    '"time_zone": {"value": "America/New_York", "source": "phone"}}',
    '{"company_domain": {"value": "summit-dental12.com", "source": "email"}, '
    '"company_name": {"value": "Summit Dental12", "source": "email"}}',
    "{}",
]
QUALITY = [("valid", "[]", "{}")] * 90 + [
    ("suspect", '[{"code": "email_role_account", "severity": "suspect", "message": "info@ is '
     'a shared or role mailbox."}]', '{"email": {"free_mail": false}}'),
] * 7 + [
    ("invalid", '[{"code": "test_data", "severity": "invalid", "message": "Looks like test '
     'data, not a person."}]', '{}'),
] * 3  # fmt: skip
DUPLICATE_SHARE = 0.02  # linked duplicates: same keys as an earlier lead, pointing at it


@dataclass
class Person:
    first_name: str
    last_name: str
    email: str
    phone: str
    company: str
    company_number: int | None


MASK64 = (1 << 64) - 1


def mix(value: int) -> int:
    """splitmix64: 64 well-spread bits from a number (cheaper than seeding a Random per lead)."""
    z = (value + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


class Population:
    """Leads 0..N-1 (and new people from N on): who each one is, decided by their number."""

    def __init__(self, leads: int):
        from leadloop.core.keys import company_key, plain

        self.leads = leads
        self.companies = max(1, leads // 5)  # ~3.5 leads per company among those with one
        self._plain = {name: plain(name) for name in FIRST + LAST}
        self._free_mail = [domain for domain, weight in FREE_MAIL for _ in range(weight)]
        self._company_key = company_key

    def person(self, number: int) -> Person:
        bits = mix(number)
        first, last = FIRST[bits % len(FIRST)], LAST[(bits >> 8) % len(LAST)]
        company_number = (bits >> 24) % self.companies if (bits >> 16) % 100 < 70 else None
        if number >= self.leads and company_number is not None:
            company_number += self.companies  # a new person works somewhere new
        company = company_name(company_number) if company_number is not None else ""
        local = f"{self._plain[first]}.{self._plain[last]}{number}"
        roll = (bits >> 48) % 100
        if roll < 5:
            email = ""
        elif company_number is not None and roll < 55:
            email = f"{local}@{company_domain(company_number)}"
        else:
            email = f"{local}@{self._free_mail[(bits >> 56) % len(self._free_mail)]}"
        phone = unique_phone(number) if (bits >> 40) % 100 < 80 or not email else ""
        return Person(first, last, email, phone, company, company_number)

    def duplicate_of(self, number: int) -> int | None:
        """The earlier lead that lead `number` repeats (a linked duplicate), or None for a
        primary lead: about DUPLICATE_SHARE of them."""
        bits = mix(-number - 1)
        if number < 1000 or bits % 10_000 >= DUPLICATE_SHARE * 10_000:
            return None
        while True:
            bits = mix(bits)
            target = number // 2 + bits % (number - number // 2)
            if self.duplicate_of(target) is None:
                return target

    def primaries(self, count: int, rng: random.Random) -> list[int]:
        """`count` random primary leads (the people a lookup should find)."""
        chosen: set[int] = set()
        while len(chosen) < count:
            number = rng.randrange(self.leads)
            if self.duplicate_of(number) is None:
                chosen.add(number)
        return sorted(chosen)

    def name_key(self, person: Person) -> str:
        """leadloop.core.keys.name_key, with the per-name work done once."""
        first = self._plain[person.first_name][:1]
        firm = self._company_key(person.company) if person.company else ""
        if not (first and firm):
            return ""
        return f"{first}:{self._plain[person.last_name]}:{firm}"[:200]


def lead_rows(population: Population, start: int, stop: int) -> Iterator[tuple]:
    """Rows for leads start..stop-1 in LEAD_COLUMNS order; ids are number + 1. Datetimes are
    datetime objects (each loader writes them its own way)."""
    from leadloop.core.keys import email_key

    base = datetime(2023, 1, 1, tzinfo=UTC)
    for number in range(start, stop):
        # A linked duplicate is the same person again: it shares the keys of the lead it points at.
        duplicate_of = population.duplicate_of(number)
        person = population.person(number if duplicate_of is None else duplicate_of)
        company = person.company_number
        captured = base + timedelta(seconds=number * 90 + number % 89)
        quality, reasons, signals = QUALITY[number % len(QUALITY)]
        yield (
            number + 1, person.first_name, person.last_name, person.email,
            email_key(person.email) if person.email else "", person.phone,
            CUSTOM[number % len(CUSTOM)], "lead", "complete", TOUCHES[number % len(TOUCHES)],
            TOUCHES[number % 3], captured, captured, company + 1 if company is not None else None,
            None, None, ENRICHMENT[number % len(ENRICHMENT)], None, population.name_key(person),
            quality, reasons, signals, duplicate_of + 1 if duplicate_of is not None else None,
        )  # fmt: skip


def _company_rows(population: Population) -> Iterator[tuple]:
    created = datetime(2023, 1, 1, tzinfo=UTC)
    for number in range(population.companies):
        yield number + 1, company_name(number), company_domain(number), created


def _chunks(rows: Iterator[tuple], size: int = CHUNK) -> Iterator[list[tuple]]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Stages:
    """Seconds per stage of a load."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def done(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = now - self._last
        self._last = now


def load_sqlite(path: str, population: Population) -> dict[str, float]:
    """Raw executemany on the migrated file, the lead indexes dropped and rebuilt around it.
    Returns the seconds each stage took."""
    import sqlite3

    stages = Stages()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-200000")
        indexes = [
            sql
            for (sql,) in db.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = 'core_lead' AND sql IS NOT NULL"
            )
        ]
        for sql in indexes:
            db.execute("DROP INDEX " + sql.split('"')[1])

        def timestamps(row: tuple) -> tuple:
            row = list(row)
            row[11] = row[12] = row[11].strftime("%Y-%m-%d %H:%M:%S.%f")
            return tuple(row)

        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO core_company (id, name, domain, created_at) VALUES (?, ?, ?, ?)",
            ((n, name, d, c.strftime("%Y-%m-%d %H:%M:%S")) for n, name, d, c in
             _company_rows(population)),
        )  # fmt: skip
        db.execute("COMMIT")
        insert = (
            f"INSERT INTO core_lead ({', '.join(LEAD_COLUMNS)}) "  # noqa: S608 (our own names)
            f"VALUES ({', '.join('?' * len(LEAD_COLUMNS))})"
        )
        for chunk in _chunks(lead_rows(population, 0, population.leads)):
            db.execute("BEGIN")
            db.executemany(insert, map(timestamps, chunk))
            db.execute("COMMIT")
        stages.done("rows")
        for sql in indexes:
            db.execute(sql)
        stages.done("indexes")
        db.execute("ANALYZE")
        db.execute("PRAGMA journal_mode=WAL")
        stages.done("ANALYZE")
    finally:
        db.close()
    return stages.seconds


def load_postgres(url: str, population: Population) -> dict[str, float]:
    """COPY, the lead indexes (but its primary key) dropped and rebuilt around it, then
    VACUUM ANALYZE. The rows are consistent by construction, so the session skips the
    foreign-key triggers (session_replication_role = replica: 700,000 deferred checks against
    the companies otherwise). Returns the seconds each stage took."""
    import psycopg

    stages = Stages()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SET session_replication_role = replica")
        db.execute("SET maintenance_work_mem = '256MB'")
        indexes = db.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'core_lead' AND indexname <> 'core_lead_pkey'"
        ).fetchall()
        for name, _ in indexes:
            db.execute(f'DROP INDEX "{name}"')
        companies = "COPY core_company (id, name, domain, created_at) FROM STDIN"
        with db.transaction(), db.cursor() as cursor, cursor.copy(companies) as copy:
            for row in _company_rows(population):
                copy.write_row(row)
        for chunk in _chunks(lead_rows(population, 0, population.leads)):
            with db.transaction(), db.cursor() as cursor:
                columns = ", ".join(LEAD_COLUMNS)
                with cursor.copy(f"COPY core_lead ({columns}) FROM STDIN") as copy:
                    for row in chunk:
                        copy.write_row(row)
        stages.done("rows")
        for _, definition in indexes:
            db.execute(definition)
        stages.done("indexes")
        for table in ("core_company", "core_lead"):
            db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 (ours)
                f"(SELECT max(id) FROM {table}))"
            )
        db.execute("VACUUM ANALYZE core_company")
        db.execute("VACUUM ANALYZE core_lead")
        stages.done("VACUUM ANALYZE")
    return stages.seconds


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share / 100 * (len(ordered) - 1)))]


def latency_row(label: str, values: list[float]) -> str:
    cells = "".join(f"{percentile(values, p):>8.3f}" for p in (50, 95, 99))
    return f"  {label:<52}{cells}{max(values):>8.3f}{len(values):>7}"


def lookups(leads: int, count: int, wait_quiet: float = 0.0, out=sys.stdout) -> bool:
    from django.core.management import call_command
    from django.db import connection, connections

    from leadloop.core.models import Lead
    from leadloop.core.services import LeadIndex, _leads_by_contact
    from leadloop.core.types import LeadIntake

    postgres = connection.vendor == "postgresql"
    engine = "PostgreSQL" if postgres else "SQLite"
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    migrated = time.perf_counter()
    connections.close_all()
    population = Population(leads)
    if postgres:
        stages = load_postgres(_postgres_url(), population)
    else:
        stages = load_sqlite(str(connection.settings_dict["NAME"]), population)
    loaded = time.perf_counter()

    rng = random.Random(11)
    hits, misses = count // 2, count - count // 2
    hit_numbers = population.primaries(hits, rng)
    people = [(population.person(n), True) for n in hit_numbers]
    people += [(population.person(leads + n), False) for n in range(misses)]
    rng.shuffle(people)
    intakes = [(_intake(LeadIntake, person, rng), hit) for person, hit in people]
    pks = [rng.randrange(1, leads + 1) for _ in range(count)]

    def lookup(intake) -> bool:
        index = LeadIndex([intake])
        return index.find(intake) is not None or index.find_similar(intake) is not None

    def sql_of(intake) -> tuple[str, list]:
        from leadloop.core.keys import email_key, name_key

        key = name_key(intake.first_name, intake.last_name, intake.company)
        query = _leads_by_contact(
            Lead.objects.all(),
            emails=[email_key(intake.email)] if intake.email else [],
            phones=[intake.phone] if intake.phone else [],
            names=[key] if key else [],
        ).query
        return query.sql_with_params()

    for intake, _ in intakes[:200]:  # warm: connection, SQL cache, lazy imports
        lookup(intake)
        Lead.objects.filter(pk=pks[0]).first()
    statements = [sql_of(intake) for intake, _ in intakes]
    quiet(wait_quiet, out)

    timings: dict[str, list[float]] = {
        "hits": [], "misses": [], "floor": [], "query": [], "cpu": []
    }  # fmt: skip
    import resource

    switched = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
    found = {"hits": 0, "misses": 0}
    clock = time.perf_counter
    with connection.cursor() as cursor, Elsewhere(postgres) as elsewhere:
        for (intake, hit), pk, (sql, params) in zip(intakes, pks, statements, strict=True):
            kind = "hits" if hit else "misses"
            c0 = time.thread_time()
            t0 = clock()
            was_found = lookup(intake)
            t1 = clock()
            timings["cpu"].append(1000 * (time.thread_time() - c0))
            Lead.objects.filter(pk=pk).first()
            t2 = clock()
            cursor.execute(sql, params)
            cursor.fetchall()
            t3 = clock()
            timings[kind].append(1000 * (t1 - t0))
            timings["floor"].append(1000 * (t2 - t1))
            timings["query"].append(1000 * (t3 - t2))
            found[kind] += was_found
    switched = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - switched
    both = timings["hits"] + timings["misses"]
    p99, floor_p99 = percentile(both, 99), percentile(timings["floor"], 99)

    print(
        f"\nDuplicate lookups, {engine}: {Lead.objects.count():,} leads "
        f"({Lead.objects.filter(duplicate_of__isnull=False).count():,} linked duplicates), "
        f"migrated in {migrated - started:.0f} s, loaded in {loaded - migrated:.0f} s ("
        + ", ".join(f"{stage} {seconds:.0f} s" for stage, seconds in stages.items())
        + f"); {count:,} intakes, {hits:,} of them people already there",
        file=out,
    )
    print(f"  {'ms':<52}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'n':>7}", file=out)
    print(latency_row("LeadIndex([intake]) + find + find_similar", both), file=out)
    print(latency_row("  people already there", timings["hits"]), file=out)
    print(latency_row("  new people", timings["misses"]), file=out)
    print(latency_row("  its query alone (cursor.execute + fetchall)", timings["query"]), file=out)
    cpu_label = "  CPU time of the lookup in this process" + (" (not PG's)" if postgres else "")
    print(latency_row(cpu_label, timings["cpu"]), file=out)
    print(latency_row("floor: Lead.objects.filter(pk=…).first()", timings["floor"]), file=out)
    print(f"  {'':<52}ratio p99 ÷ floor p99 = {p99 / floor_p99:.2f}", file=out)
    print(
        f"  found a lead for {found['hits']:,} of {hits:,} people already there and "
        f"{found['misses']:,} of {misses:,} new people",
        file=out,
    )
    verdict = "met" if p99 < TARGET_P99_MS else "MISSED"
    print(
        f"  target p99 < {TARGET_P99_MS:g} ms: {verdict} ({p99:.3f} ms); CPU used elsewhere on "
        f"the machine while timing: {elsewhere}; this process was preempted {switched:,} times",
        file=out,
    )
    _print_plan(intakes, sql_of, postgres, out)
    ok = found["hits"] == hits and found["misses"] == 0
    if not ok:
        print("  (a lookup found the wrong thing: see the counts above)", file=out)
    return ok


def _intake(intake_type, person: Person, rng: random.Random):
    """The person as a form sends them in: the address capitalised the way people type it."""
    email = person.email
    if email and rng.random() < 0.5:
        local, _, domain = email.partition("@")
        email = f"{'.'.join(p.capitalize() for p in local.split('.'))}@{domain}"
    return intake_type(
        channel="form",
        first_name=person.first_name,
        last_name=person.last_name,
        email=email,
        phone=person.phone,
        company=person.company,
    )


def _print_plan(intakes: list, sql_of: Callable, postgres: bool, out) -> None:
    from django.db import connection

    # One with all three keys (email, phone, name at company), the common shape.
    intake = next(i for i, _ in intakes if i.email and i.phone and i.company)
    sql, params = sql_of(intake)
    explain = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
    with connection.cursor() as cursor:
        cursor.execute(explain + sql, params)
        rows = cursor.fetchall()
    print(f"  query plan ({explain.strip()}), an intake with email, phone and company:", file=out)
    if postgres:
        for (line,) in rows:
            print(f"    {line}", file=out)
    else:
        for row in rows:
            print(f"    {row[-1]}", file=out)


def _postgres_url() -> str:
    from leadloop.config import env

    return env("DATABASE_URL")


# --------------------------------------------------------------------------------------------
# Command line.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--leads",
        type=int,
        default=DEFAULT_LEADS,
        help="leads in the database for the duplicate lookups (default 1,000,000)",
    )
    parser.add_argument(
        "--lookups", type=int, default=DEFAULT_LOOKUPS, help="intakes looked up (default 2000)"
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also time the lookups on a fresh PostgreSQL database",
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="server, no database")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite lookups")
    parser.add_argument(
        "--no-validations", action="store_true", help="skip the validations per second"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each timed part, wait up to this long for other work on the machine to stop",
    )


def run_from_options(options: dict) -> bool:
    """Run with the options `add_arguments` parsed (from argparse or the management command)."""
    return run(
        Options(
            leads=options["leads"],
            lookups=options["lookups"],
            sqlite=not options["no_sqlite"],
            postgres=options["postgres"],
            postgres_url=options["postgres_url"].rstrip("/"),
            validations=not options["no_validations"],
            wait_quiet=options["wait_quiet"],
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    started = time.monotonic()
    ok = run_from_options(options)
    print(f"  ({time.monotonic() - started:.0f} s)")
    return 0 if ok else 1


def child_main(argv: list[str]) -> int:
    """A part of the benchmark, in a process whose environment names the throw-away
    installation (see `_env`)."""
    import django

    django.setup()
    parser = argparse.ArgumentParser()
    parser.add_argument("part", choices=["validations", "lookups"])
    parser.add_argument("--leads", type=int, default=DEFAULT_LEADS)
    parser.add_argument("--lookups", type=int, default=DEFAULT_LOOKUPS)
    parser.add_argument("--wait-quiet", type=float, default=0.0)
    args = parser.parse_args(argv)
    if args.part == "validations":
        validations(args.wait_quiet)
        return 0
    return 0 if lookups(args.leads, args.lookups, args.wait_quiet) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child_main(sys.argv[2:]))
    sys.exit(main())
