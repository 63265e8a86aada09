"""The routing benchmark: `leadloop bench routing` and `python benchmarks/routing.py`.

Issue 5's figures, each part on a throw-away installation (a fresh LEADLOOP_HOME; with
--postgres the same parts again on a fresh PostgreSQL database, dropped afterwards):

1. Decision time, in a child process with Django set up: 20 ordered assignment rules
   (countries, postal-code ranges, industry, company size, score, source campaign), 4 teams of
   5 reps (round robin, weighted, fewest open leads) in 15 time zones working 16-20 hours a day,
   two out of office, four with a daily capacity; 10,000 leads already owned (their
   assignments over the last 30 days) and N new ones with varied custom fields. Each new lead's
   AssignmentRequest is fulfilled (`routing.services.fulfil`: decide, assign, acknowledge, one
   transaction) and timed, beside `decide` alone and a floor: the same transaction locking the
   lead and writing one Event.
2. Speed to lead end to end: an SMTP server (aiosmtpd) in this process on a loopback port
   records when it accepts each message; `leadloop serve` runs with its worker, mailing
   through it. Leads are posted to /api/v1/leads at a steady rate from a few client threads.
   For each lead: t0 when its POST returned 201, the acknowledgement's accept time at the SMTP
   server, and `assigned_at` read from the database afterwards. Speed to lead is
   max(ack, assigned) - t0. Target: p99 under 1 s.
"""

import argparse
import email.parser
import email.policy
import http.client
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from leadloop.bench.server import run_child, stream_child

DEFAULT_LEADS = 1000  # posted per end-to-end run
DEFAULT_DECISIONS = 2000  # timed decisions
DEFAULT_EXISTING = 10_000  # leads already owned when the decisions are timed
DEFAULT_RATE = 20.0  # leads/s
DEFAULT_FAST_RATE = 100.0
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432"
TARGET_P99 = 1.0  # seconds, issue 5
CLIENT_THREADS = 4
WARMUP_LEADS = 40
PASS_ROUNDS = 9
ACK_TIMEOUT = 60.0  # after the last POST: a lead not acknowledged by then counts as missed
POST_TIMEOUT = 30.0

# (team, strategy, [(time zone, weight)]): 4 teams x 5 reps.
TEAMS = [
    (
        "Enterprise",
        "weighted",
        [("America/New_York", 3), ("America/Chicago", 2), ("Europe/London", 2),
         ("Europe/Berlin", 1), ("America/Los_Angeles", 1)],
    ),
    (
        "North America East",
        "round_robin",
        [("America/New_York", 1), ("America/Toronto", 1), ("America/New_York", 1),
         ("America/Chicago", 1), ("America/Bogota", 1)],
    ),
    (
        "North America West",
        "load_balanced",
        [("America/Los_Angeles", 1), ("America/Denver", 1), ("America/Phoenix", 1),
         ("America/Vancouver", 1), ("Pacific/Honolulu", 1)],
    ),
    (
        "International",
        "weighted",
        [("Europe/London", 2), ("Europe/Berlin", 2), ("Asia/Singapore", 1),
         ("Australia/Sydney", 1), ("Asia/Tokyo", 1)],
    ),
]  # fmt: skip
AWAY = {3, 12}  # reps (by number, 0-19) out of office this week
CAPPED = {2: 40, 7: 40, 13: 60, 18: 60}  # reps with a daily capacity
TEAM_PREFIX = {"Enterprise": "ent", "North America East": "nae", "North America West": "naw",
               "International": "intl"}  # fmt: skip
SOURCES = [  # (name, channel, campaign)
    ("Google Ads", "paid_search", "spring-launch"),
    ("Partner feed", "affiliate", "partner-2026"),
    ("Website API", "api", ""),
]


def _fact(name: str, op: str, value: object) -> dict:
    return {"fact": name, "op": op, "value": value}


def _us_zip(low: str, high: str) -> dict:
    return {"all": [_fact("country", "in", ["US"]), _fact("postal_code", "between", [low, high])]}


