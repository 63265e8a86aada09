"""The sales workspace benchmark: `leadloop bench crm`.

Server time of the two pages a sales team lives in, on a throw-away installation (a fresh
LEADLOOP_HOME; with --postgres also a fresh PostgreSQL database, dropped afterwards). A child
process:

1. migrates, signs an admin in with Django's test Client (in process: the figures are the
   server's work, without a network or a WSGI server around it);
2. times the floor: GET /healthz through the same client (a request that runs one SELECT 1);
3. loads open deals (each with its lead; a third at a company; five owners, three sources) with
   bulk_create, in two steps (default 1,000 then 10,000 deals), and at each size times the
   pipeline board (`crm:board`) and counts its queries (target: under 300 ms at 10,000 on
   SQLite; the query count must not grow);
4. does the same for one lead's page (`crm:lead`) with its timeline at 100 then 1,000 events
   (target: under 200 ms at 1,000 on SQLite).

Each figure is the median and p95 of `--requests` requests after three warm-up requests.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from leadloop.bench.capture import postgres_database
from leadloop.bench.quality import DEFAULT_POSTGRES, FIRST, LAST, _env, _home, mix
from leadloop.bench.server import stream_child

DEFAULT_DEALS = (1_000, 10_000)
DEFAULT_EVENTS = (100, 1_000)
DEFAULT_REQUESTS = 20
WARM_UP = 3
BOARD_TARGET_MS = 300.0
LEAD_TARGET_MS = 200.0
BATCH = 2_000
NOW = datetime.now(UTC)
EVENT_TYPES = [
    ("page.viewed", {"path": "/pricing"}),
    ("page.viewed", {"path": "/blog/spring-cleaning"}),
    ("email.opened", {"campaign": "spring-1"}),
    ("email.clicked", {"campaign": "spring-1", "url": "/pricing"}),
    ("note.added", {"body": "Called: wants a quote for the second floor too."}),
    ("form.submitted", {"kind": "quote_request"}),
]


class Timing:
    """One page at one data size: its query count and its server time in milliseconds."""

    def __init__(self, label: str, size: str, queries: int, samples: list[float]):
        self.label, self.size, self.queries = label, size, queries
        self.median = statistics.median(samples)
        self.p95 = sorted(samples)[max(0, round(0.95 * len(samples)) - 1)]

    def line(self, target: float | None = None) -> str:
        verdict = ""
        if target is not None:
            verdict = f"{'meets' if self.p95 < target else 'MISSES'} < {target:.0f} ms"
        return (
            f"  {self.label:<26}{self.size:>14}{self.queries:>9}"
            f"{self.median:>11.1f}{self.p95:>9.1f}  {verdict}"
        )


def measure(client, url: str, label: str, size: str, requests: int) -> Timing:
    """Warm up, count one request's queries, then time `requests` requests."""
    from django.db import connection

    for _ in range(WARM_UP):
        _get(client, url)
    queries: list[str] = []

    def counted(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    # An execute wrapper sees every statement whatever DEBUG says (the query log is off with
    # DEBUG off, and each request's start empties it).
    with connection.execute_wrapper(counted):
        _get(client, url)
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        _get(client, url)
        samples.append((time.perf_counter() - started) * 1000)
    return Timing(label, size, len(queries), samples)


def _get(client, url: str) -> None:
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    # A streamed or lazily rendered body is part of the server's work.
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)


def people() -> list:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from leadloop.crm.access import Role

    reps = Group.objects.get(name=Role.REP)
    users = []
    for first in ("Rita", "Sam", "Priya", "Tom", "Olga"):
        user = get_user_model().objects.create_user(first.lower(), first_name=first)
        user.groups.add(reps)
        users.append(user)
    return users


def add_deals(start: int, stop: int, owners: list, sources: list) -> None:
    """Open deals number start..stop-1 with a lead each, spread over the open stages and the
    last 180 days; a third of the leads at a company. bulk_create, BATCH rows a statement."""
    from leadloop.core.models import Company, Lead
    from leadloop.crm.models import Deal, Pipeline

    pipeline = Pipeline.objects.first()
    stages = list(pipeline.stages.filter(outcome="open"))
    for batch_start in range(start, stop, BATCH):
        numbers = range(batch_start, min(stop, batch_start + BATCH))
        companies = Company.objects.bulk_create(
            [Company(name=f"{LAST[mix(n) % len(LAST)]} {n} Ltd") for n in numbers if n % 3 == 0]
        )
        company_of = dict(zip([n for n in numbers if n % 3 == 0], companies, strict=True))
        leads = Lead.objects.bulk_create(
            [
                Lead(
                    first_name=FIRST[mix(n) % len(FIRST)],
                    last_name=LAST[(mix(n) >> 8) % len(LAST)],
                    email=f"lead{n}@customers.example",
                    company=company_of.get(n),
                    owner=owners[n % len(owners)],
                    source=sources[n % len(sources)],
                    score=mix(n) % 100,
                )
                for n in numbers
            ]
        )
        Deal.objects.bulk_create(
            [
                Deal(
                    lead=lead,
                    pipeline=pipeline,
                    stage=stages[mix(n) % len(stages)],
                    title=f"Cleaning contract {n}",
                    value=Decimal(200 + mix(n) % 20_000),
                    owner=lead.owner,
                    position=float(n),
                    created_at=NOW - timedelta(minutes=mix(n) % (180 * 24 * 60)),
                    last_activity_at=NOW - timedelta(minutes=(mix(n) >> 4) % (40 * 24 * 60)),
                )
                for n, lead in zip(numbers, leads, strict=True)
            ]
        )


