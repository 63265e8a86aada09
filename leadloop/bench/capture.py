"""The capture benchmark: `leadloop bench capture` and `python benchmarks/capture.py`.

It builds a throw-away installation (a fresh LEADLOOP_HOME, and with --postgres a fresh database
that is dropped afterwards), starts the real server (`leadloop serve --no-worker`, gunicorn) and
drives POST /api/v1/leads with unique, realistic leads at each concurrency. Beside every figure
it measures the FLOOR: the same server answering POST /bench/floor, one raw insert per request,
so the ratio says how much the capture path costs over the stack itself.
"""

import argparse
import functools
import os
import random
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import phonenumbers

from leadloop.bench import load
from leadloop.bench.dns import start_dns
from leadloop.bench.server import Server, add_source, process_cpu_seconds, run_leadloop

DEFAULT_REQUESTS = 3000
DEFAULT_CONCURRENCY = "16,64"
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432"
WARMUP_REQUESTS = 300  # imports, URL resolver and connection set-up in every gunicorn worker
RUN_TIME_LIMIT = 300.0  # per run: a stuck server makes errors, not a hung benchmark

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "John",
    "Radia",
    "Tim",
    "Hedy",
    "Linus",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Backus",
    "Perlman",
]
COMPANY_WORDS = [
    "Clean",
    "Bright",
    "Swift",
    "Prime",
    "Urban",
    "Coastal",
    "Summit",
    "Harbor",
    "Maple",
    "Granite",
    "Cedar",
]
COMPANY_KINDS = [
    "Cleaning",
    "Services",
    "Facilities",
    "Properties",
    "Dental",
    "Realty",
    "Logistics",
    "Studios",
]
AREA_CODES = [212, 213, 303, 305, 312, 404, 415, 503, 512, 602, 617, 702, 713, 206, 314, 412]
SERVICES = ["deep clean", "regular clean", "move-out clean", "office clean", "carpet clean"]
UTM = [("google", "cpc"), ("facebook", "paid_social"), ("newsletter", "email"), ("bing", "cpc")]