# (name, condition, team or rep username), in order: the first that can place a lead decides.
RULES = [
    ("Enterprise accounts",
     {"all": [_fact("company_size", "gte", 500), _fact("score", "gte", 40)]}, "Enterprise"),
    ("Hot leads", _fact("score", "gte", 70), "ent1"),
    ("Spring launch, North America",
     {"all": [_fact("source.campaign", "equals", "spring-launch"),
              _fact("country", "in", ["US", "CA"])]}, "North America East"),
    ("Healthcare and dental", _fact("industry", "in", ["healthcare", "dental"]), "Enterprise"),
    ("New York metro", _us_zip("10000", "11999"), "nae1"),
    ("US Northeast", _us_zip("01000", "19999"), "North America East"),
    ("US Southeast", _us_zip("20000", "39999"), "North America East"),
    ("US Midwest", _us_zip("40000", "59999"), "North America West"),
    ("US Plains", _us_zip("60000", "69999"), "North America East"),
    ("US South Central", _us_zip("70000", "79999"), "North America West"),
    ("US Mountain and Pacific", _us_zip("80000", "99999"), "North America West"),
    ("Canada", _fact("country", "in", ["CA"]), "North America East"),
    ("UK and Ireland", _fact("country", "in", ["GB", "IE"]), "International"),
    ("DACH", _fact("country", "in", ["DE", "AT", "CH"]), "International"),
    ("Nordics", _fact("country", "in", ["SE", "NO", "DK", "FI"]), "International"),
    ("Asia Pacific", _fact("country", "in", ["AU", "NZ", "SG", "JP"]), "International"),
    ("Partner referrals", _fact("source.campaign", "equals", "partner-2026"),
     "North America West"),
    ("Mid-market", _fact("company_size", "gte", 100), "Enterprise"),
    ("Retail and hospitality", _fact("industry", "in", ["retail", "hospitality"]),
     "North America West"),
    ("Everyone else", {}, "International"),
]  # fmt: skip
SCORING_RULES = [  # (name, points, condition): fit points, so rules on the score have a spread
    ("Budget 1,000+", 20, _fact("custom_fields.budget", "gte", 1000)),
    ("Office cleaning", 15, _fact("custom_fields.service", "equals", "office clean")),
    ("100+ employees", 20, _fact("company_size", "gte", 100)),
    ("Healthcare", 10, _fact("industry", "in", ["healthcare", "dental"])),
    ("Paid search", 10, _fact("source.channel", "equals", "paid_search")),
    ("Free mail", -10, _fact("free_mail", "equals", True)),
]
COUNTRIES = [  # (country, weight)
    ("US", 55), ("CA", 8), ("GB", 7), ("IE", 1), ("DE", 4), ("AT", 1), ("CH", 1), ("SE", 1),
    ("NO", 1), ("DK", 1), ("AU", 3), ("SG", 1), ("JP", 1), ("FR", 6), ("ES", 4), ("BR", 3),
    ("MX", 2),
]  # fmt: skip
INDUSTRIES = ["healthcare", "dental", "retail", "hospitality", "real estate", "manufacturing",
              "software", "education", "legal", "logistics", "property management"]  # fmt: skip
SIZES = [1, 3, 8, 15, 40, 80, 150, 300, 800, 2500]


def territory(rng: random.Random) -> dict:
    """A lead's country, postal code, industry and company size, as a form asks them."""
    country = rng.choices([c for c, _ in COUNTRIES], [w for _, w in COUNTRIES])[0]
    if country == "US":
        postal = f"{rng.randint(1000, 99999):05d}"
    elif country == "CA":
        postal = (
            f"{rng.choice('KLMNPT')}{rng.randint(1, 9)}V {rng.randint(1, 9)}T{rng.randint(1, 9)}"
        )
    elif country == "GB":
        postal = f"SW{rng.randint(1, 20)} {rng.randint(1, 9)}AA"
    else:
        postal = f"{rng.randint(1000, 99999)}"
    fields = {"country": country, "postal_code": postal, "industry": rng.choice(INDUSTRIES)}
    if rng.random() < 0.85:
        fields["company_size"] = rng.choice(SIZES)
    return fields


# --------------------------------------------------------------------------------------------
# The cast: reps, teams, rules and sources (in a child process with Django set up)