def add_events(lead, start: int, stop: int) -> None:
    from leadloop.core.models import Event

    Event.objects.bulk_create(
        [
            Event(
                lead=lead,
                type=EVENT_TYPES[n % len(EVENT_TYPES)][0],
                data=EVENT_TYPES[n % len(EVENT_TYPES)][1],
                occurred_at=NOW - timedelta(minutes=7 * n),
                actor="bench",
            )
            for n in range(start, stop)
        ],
        batch_size=BATCH,
    )


def lead_page_url(lead_pk: int) -> str | None:
    """The lead page's URL, or None while that page is not built."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("crm:lead", args=[lead_pk])
    except NoReverseMatch:
        return None


def stepped(sizes: tuple[int, ...], grow: Callable[[int, int], None]):
    """Grow the data to each size in turn, yielding the size once it is there."""
    done = 0
    for size in sizes:
        grow(done, size)
        done = size
        yield size


def child(deals: tuple[int, ...], events: tuple[int, ...], requests: int) -> bool:
    """The benchmark itself, in a process whose settings name the throw-away installation."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from leadloop.core.models import Lead, Source
    from leadloop.crm.models import Deal, Pipeline, Stage

    call_command("migrate", verbosity=0)
    postgres = connection.vendor == "postgresql"
    admin = get_user_model().objects.create_superuser("bench", "bench@team.example", "unused")
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)
    owners = people()
    sources = [
        Source.objects.create(name=name, slug=name.lower()) for name in ("Ads", "SEO", "Partner")
    ]

    print(
        f"\nSales workspace pages, {'PostgreSQL' if postgres else 'SQLite'}: median and p95 of "
        f"{requests} requests (in-process test client, after {WARM_UP} warm-up requests)"
    )
    print(f"  {'page':<26}{'data':>14}{'queries':>9}{'median ms':>11}{'p95 ms':>9}")
    print(measure(client, "/healthz", "floor: GET /healthz", "", requests).line())
    board_url = reverse("crm:board")
    for size in stepped(deals, lambda done, size: add_deals(done, size, owners, sources)):
        timing = measure(client, board_url, "pipeline board", f"{size:,} deals", requests)
        print(timing.line(BOARD_TARGET_MS if size == deals[-1] and not postgres else None))
    lead = Lead.objects.create(
        first_name="Grace",
        last_name="Hopper",
        email="grace@bench.example",
        owner=owners[0],
        source=sources[0],
        first_touch={"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring"},
    )
    # A lead as capture leaves it (its first touch) with an open deal, as sales sees it.
    Deal.objects.create(
        lead=lead, pipeline=Pipeline.objects.first(), stage=Stage.objects.first(), title="Offices"
    )
    url = lead_page_url(lead.pk)
    if url is None:
        print("  lead page: not measured, the crm:lead page is not installed")
        return True
    for size in stepped(events, lambda done, size: add_events(lead, done, size)):
        timing = measure(client, url, "lead page", f"{size:,} events", requests)
        print(timing.line(LEAD_TARGET_MS if size == events[-1] and not postgres else None))
    return True


def run(
    deals: tuple[int, ...],
    events: tuple[int, ...],
    requests: int,
    postgres: bool,
    postgres_url: str,
    out=sys.stdout,
) -> bool:
    print(
        f"leadloop crm benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        file=out,
    )
    args = ["--deals", _joined(deals), "--events", _joined(events), "--requests", str(requests)]
    with _home() as home:
        ok = stream_child("crm", args, _env(home, None), out)
    if postgres:
        with _home() as home, postgres_database(postgres_url) as database_url:
            ok &= stream_child("crm", args, _env(home, database_url), out)
    return ok


def _joined(sizes: tuple[int, ...]) -> str:
    return ",".join(str(size) for size in sizes)


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(sorted(int(part) for part in str(text).split(",")))
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes are positive whole numbers, comma-separated")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--deals", type=_sizes, default=DEFAULT_DEALS, help="open deal counts (1000,10000)"
    )
    parser.add_argument(
        "--events", type=_sizes, default=DEFAULT_EVENTS, help="a lead's event counts (100,1000)"
    )
    parser.add_argument(
        "--requests", type=int, default=DEFAULT_REQUESTS, help="timed requests a figure (20)"
    )
    parser.add_argument(
        "--postgres", action="store_true", help="also on a fresh PostgreSQL database"
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="server, no database")


def run_from_options(options: dict) -> bool:
    """Run with the options `add_arguments` parsed (from argparse or the management command)."""
    return run(
        options["deals"],
        options["events"],
        options["requests"],
        options["postgres"],
        options["postgres_url"].rstrip("/"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return 0 if run_from_options(vars(parser.parse_args(argv))) else 1


def child_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=_sizes, default=DEFAULT_DEALS)
    parser.add_argument("--events", type=_sizes, default=DEFAULT_EVENTS)
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS)
    args = parser.parse_args(argv)
    return 0 if child(args.deals, args.events, args.requests) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child_main(sys.argv[2:]))
    sys.exit(main())