def lead_payload(index: int, rng: random.Random) -> dict:
    """A lead as a partner feed posts it; the email and phone are unique to `index`."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    # Most leads work somewhere already known (a repeat company), some at a new one.
    company = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)}"
    if rng.random() < 0.3:
        company += f" {index}"
    source, medium = rng.choice(UTM)
    return {
        "email": f"{first}.{last}.{index}@{last.lower()}-mail.example".lower(),
        "phone": unique_phone(index),
        "first_name": first,
        "last_name": last,
        "company": company,
        "fields": {
            "service": rng.choice(SERVICES),
            "budget": rng.choice([150, 250, 400, 800, 1500]),
            "bedrooms": rng.randint(1, 6),
            "notes": "Two dogs; the side gate code is 4411.",
        },
        "consent": {
            "email": {"granted": True, "wording": "I agree to receive emails about my quote."},
            "sms": rng.random() < 0.6,
        },
        "tracking": {
            "utm_source": source,
            "utm_medium": medium,
            "utm_campaign": f"spring-{rng.randint(1, 9)}",
            "gclid": secrets.token_hex(12),
            "landing_page": f"https://cleanpro.example/quote?ref={index}",
        },
    }


def unique_phone(index: int) -> str:
    """A valid US number that no other index gets."""
    exchanges = _valid_exchanges()
    area, exchange = exchanges[index % len(exchanges)]
    return f"+1 {area} {exchange} {index // len(exchanges) % 10000:04d}"


@functools.cache
def _valid_exchanges() -> list[tuple[int, int]]:
    """The (area code, exchange) pairs phonenumbers accepts (it rejects 211, 555-01xx...)."""
    return [
        (area, exchange)
        for area in AREA_CODES
        for exchange in range(201, 1000)
        if phonenumbers.is_valid_number(phonenumbers.parse(f"+1 {area} {exchange} 1234"))
    ]


def lead_requests(host: str, key: str, count: int, start: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed + start)
    headers = {"Authorization": f"Bearer {key}"}
    return [
        load.json_post("/api/v1/leads", host, lead_payload(start + i, rng), headers)
        for i in range(count)
    ]


def floor_requests(host: str, count: int) -> list[bytes]:
    return [load.build_request("POST", "/bench/floor", host)] * count


@contextmanager
def postgres_database(base_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one run, dropped afterwards whatever happens."""
    import psycopg

    name = f"leadloop_bench_{secrets.token_hex(4)}"
    with psycopg.connect(f"{base_url}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base_url}/{name}"
    finally:
        with psycopg.connect(f"{base_url}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settle_check(env: dict[str, str]) -> str:
    """What the database holds after the runs: leads, and submissions not settled (should be 0)."""
    code = (
        "from leadloop.core.models import Lead;"
        "from leadloop.capture.models import Submission, SubmissionStatus as S;"
        "print(Lead.objects.count(),"
        " Submission.objects.exclude(status__in=[S.ACCEPTED, S.MERGED]).count())"
    )
    leads, unsettled = run_leadloop(env, "shell", "-c", code).strip().splitlines()[-1].split()
    return f"{leads} leads stored, {unsettled} submissions not settled"


@dataclass
class Measured:
    """A run and the CPU it cost: the server's, PostgreSQL's, and what the rest of the machine
    used meanwhile (another job on a shared machine shows up there, not as a slower server)."""

    result: load.RunResult
    server_cpu: float
    database_cpu: float
    machine_cpu: float

    @property
    def server_ms_per_request(self) -> float:
        return 1000 * self.server_cpu / self.result.requests

    @property
    def database_ms_per_request(self) -> float:
        return 1000 * self.database_cpu / self.result.requests

    @property
    def elsewhere(self) -> float:
        """CPU used by neither the server, its database nor the load generator, as a share
        of the machine."""
        result = self.result
        ours = self.server_cpu + self.database_cpu + result.client_cpu
        return max(0.0, (self.machine_cpu - ours) / (result.wall * (os.cpu_count() or 1)))


def postgres_cpu_seconds() -> float:
    return process_cpu_seconds(lambda name, session: name == "postgres")


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine (all CPUs, /proc/stat: everything but idle/iowait)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


QUIET = 0.10  # background CPU below this share of the machine counts as quiet


def background_load(seconds: float = 2.0) -> float:
    """The share of the machine busy while our server idles: someone else's work."""
    before = machine_cpu_seconds()
    time.sleep(seconds)
    return (machine_cpu_seconds() - before) / (seconds * (os.cpu_count() or 1))


def wait_for_quiet(limit: float) -> float:
    """On a shared machine, wait (up to `limit` seconds) until nobody else is busy."""
    deadline = time.monotonic() + limit
    load = background_load()
    while load > QUIET and time.monotonic() < deadline:
        load = background_load()
    return load


def measured_drive(
    server: Server, requests: list[bytes], concurrency: int, postgres: bool = False
) -> Measured:
    def cpu() -> tuple[float, float, float]:
        database = postgres_cpu_seconds() if postgres else 0.0
        return server.cpu_seconds(), database, machine_cpu_seconds()

    before = cpu()
    result = load.drive(server.url, requests, concurrency, RUN_TIME_LIMIT)
    after = cpu()
    return Measured(result, *(a - b for a, b in zip(after, before, strict=True)))


COLUMNS = (
    f"  {'':<22}{'req/s':>7}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'errors':>7}"
    f"{'CPU/req: server':>17}{'database':>10}{'client CPU':>11}{'elsewhere':>10}"
)


def row(label: str, run: Measured) -> str:
    result = run.result
    database = f"{run.database_ms_per_request:.2f} ms" if run.database_cpu else "-"
    return (
        f"  {label:<22}{result.rate:>7.0f}{result.percentile(50):>8.1f}"
        f"{result.percentile(99):>8.1f}{result.max_ms:>8.1f}{result.errors:>7}"
        f"{run.server_ms_per_request:>14.2f} ms{database:>10}"
        f"{100 * result.client_cpu / result.wall:>10.0f}%{100 * run.elsewhere:>9.0f}%"
    )


@dataclass(frozen=True)
class Options:
    requests: int = DEFAULT_REQUESTS
    concurrency: tuple[int, ...] = (16, 64)
    postgres: bool = False
    postgres_url: str = DEFAULT_POSTGRES
    workers: int | None = None
    threads: int | None = None
    check_client: bool = False
    wait_quiet: float = 0.0


def run(options: Options, out=sys.stdout) -> bool:
    """Run the benchmark and print its table; True when every request succeeded."""
    home = Path(tempfile.mkdtemp(prefix="leadloop-bench-"))
    database = postgres_database(options.postgres_url) if options.postgres else _nothing()
    dns_server, _, dns_address = start_dns()
    try:
        with database as database_url:
            env = {
                **os.environ,
                "LEADLOOP_HOME": str(home),
                # Every lead's email domain is checked (issue 3): against a DNS server of ours.
                "LEADLOOP_DNS": dns_address,
                "LEADLOOP_BENCH_FLOOR": "1",
                "LEADLOOP_ADMIN_PASSWORD": secrets.token_urlsafe(12),
                "DEBUG": "0",
            }
            env.pop("DATABASE_URL", None)
            if database_url:
                env["DATABASE_URL"] = database_url
            return _run(options, env, home, out)
    finally:
        dns_server.stop()
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def _run(options: Options, env: dict[str, str], home: Path, out) -> bool:
    run_leadloop(env, "migrate", "--verbosity", "0")
    key = add_source(env, "Benchmark feed")
    server = Server(env, home / "serve.log", workers=options.workers, threads=options.threads)
    ok = True
    with server:
        host = f"127.0.0.1:{server.port}"
        engine = "PostgreSQL" if options.postgres else "SQLite"
        print(
            f"leadloop capture benchmark: {engine}, gunicorn {_shape(server)}, "
            f"{options.requests} requests per run, {os.cpu_count()} CPUs, loopback",
            file=out,
        )
        load.drive(server.url, lead_requests(host, key, WARMUP_REQUESTS, 10**7), 16)
        load.drive(server.url, floor_requests(host, WARMUP_REQUESTS), 16)
        print(COLUMNS, file=out)
        sent = 0
        for level in options.concurrency:
            if options.wait_quiet:
                background = wait_for_quiet(options.wait_quiet)
                print(f"  background load before c{level}: {100 * background:.0f}%", file=out)
            leads_in = lead_requests(host, key, options.requests, sent)
            sent += options.requests
            leads = measured_drive(server, leads_in, level, options.postgres)
            floor_in = floor_requests(host, options.requests)
            floor = measured_drive(server, floor_in, level, options.postgres)
            print(row(f"c{level} POST /api/v1/leads", leads), file=out)
            print(row(f"c{level} floor", floor), file=out)
            ratio = leads.result.rate / floor.result.rate
            print(f"  {'':<22}ratio leads/s ÷ floor/s = {ratio:.2f}", file=out)
            if options.check_client:
                wrk = load.wrk_rate(f"{server.url}/bench/floor", level)
                if wrk is not None:
                    print(f"  {'':<22}wrk on the floor: {wrk:.0f} req/s", file=out)
            for sample in leads.result.samples + floor.result.samples:
                print(f"    error sample: {sample}", file=out)
            ok = ok and leads.result.errors == 0 and floor.result.errors == 0
        locked = len(re.findall("database is locked", server.log_text()))
    print(f"  {settle_check(env)}; 'database is locked' in the server log: {locked}", file=out)
    return ok and locked == 0


def _shape(server: Server) -> str:
    from leadloop.core.management.commands.serve import DEFAULT_THREADS, DEFAULT_WORKERS

    workers = server.workers or int(server.env.get("WEB_WORKERS", DEFAULT_WORKERS))
    threads = server.threads or int(server.env.get("WEB_THREADS", DEFAULT_THREADS))
    return f"{workers} workers x {threads} threads"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--requests", type=int, default=DEFAULT_REQUESTS, help="requests per run (default 3000)"
    )
    parser.add_argument(
        "--concurrency", default=DEFAULT_CONCURRENCY, help="comma-separated levels (16,64)"
    )
    parser.add_argument(
        "--postgres", action="store_true", help="run on a fresh PostgreSQL database"
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="server, no database")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: serve's)")
    parser.add_argument("--threads", type=int, help="threads per worker (default: serve's)")
    parser.add_argument(
        "--check-client", action="store_true", help="also measure the floor with wrk"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each level, wait up to this long for other work on the machine to stop",
    )


def run_from_options(options: dict) -> bool:
    """Run with the options `add_arguments` parsed (from argparse or the management command)."""
    return run(
        Options(
            requests=options["requests"],
            concurrency=tuple(int(c) for c in str(options["concurrency"]).split(",")),
            postgres=options["postgres"],
            postgres_url=options["postgres_url"].rstrip("/"),
            workers=options["workers"],
            threads=options["threads"],
            check_client=options["check_client"],
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