def build_cast(now: datetime) -> dict[str, str]:
    """Create the teams, reps, rules, scoring rules, sources and routing settings; return the
    sources' API keys by campaign ("" for the one without)."""
    from datetime import time as clock

    from django.contrib.auth import get_user_model

    from leadloop.core import services as core
    from leadloop.routing.models import (
        AssignmentRule,
        Membership,
        Rep,
        RoutingSettings,
        Team,
    )
    from leadloop.scoring.models import ScoringRule

    users = get_user_model().objects
    number = 0
    targets: dict[str, object] = {}
    for team_name, strategy, members in TEAMS:
        team = Team.objects.create(name=team_name, strategy=strategy)
        targets[team_name] = team
        manager = users.create_user(
            f"{TEAM_PREFIX[team_name]}-manager", f"{TEAM_PREFIX[team_name]}-manager@reps.example"
        )
        Team.objects.filter(pk=team.pk).update(manager=manager)
        for position, (zone, weight) in enumerate(members):
            username = f"{TEAM_PREFIX[team_name]}{position + 1}"
            user = users.create_user(
                username, f"{username}@reps.example", first_name=username.title()
            )
            # Most work 06:00-02:00 every day (a shift past midnight); every fourth 07:00-23:00
            # Monday to Saturday. Spread over 15 zones, most reps are at work at any hour.
            long_day = number % 4 != 3
            rep = Rep.objects.create(
                user=user,
                time_zone=zone,
                work_days="Mon,Tue,Wed,Thu,Fri,Sat,Sun" if long_day else "Mon,Tue,Wed,Thu,Fri,Sat",
                work_starts=clock(6) if long_day else clock(7),
                work_ends=clock(2) if long_day else clock(23),
                daily_capacity=CAPPED.get(number, 0),
                away_from=now - timedelta(days=1) if number in AWAY else None,
                away_until=now + timedelta(days=6) if number in AWAY else None,
            )
            targets[username] = rep
            Membership.objects.create(team=team, rep=rep, position=position, weight=weight)
            number += 1
    for position, (name, condition, target) in enumerate(RULES):
        chosen = targets[target]
        AssignmentRule.objects.create(
            name=name,
            position=position,
            condition=condition,
            team=chosen if isinstance(chosen, Team) else None,
            rep=chosen if isinstance(chosen, Rep) else None,
            sla_minutes=5 if position < 5 else 15,
            promise=f"Someone from {target} will call you within 15 minutes."
            if position < 5
            else "",
        )
    for position, (name, points, condition) in enumerate(SCORING_RULES):
        ScoringRule.objects.create(
            name=name, group="fit", points=points, position=position, condition=condition
        )
    desk = users.create_user("sales-desk", "sales-desk@reps.example")
    settings = RoutingSettings.current()
    RoutingSettings.objects.filter(pk=settings.pk).update(
        fallback_owner=desk, business_name="CleanPro"
    )
    keys = {}
    for name, channel, campaign in SOURCES:
        _, keys[campaign] = core.create_source(name, channel, campaign)
    return keys


# --------------------------------------------------------------------------------------------
# Part 1: decision time (a child process)


def _existing_leads(count: int, sources: list, now: datetime) -> None:
    """Leads already owned by the reps, their assignments spread over the last 30 days (so the
    daily capacities and the fewest-open-leads counts read real rows)."""
    from leadloop.core import rows
    from leadloop.core.models import Lead
    from leadloop.routing.models import Assignment, Rep

    rng = random.Random(11)
    owners = list(Rep.objects.values_list("user_id", flat=True))
    stages = ["lead", "lead", "mql", "sql", "opportunity", "customer", "disqualified"]
    for start in range(0, count, 2000):
        leads = []
        for index in range(start, min(count, start + 2000)):
            leads.append(
                Lead(
                    first_name="Old",
                    last_name=f"Lead {index}",
                    email=f"old.{index}@customers.example",
                    email_key=f"old.{index}@customers.example",
                    custom_fields=territory(rng),
                    source_id=rng.choice(sources).pk,
                    owner_id=rng.choice(owners),
                    lifecycle_stage=rng.choice(stages),
                    score=rng.randint(0, 80),
                    captured_at=now - timedelta(days=rng.uniform(0, 30)),
                )
            )
        rows.insert(leads)
        rows.insert(
            [
                Assignment(
                    lead=lead,
                    owner_id=lead.owner_id,
                    why="history",
                    assigned_at=lead.captured_at + timedelta(minutes=1),
                )
                for lead in leads
            ]
        )


def _new_leads(count: int, sources: list, now: datetime, start: int = 0) -> list:
    from leadloop.core import rows
    from leadloop.core.models import Lead

    rng = random.Random(5 + start)
    leads = []
    for index in range(start, start + count):
        fields = {
            "service": rng.choice(["deep clean", "regular clean", "office clean", "carpet clean"]),
            "budget": rng.choice([150, 250, 400, 800, 1500, 3000]),
            "notes": "Two dogs; the side gate code is 4411.",
            **territory(rng),
        }
        leads.append(
            Lead(
                first_name=rng.choice(["Ada", "Grace", "Alan", "Radia", "Hedy", "Linus"]),
                last_name=f"Newlead{index}",
                email=f"new.{index}@prospects.example",
                email_key=f"new.{index}@prospects.example",
                phone=f"+1212555{index % 10000:04d}",
                custom_fields=fields,
                source_id=rng.choice(sources).pk,
                score=rng.choice([0, 5, 10, 20, 30, 35, 45, 55, 65, 75]),
                captured_at=now,
            )
        )
    return rows.insert(leads)


def _timed(action, items) -> list[float]:
    times = []
    for item in items:
        started = time.perf_counter()
        action(item)
        times.append(time.perf_counter() - started)
    return times


def decisions_child(decisions: int, existing: int) -> bool:
    """Part 1: time the floor, decide() alone and fulfil() per lead; print the table."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from leadloop.core import rows
    from leadloop.core import services as core
    from leadloop.core.models import Lead, Message, Source, WorkStatus
    from leadloop.routing import services as routing
    from leadloop.routing.models import Assignment, AssignmentRequest

    call_command("migrate", verbosity=0)
    now = timezone.now()
    build_cast(now)
    sources = list(Source.objects.order_by("pk"))
    _existing_leads(existing, sources, now)
    warmup = 50
    leads = _new_leads(decisions + warmup, sources, now)
    requests = rows.insert([AssignmentRequest(lead=lead, live=True) for lead in leads])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    def floor(lead_id: int) -> None:
        with transaction.atomic():
            lead = Lead.objects.select_for_update().get(pk=lead_id)
            core.record_event(lead, "bench.floor", {"n": lead_id})

    def decide(lead_id: int) -> None:
        with transaction.atomic():
            lead = Lead.objects.select_for_update().select_related("source").get(pk=lead_id)
            routing.decide(lead)

    def fulfil(request: AssignmentRequest) -> None:
        routing.fulfil(request)

    for request in requests[:warmup]:  # imports, templates, the settings row: not timed
        floor(request.lead_id)
        decide(request.lead_id)
        fulfil(request)
    timed = requests[warmup:]
    ids = [request.lead_id for request in timed]
    floor_times = _timed(floor, ids)
    decide_times = _timed(decide, ids)
    fulfil_times = _timed(fulfil, timed)

    done = AssignmentRequest.objects.filter(pk__in=[r.pk for r in timed], status=WorkStatus.DONE)
    by_rule = Counter(
        Assignment.objects.filter(lead_id__in=ids).values_list("rule__name", flat=True)
    )
    notices = Message.objects.filter(lead_id__in=ids).count()
    engine = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    print(
        f"\nRouting decisions, {engine}: {decisions:,} new leads ({existing:,} already owned), "
        f"{len(RULES)} rules, {len(TEAMS)} teams x 5 reps, one transaction per lead"
    )
    print(f"  {'ms':<58}{'p50':>8}{'p99':>8}{'mean':>8}{'max':>8}")
    table = [
        ("floor: lock the lead (select_for_update) + one Event", floor_times),
        ("decide(lead): rules, availability, strategy", decide_times),
        ("fulfil(request): decide + assign + acknowledge", fulfil_times),
    ]
    for label, times in table:
        ms = [t * 1000 for t in times]
        print(
            f"  {label:<58}{percentile(ms, 50):>8.2f}{percentile(ms, 99):>8.2f}"
            f"{sum(ms) / len(ms):>8.2f}{max(ms):>8.2f}"
        )
    mean = sum(fulfil_times) / sum(floor_times)
    tail = percentile(fulfil_times, 99) / percentile(floor_times, 99)
    print(f"  ratio fulfil ÷ floor: mean {mean:.1f}x, p99 {tail:.1f}x")
    fallback = by_rule.pop(None, 0)
    placed = ", ".join(f"{name} {n}" for name, n in by_rule.most_common(6))
    print(
        f"  {done.count():,} requests done; {len(by_rule)} of {len(RULES)} rules placed leads "
        f"(most: {placed}; fallback owner {fallback}); {notices:,} messages queued"
    )
    worker_pass(sources, now)
    return done.count() == decisions


def worker_pass(sources: list, now: datetime, out=sys.stdout) -> None:
    """The worker's pass (journey.follow_up) stage by stage, over as many new leads as arrive
    in one 0.2 s poll at 20 and at 100 leads/s: each lead's scoring and assignment requests
    written as capture writes them, then the stages timed, the notices mailed to an SMTP
    server on loopback (aiosmtpd, in this process)."""
    from django.conf import settings
    from django.db import transaction

    from leadloop.core import outbox, reactions
    from leadloop.core.models import Message, MessageStatus
    from leadloop.routing import services as routing
    from leadloop.scoring import services as scoring

    stages = [  # journey.follow_up's calls, in its order
        ("score_due", scoring.score_due),
        ("assign_due", lambda: routing.assign_due(waiting=scoring.waiting)),
        ("reactions", reactions.deliver_due),
        ("outbox (SMTP)", outbox.send_due),
    ]
    # What the timed fulfil() calls wrote is not this pass's work: set it aside as sent.
    Message.objects.filter(status=MessageStatus.PENDING).update(status=MessageStatus.SENT)
    with smtp_server() as (inbox, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
        print(f"\n  the worker's pass, per lead (median of {PASS_ROUNDS} passes)", file=out)
        print(f"  {'ms':<30}" + "".join(f"{name:>19}" for name, _ in stages) + f"{'pass':>9}")
        start = 10**6
        for batch in (4, 20):
            per_stage: dict[str, list[float]] = {name: [] for name, _ in stages}
            totals = []
            for _ in range(PASS_ROUNDS):
                leads = _new_leads(batch, sources, now, start)
                start += batch
                with transaction.atomic():
                    scoring.request_scoring(leads, reason="captured")
                    routing.request_assignment(leads, live=True)
                total = 0.0
                for name, stage in stages:
                    started = time.perf_counter()
                    stage()
                    took = time.perf_counter() - started
                    per_stage[name].append(took / batch)
                    total += took
                totals.append(total)
            cells = "".join(
                f"{1000 * percentile(per_stage[name], 50):>19.2f}" for name, _ in stages
            )
            print(
                f"  {f'{batch} leads a pass':<30}{cells}{1000 * percentile(totals, 50):>7.0f}ms",
                file=out,
            )
        print(f"  ({len(inbox.accepted):,} messages accepted by the SMTP server)", file=out)


# --------------------------------------------------------------------------------------------
# Part 2: speed to lead end to end


class Inbox:
    """aiosmtpd's handler: when each message was accepted (time.time()), to whom, its subject."""

    def __init__(self) -> None:
        self.accepted: list[tuple[float, list[str], str]] = []
        self._headers = email.parser.BytesHeaderParser(policy=email.policy.compat32)

    async def handle_DATA(self, server, session, envelope) -> str:
        at = time.time()
        subject = self._headers.parsebytes(envelope.content).get("Subject", "")
        self.accepted.append((at, [r.lower() for r in envelope.rcpt_tos], str(subject)))
        return "250 OK"

    def first_to(self) -> dict[str, float]:
        """The first accept time per recipient."""
        first: dict[str, float] = {}
        for at, recipients, _ in list(self.accepted):
            for recipient in recipients:
                first.setdefault(recipient, at)
        return first


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        sys.exit(
            "The routing benchmark needs aiosmtpd (a test dependency): "
            ".venv/bin/pip install -e '.[test]'"
        )
    from leadloop.bench.server import free_port

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@dataclass
class Posted:
    email: str
    status: int
    returned_at: float  # time.time() when the response was read
    latency: float  # seconds the POST took
    lag: float  # seconds it was sent after its due time


@dataclass
class Run:
    rate: float
    posted: list[Posted] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    drained: float = 0.0  # seconds from the last POST to the last acknowledgement
    wall: float = 0.0  # seconds from the first POST to the last acknowledgement
    server_cpu: float = 0.0  # CPU seconds of serve's processes (gunicorn and the worker)
    client_cpu: float = 0.0  # this process: the posting threads and the SMTP server
    machine_cpu: float = 0.0  # every process on the machine
    threads: int = 0

    @property
    def elsewhere(self) -> float:
        """CPU used by neither the server nor this process, as a share of the machine."""
        ours = self.server_cpu + self.client_cpu
        return max(0.0, (self.machine_cpu - ours) / (self.wall * (os.cpu_count() or 1)))


def _payloads(start: int, count: int) -> list[tuple[str, bytes]]:
    """(email, body) for leads start..start+count: capture's realistic lead plus a territory."""
    from leadloop.bench.capture import lead_payload

    rng = random.Random(start + 3)
    bodies = []
    for index in range(start, start + count):
        payload = lead_payload(index, rng)
        payload["fields"].update(territory(rng))
        bodies.append((payload["email"].lower(), json.dumps(payload).encode()))
    return bodies


def post_paced(
    port: int, keys: list[str], payloads: list[tuple[str, bytes]], rate: float, threads: int
) -> Run:
    """POST each payload at its due time (start + i / rate) from `threads` keep-alive
    connections; a thread that falls behind sends at once (the lag is recorded)."""
    run = Run(rate, threads=threads)
    lock = threading.Lock()
    pending = iter(range(len(payloads)))
    start = time.monotonic() + 0.1
    deadline = start + len(payloads) / rate + 120

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=POST_TIMEOUT)
        while True:
            with lock:
                index = next(pending, None)
            if index is None or time.monotonic() > deadline:
                break
            due = start + index / rate
            time.sleep(max(0.0, due - time.monotonic()))
            address, body = payloads[index]
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {keys[index % len(keys)]}",
            }
            sent = time.monotonic()
            try:
                connection.request("POST", "/api/v1/leads", body, headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                with lock:
                    run.failures.append(f"{address}: {error!r}")
                continue
            returned = time.time()
            with lock:
                run.posted.append(
                    Posted(address, response.status, returned, time.monotonic() - sent, sent - due)
                )
        connection.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=len(payloads) / rate + 180)
    return run


def wait_for_acks(inbox: Inbox, emails: set[str], timeout: float) -> float:
    """Until every one of `emails` has had a message, or `timeout` seconds; returns the wait."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if emails <= inbox.first_to().keys():
            break
        time.sleep(0.05)
    return time.monotonic() - started


def read_leads_child() -> None:
    """Print every lead's email, assigned_at and acknowledged_at (epoch seconds), owner,
    quality and scored_at as JSON: the benchmark reads the database through this child."""
    import django

    django.setup()
    from leadloop.core.models import Lead

    def epoch(moment: datetime | None) -> float | None:
        return moment.timestamp() if moment else None

    rows = [
        [lead.email.lower(), epoch(lead.assigned_at), epoch(lead.acknowledged_at),
         lead.owner.username if lead.owner else None, lead.quality, epoch(lead.scored_at)]
        for lead in Lead.objects.select_related("owner")
    ]  # fmt: skip
    print(json.dumps(rows))


def setup_child() -> None:
    """Build the cast in the installation the environment names; print the source keys."""
    import django

    django.setup()
    from django.utils import timezone

    print(json.dumps(build_cast(timezone.now())))


def percentile(values: list[float], p: float) -> float:
    """Nearest rank, as load.RunResult's."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def report(run: Run, leads: dict[str, list], inbox: Inbox, out, save: str = "") -> bool:
    """The run's table; True when every lead was acknowledged and owned and p99 < target."""
    acks = inbox.first_to()
    created = [p for p in run.posted if p.status == 201]
    speed, assigned, scored, after_score, acked, missing = [], [], [], [], [], []
    for posted in created:
        row = leads.get(posted.email)
        ack = acks.get(posted.email)
        assigned_at = row[1] if row else None
        if ack is None or assigned_at is None:
            missing.append(posted.email)
            continue
        speed.append(max(ack, assigned_at) - posted.returned_at)
        assigned.append(assigned_at - posted.returned_at)
        acked.append(ack - assigned_at)
        if row[5] is not None:
            scored.append(row[5] - posted.returned_at)
            after_score.append(assigned_at - row[5])
    statuses = Counter(p.status for p in run.posted)
    print(
        f"\n  at {run.rate:g} leads/s from {run.threads} client threads: {len(run.posted):,} "
        f"POSTs ({dict(statuses)}), {len(run.failures)} failed; sent behind schedule by p99 "
        f"{1000 * percentile([p.lag for p in run.posted], 99):.0f} ms; CPU: server "
        f"{run.server_cpu / max(1, len(run.posted)) * 1000:.1f} ms a lead, elsewhere on the "
        f"machine {100 * run.elsewhere:.0f}%",
        file=out,
    )
    print(f"  {'seconds':<48}{'p50':>8}{'p99':>8}{'max':>8}{'n':>7}", file=out)
    for label, values in [
        ("POST /api/v1/leads (latency)", [p.latency for p in created]),
        ("POST returned -> owner assigned", assigned),
        ("  of which: POST returned -> scored", scored),
        ("            scored -> owner assigned", after_score),
        ("owner assigned -> acknowledgement accepted", acked),
        ("speed to lead: max(ack, assigned) - POST returned", speed),
    ]:
        print(
            f"  {label:<48}{percentile(values, 50):>8.3f}{percentile(values, 99):>8.3f}"
            f"{max(values, default=float('nan')):>8.3f}{len(values):>7,}",
            file=out,
        )
    p99 = percentile(speed, 99)
    verdict = "meets" if p99 < TARGET_P99 else "misses"
    print(
        f"  no acknowledgement or no owner within {ACK_TIMEOUT:.0f} s: {len(missing)}; "
        f"last acknowledgement {run.drained:.1f} s after the last POST "
        f"({len(created) / run.wall:.0f} leads/s acknowledged over the run)",
        file=out,
    )
    print(f"  p99 {p99:.3f} s {verdict} the {TARGET_P99:g} s target", file=out)
    for address in missing[:3]:
        print(f"    missing: {address} {leads.get(address)}", file=out)
    if save:
        rows = [[p.email, p.returned_at, acks.get(p.email), leads.get(p.email)] for p in created]
        Path(f"{save}.{run.rate:g}.json").write_text(json.dumps(rows))
    return not missing and not run.failures and len(created) == len(run.posted) and p99 < 1


def speed_to_lead(options: "Options", database_url: str | None, out) -> bool:
    from leadloop.bench.quality import _env
    from leadloop.bench.server import Server, mailing_env, run_leadloop

    home = Path(tempfile.mkdtemp(prefix="leadloop-bench-routing-"))
    try:
        with smtp_server() as (inbox, smtp_port):
            env = mailing_env(_env(home, database_url), smtp_port)
            run_leadloop(env, "migrate", "--verbosity", "0")
            keys = list(json.loads(run_child("routing", env, "setup")).values())
            server = Server(env, home / "serve.log", worker=True)
            with server:
                return _speed_runs(server, keys, inbox, options, env, out)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _speed_runs(server, keys: list[str], inbox: Inbox, options: "Options", env, out) -> bool:
    from leadloop.bench.capture import machine_cpu_seconds, wait_for_quiet

    engine = "PostgreSQL" if "DATABASE_URL" in env else "SQLite"
    print(
        f"\nSpeed to lead, {engine}: `leadloop serve` (gunicorn + its worker, which polls "
        f"every 0.2 s), SMTP on loopback; {options.leads:,} leads per run",
        file=out,
    )
    warm = _payloads(10**6, WARMUP_LEADS)
    post_paced(server.port, keys, warm, options.rate, options.threads)
    wait_for_acks(inbox, {address for address, _ in warm}, ACK_TIMEOUT)
    rates = [options.rate] + ([options.fast_rate] if options.fast_rate else [])
    runs = []
    for number, rate in enumerate(rates):
        payloads = _payloads(number * options.leads, options.leads)
        # One thread keeps ~10 leads/s to schedule with room for a slow answer.
        threads = max(options.threads, int(rate // 10))
        if options.wait_quiet:
            background = wait_for_quiet(options.wait_quiet)
            print(f"\n  background load before {rate:g}/s: {100 * background:.0f}%", file=out)
        cpu = server.cpu_seconds(), time.process_time(), machine_cpu_seconds()
        started = time.monotonic()
        run = post_paced(server.port, keys, payloads, rate, threads)
        run.drained = wait_for_acks(
            inbox, {p.email for p in run.posted if p.status == 201}, ACK_TIMEOUT
        )
        run.wall = time.monotonic() - started
        run.server_cpu, run.client_cpu, run.machine_cpu = (
            after - before
            for after, before in zip(
                (server.cpu_seconds(), time.process_time(), machine_cpu_seconds()), cpu, strict=True
            )
        )
        runs.append(run)
        time.sleep(1.0)  # the owner notices sent after the last acknowledgement
    leads = {row[0]: row for row in json.loads(run_child("routing", env, "read"))}
    ok = True
    for run in runs:
        ok &= report(run, leads, inbox, out, options.save)
    owner_notices = sum(1 for _, _, subject in inbox.accepted if subject.startswith("New lead:"))
    posted = sum(len(run.posted) for run in runs) + len(warm)
    log = server.log_text()
    print(
        f"\n  owner notices (New lead: ...) received: {owner_notices:,} for {posted:,} leads "
        f"posted (warm-up incl.); SMTP messages in all: {len(inbox.accepted):,}; "
        f"tracebacks in the server log: {log.count('Traceback')}, "
        f"'database is locked': {log.count('database is locked')}",
        file=out,
    )
    return ok


# --------------------------------------------------------------------------------------------
# The command


@dataclass(frozen=True)
class Options:
    leads: int = DEFAULT_LEADS
    decisions: int = DEFAULT_DECISIONS
    existing: int = DEFAULT_EXISTING
    rate: float = DEFAULT_RATE
    fast_rate: float = DEFAULT_FAST_RATE
    threads: int = CLIENT_THREADS
    postgres: bool = False
    postgres_url: str = DEFAULT_POSTGRES
    skip_decisions: bool = False
    skip_speed: bool = False
    save: str = ""
    wait_quiet: float = 0.0


def run(options: Options, out=sys.stdout) -> bool:
    from leadloop.bench.capture import postgres_database
    from leadloop.bench.quality import _env, _home

    print(
        f"leadloop routing benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        file=out,
    )
    ok = True
    databases: list[str | None] = [None] + ([options.postgres_url] if options.postgres else [])
    for base in databases:
        database = postgres_database(base) if base else _nothing()
        if not options.skip_decisions:
            with _home() as home, database as database_url:
                args = ["decisions", str(options.decisions), str(options.existing)]
                ok &= stream_child("routing", args, _env(home, database_url), out)
            database = postgres_database(base) if base else _nothing()
        if not options.skip_speed:
            with database as database_url:
                ok &= speed_to_lead(options, database_url, out)
    return ok


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--leads", type=int, default=DEFAULT_LEADS, help="leads per speed-to-lead run (1,000)"
    )
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help="arrival rate, leads/s (20)"
    )
    parser.add_argument(
        "--fast-rate",
        type=float,
        default=DEFAULT_FAST_RATE,
        help="a second run at this rate (100; 0 for none)",
    )
    parser.add_argument(
        "--threads", type=int, default=CLIENT_THREADS, help="client threads posting (4)"
    )
    parser.add_argument(
        "--decisions", type=int, default=DEFAULT_DECISIONS, help="timed decisions (2,000)"
    )
    parser.add_argument(
        "--existing", type=int, default=DEFAULT_EXISTING, help="leads already owned (10,000)"
    )
    parser.add_argument("--no-decisions", action="store_true", help="skip the decision timing")
    parser.add_argument("--no-speed", action="store_true", help="skip speed to lead")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each speed run, wait up to this long for other work on the machine to stop",
    )
    parser.add_argument(
        "--save", metavar="PREFIX", help="write each lead's times to PREFIX.<rate>.json"
    )
    parser.add_argument(
        "--postgres", action="store_true", help="also on a fresh PostgreSQL database"
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="server, no database")


def run_from_options(options: dict) -> bool:
    """Run with the options `add_arguments` parsed (from argparse or the management command)."""
    return run(
        Options(
            leads=options["leads"],
            decisions=options["decisions"],
            existing=options["existing"],
            rate=options["rate"],
            fast_rate=options["fast_rate"],
            threads=options["threads"],
            postgres=options["postgres"],
            postgres_url=options["postgres_url"].rstrip("/"),
            skip_decisions=options["no_decisions"],
            skip_speed=options["no_speed"],
            save=options["save"] or "",
            wait_quiet=options["wait_quiet"],
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    started = time.monotonic()
    ok = run_from_options(vars(parser.parse_args(argv)))
    print(f"  ({time.monotonic() - started:.0f} s)")
    return 0 if ok else 1


def child_main(argv: list[str]) -> int:
    if argv[0] == "decisions":
        return 0 if decisions_child(int(argv[1]), int(argv[2])) else 1
    if argv[0] == "setup":
        setup_child()
    elif argv[0] == "read":
        read_leads_child()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child_main(sys.argv[2:]))
    sys.exit(main())
