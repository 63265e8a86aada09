"""The nurture benchmark: `leadloop bench nurture` and `python benchmarks/nurture.py`.

Issue 6's figures, each part on a throw-away installation (a fresh LEADLOOP_HOME; with
--postgres a fresh PostgreSQL database, dropped afterwards):

1. Segment evaluation at N leads (default 1,000,000) on SQLite: leads and their events loaded
   as the scoring benchmark loads them (raw executemany), then given stages, scores, countries,
   company sizes and the free-mail signal by set UPDATEs. Three segments (MQLs scoring 40+;
   US or Canada with a pricing page view in the last 30 days; business mail at companies of
   50+) are timed: `count()`, the first `refresh()` (every member joins, with its event), and
   a refresh after 1% of the leads changed. Floor: a plain COUNT of one stage on an index of
   lifecycle_stage (which the benchmark creates: core has no such index yet).
2. Steps per second: N enrollments (default 100,000) in a 3-step workflow (send_email, wait a
   day, set_field), half due at the email, half due after their wait; worker processes each
   call `leadloop.nurture.engine.run_due` until nothing is due. One worker on SQLite; with
   --postgres one and two. The emails are queued in the outbox (its sending is the outbox's
   work, not timed here), so the email backend plays no part.
3. Submission to first step: `leadloop serve` with its worker (gunicorn + the worker's 0.2 s
   pass), an aiosmtpd server on loopback; leads POSTed to /api/v1/leads one after another;
   each lead's time from its POST's answer to the workflow's first email accepted by the SMTP
   server.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from leadloop.bench.quality import DEFAULT_POSTGRES, FREE_MAIL, Population, _env, _home
from leadloop.bench.server import run_child, stream_child

DEFAULT_LEADS = 1_000_000
DEFAULT_ENROLLMENTS = 100_000
DEFAULT_POSTS = 100
TARGET_SECONDS = 10.0  # "evaluates in seconds"
WELCOME = "Welcome to CleanPro"

SEGMENTS = [
    (
        "MQLs scoring 40+",
        {"all": [{"fact": "lifecycle_stage", "op": "equals", "value": "mql"},
                 {"fact": "score", "op": "gte", "value": 40}]},
    ),
    (
        "North America, pricing page in 30 days",
        {"all": [{"fact": "country", "op": "in", "value": ["US", "CA"]},
                 {"event": "page.viewed", "where": {"path": "/pricing"}, "within_days": 30}]},
    ),
    (
        "Business mail, 50+ employees",
        {"all": [{"fact": "free_mail", "op": "equals", "value": False},
                 {"fact": "company_size", "op": "gte", "value": 50}]},
    ),
]  # fmt: skip
STEPS = [
    {"do": "send_email", "subject": "Hello {{ lead.first_name }}",
     "text": "Hi {{ lead.first_name }}, here is our guide: https://cleanpro.example/guide"},
    {"do": "wait", "days": 1},
    {"do": "set_field", "field": "custom_fields.nurtured", "value": True},
]  # fmt: skip


def _sql_list(values: list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


COUNTRY_CASE = (
    "CASE (id * 31) % 20 "
    + " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(
        ["US"] * 10 + ["CA"] * 2 + ["GB", "DE", "FR", "AU", "BR", "MX", "ES", "IE"]))
    + " END"
)  # fmt: skip
SIZE_CASE = (
    "CASE (id * 13) % 10 "
    + " ".join(f"WHEN {i} THEN {s}" for i, s in enumerate([1, 3, 8, 15, 40, 80, 150, 300, 800, 2500]))
    + " END"
)  # fmt: skip
STAGE_CASE = (
    "CASE WHEN id % 100 < 50 THEN 'lead' WHEN id % 100 < 62 THEN 'mql' "
    "WHEN id % 100 < 70 THEN 'sql' WHEN id % 100 < 75 THEN 'customer' "
    "WHEN id % 100 < 88 THEN 'subscriber' ELSE 'recycled' END"
)
FREE_DOMAINS = _sql_list([domain for domain, _ in FREE_MAIL])


def shape_leads(postgres: bool) -> None:
    """Stages, scores, countries (85% typed, the rest from enrichment), company sizes (85%)
    and the free-mail signal from the address, by set UPDATEs."""
    from django.db import connection

    domain = (
        "substr(email, strpos(email, '@') + 1)"
        if postgres
        else ("substr(email, instr(email, '@') + 1)")
    )
    free = f"(email <> '' AND {domain} IN ({FREE_DOMAINS}))"
    if postgres:
        sql = f"""UPDATE core_lead SET lifecycle_stage = {STAGE_CASE},
            score = (id * 7919) % 101,
            custom_fields = custom_fields
              || CASE WHEN (id * 17) % 100 < 85
                 THEN jsonb_build_object('country', {COUNTRY_CASE}) ELSE '{{}}'::jsonb END
              || CASE WHEN (id * 19) % 100 < 85
                 THEN jsonb_build_object('company_size', {SIZE_CASE}) ELSE '{{}}'::jsonb END,
            quality_signals = quality_signals
              || jsonb_build_object('email', jsonb_build_object('free_mail', {free}))"""  # noqa: S608
    else:
        sql = f"""UPDATE core_lead SET lifecycle_stage = {STAGE_CASE},
            score = (id * 7919) % 101,
            custom_fields = json_set(custom_fields,
              '$.country', CASE WHEN (id * 17) % 100 < 85 THEN {COUNTRY_CASE} END,
              '$.company_size', CASE WHEN (id * 19) % 100 < 85 THEN {SIZE_CASE} END),
            quality_signals = json_set(quality_signals, '$.email',
              json_object('free_mail', json(CASE WHEN {free} THEN 'true' ELSE 'false' END)))"""  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        if not postgres:  # json_set wrote null where a key is to be missing: drop those
            cursor.execute(
                "UPDATE core_lead SET custom_fields = json_remove(custom_fields, '$.country') "
                "WHERE json_type(custom_fields, '$.country') = 'null'"
            )
            cursor.execute(
                "UPDATE core_lead SET custom_fields = json_remove(custom_fields, "
                "'$.company_size') WHERE json_type(custom_fields, '$.company_size') = 'null'"
            )
        cursor.execute("CREATE INDEX bench_lead_stage ON core_lead (lifecycle_stage)")
        cursor.execute("ANALYZE core_lead" if postgres else "ANALYZE")


def _load(population: Population, postgres: bool) -> None:
    """Leads and their events as the scoring benchmark loads them. Its loaders name source_id
    twice (quality's LEAD_COLUMNS has it, and so do scoring's EXTRA_COLUMNS), which SQLite lets
    pass and PostgreSQL's COPY refuses: the rows are given the source in its own column here."""
    from django.db import connection

    from leadloop.bench import scoring
    from leadloop.bench.quality import LEAD_COLUMNS, _postgres_url, lead_rows

    if "source_id" in scoring.EXTRA_COLUMNS and "source_id" in LEAD_COLUMNS:
        position = LEAD_COLUMNS.index("source_id")
        scoring.EXTRA_COLUMNS = tuple(c for c in scoring.EXTRA_COLUMNS if c != "source_id")

        def rows(population: Population):
            for row in lead_rows(population, 0, population.leads):
                row = list(row)
                row[position] = scoring.SOURCES[row[0] % len(scoring.SOURCES)][0]
                yield (*row, 0, 0, 0, 0, "[]")

        scoring.lead_rows_with_scores = rows
    if postgres:
        scoring.load_postgres(_postgres_url(), population)
    else:
        scoring.load_sqlite(str(connection.settings_dict["NAME"]), population)


def _timed(function, rounds: int = 1) -> tuple[float, object]:
    """The median of `rounds` timings, and the last result."""
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2], result


def segments_child(leads: int) -> bool:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    from leadloop.core.models import Event, Lead
    from leadloop.nurture import segments
    from leadloop.nurture.models import Segment

    postgres = connection.vendor == "postgresql"
    call_command("migrate", verbosity=0)
    connections.close_all()
    started = time.perf_counter()
    _load(Population(leads), postgres)
    shape_leads(postgres)
    loaded = time.perf_counter() - started
    events = Event.objects.count()
    print(
        f"\nSegments, {'PostgreSQL' if postgres else 'SQLite'}: {leads:,} leads, {events:,} "
        f"events; loaded and shaped in {loaded:.0f} s"
    )
    floor, in_stage = _timed(lambda: Lead.objects.filter(lifecycle_stage="mql").count(), 3)
    print(f"  {'seconds':<46}{'count()':>9}{'1st refresh':>13}{'refresh':>9}{'members':>10}")
    print(f"  {'floor: COUNT of one stage (indexed)':<46}{floor:>9.3f}{'':>22}{in_stage:>10,}")
    ok = True
    worst = 0.0
    for number, (name, condition) in enumerate(SEGMENTS):
        segment = Segment.objects.create(name=name, slug=f"s{number}", condition=condition)
        counted, members = _timed(lambda s=segment: segments.count(s), 3)
        filled, first = _timed(lambda s=segment: segments.refresh(s))
        _touch_one_percent(number)
        again, second = _timed(lambda s=segment: segments.refresh(s))
        ok &= first.joined == members
        worst = max(worst, counted, again)
        print(
            f"  {name:<46}{counted:>9.3f}{filled:>13.1f}{again:>9.3f}{members:>10,}"
            f"   (+{second.joined:,} -{second.left:,})"
        )
    verdict = "meets" if worst < TARGET_SECONDS else "misses"
    print(
        f"  slowest count() or steady refresh {worst:.2f} s ({worst / floor:,.0f}x the floor) "
        f"{verdict} 'in seconds' ({TARGET_SECONDS:.0f} s); the 1st refresh writes a "
        f"segment.joined event (and its delivery) per member"
    )
    return ok


def _touch_one_percent(seed: int) -> None:
    """1% of the leads change score and stage (what a day of scoring does)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE core_lead SET score = (score + 37) % 101, lifecycle_stage = CASE "
            "lifecycle_stage WHEN 'mql' THEN 'sql' ELSE 'mql' END WHERE id % 100 = %s",
            [seed + 1],
        )


# --------------------------------------------------------------------------------------------
# Part 2: steps per second


def steps_child(enrollments: int, workers: int) -> bool:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections
    from django.utils import timezone

    from leadloop.nurture import services
    from leadloop.nurture.models import Enrollment, StepRun, Workflow

    postgres = connection.vendor == "postgresql"
    call_command("migrate", verbosity=0)
    connections.close_all()
    _load(Population(enrollments), postgres)
    with connection.cursor() as cursor:  # the scoring loader loads no companies
        cursor.execute("UPDATE core_lead SET company_id = NULL")
    workflow = Workflow.objects.create(
        name="Guide", trigger={"on": "tag_added", "tag": "guide"}, steps=STEPS, is_active=True
    )
    version = services.publish(workflow)
    now = timezone.now()
    Enrollment.objects.bulk_create(
        (
            Enrollment(
                workflow=workflow,
                version=version,
                lead_id=lead_id,
                position=0 if lead_id % 2 else 2,
                steps_taken=0 if lead_id % 2 else 2,
                due_at=now,
                entered_at=now,
            )
            for lead_id in range(1, enrollments + 1)
        ),
        batch_size=2000,
    )
    connections.close_all()
    go = time.time() + 8.0  # every worker has set Django up by then
    env = {**os.environ}
    command = [sys.executable, "-m", "leadloop.bench.nurture", "--child", "work", str(go)]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)  # noqa: S603
        for _ in range(workers)
    ]
    ends = [float(p.communicate()[0].strip().splitlines()[-1]) for p in processes]
    seconds = max(ends) - go
    steps = StepRun.objects.count()
    left = Enrollment.objects.filter(status="active", due_at__lte=timezone.now()).count()
    engine = "PostgreSQL" if postgres else "SQLite"
    print(
        f"  {engine:<12}{workers:>8}{enrollments:>13,}{steps:>10,}{seconds:>10.1f}"
        f"{steps / seconds:>10,.0f}   (still due: {left})"
    )
    return left == 0 and all(p.returncode == 0 for p in processes)


def work_child(go: float) -> None:
    """One worker: run_due until nothing is due; print when it finished (epoch seconds)."""
    import django

    django.setup()
    from leadloop.nurture import engine
    from leadloop.nurture.models import Enrollment

    Enrollment.objects.exists()  # connected before the clock starts
    time.sleep(max(0.0, go - time.time()))
    while engine.run_due():
        pass
    print(time.time())


# --------------------------------------------------------------------------------------------
# Part 3: submission to the first step


def setup_child() -> None:
    """A form_submitted workflow whose first step is an email; print a source's API key."""
    import django

    django.setup()
    from leadloop.core import services as core
    from leadloop.nurture import services
    from leadloop.nurture.models import Workflow

    workflow = Workflow.objects.create(
        name="Welcome",
        trigger={"on": "form_submitted"},
        steps=[
            {"do": "send_email", "subject": WELCOME, "text": "Hi {{ lead.first_name }}."},
            {"do": "wait", "days": 2},
        ],
        is_active=True,
    )
    services.publish(workflow)
    _, key = core.create_source("Website", channel="organic")
    print(json.dumps(key))


def first_step(posts: int, database_url: str | None, out) -> bool:
    from leadloop.bench.capture import lead_payload
    from leadloop.bench.routing import percentile, smtp_server
    from leadloop.bench.server import Server, mailing_env, run_leadloop

    home = Path(tempfile.mkdtemp(prefix="leadloop-bench-nurture-"))
    try:
        with smtp_server() as (inbox, smtp_port):
            env = mailing_env(_env(home, database_url), smtp_port)
            run_leadloop(env, "migrate", "--verbosity", "0")
            key = json.loads(run_child("nurture", env, "setup"))
            with Server(env, home / "serve.log", worker=True) as server:
                import random

                rng = random.Random(6)
                returned: dict[str, float] = {}
                for index in range(posts + 5):
                    payload = lead_payload(index, rng)
                    request = urllib.request.Request(  # noqa: S310 (our loopback server)
                        f"{server.url}/api/v1/leads",
                        data=json.dumps(payload).encode(),
                        headers={
                            "Content-Type": "application/json",
                            "Authorization": f"Bearer {key}",
                        },
                    )
                    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                        response.read()
                    if index >= 5:  # the first few warm the server up
                        returned[payload["email"].lower()] = time.time()
                    time.sleep(0.3)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    welcomed = {
                        to: at for at, tos, subject in inbox.accepted if subject == WELCOME
                        for to in tos
                    }  # fmt: skip
                    if returned.keys() <= welcomed.keys():
                        break
                    time.sleep(0.1)
                log = server.log_text()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    delays = [welcomed[to] - at for to, at in returned.items() if to in welcomed]
    engine = "PostgreSQL" if database_url else "SQLite"
    print(
        f"\nSubmission to first step, {engine}: `leadloop serve` + its worker, SMTP on "
        f"loopback; {posts} leads posted one every 0.3 s",
        file=out,
    )
    print(f"  {'seconds':<48}{'p50':>8}{'p99':>8}{'max':>8}{'n':>7}", file=out)
    print(
        f"  {'POST returned -> first email accepted':<48}{percentile(delays, 50):>8.3f}"
        f"{percentile(delays, 99):>8.3f}{max(delays, default=float('nan')):>8.3f}"
        f"{len(delays):>7}",
        file=out,
    )
    print(f"  tracebacks in the server log: {log.count('Traceback')}", file=out)
    return len(delays) == posts


def run(options: dict, out=sys.stdout) -> bool:
    from leadloop.bench.capture import postgres_database

    print(
        f"leadloop nurture benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        file=out,
    )
    ok = True
    base = options["postgres_url"].rstrip("/")
    if not options["no_segments"]:
        with _home() as home:
            ok &= stream_child(
                "nurture", ["segments", str(options["leads"])], _env(home, None), out
            )
        if options["postgres"]:
            with _home() as home, postgres_database(base) as url:
                ok &= stream_child(
                    "nurture", ["segments", str(options["leads"])], _env(home, url), out
                )
    if not options["no_steps"]:
        print(
            f"\nSteps per second: {STEPS[0]['do']}, wait 1 day, set_field; half the "
            f"enrollments due at the email, half past the wait; workers call run_due",
            file=out,
        )
        print(
            f"  {'database':<12}{'workers':>8}{'enrollments':>13}{'steps':>10}{'seconds':>10}"
            f"{'steps/s':>10}",
            file=out,
        )
        runs = [(None, 1)] + ([(base, 1), (base, 2)] if options["postgres"] else [])
        for server, workers in runs:
            args = ["steps", str(options["enrollments"]), str(workers)]
            with _home() as home:
                if server is None:
                    ok &= stream_child("nurture", args, _env(home, None), out)
                    continue
                with postgres_database(server) as url:
                    ok &= stream_child("nurture", args, _env(home, url), out)
    if not options["no_first_step"]:
        ok &= first_step(options["posts"], None, out)
        if options["postgres"]:
            with postgres_database(base) as url:
                ok &= first_step(options["posts"], url, out)
    return ok


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--leads", type=int, default=DEFAULT_LEADS, help="for segments (1M)")
    parser.add_argument(
        "--enrollments", type=int, default=DEFAULT_ENROLLMENTS, help="for steps/s (100,000)"
    )
    parser.add_argument("--posts", type=int, default=DEFAULT_POSTS, help="leads posted (100)")
    parser.add_argument("--no-segments", action="store_true", help="skip segment evaluation")
    parser.add_argument("--no-steps", action="store_true", help="skip steps per second")
    parser.add_argument("--no-first-step", action="store_true", help="skip submission to step")
    parser.add_argument(
        "--postgres", action="store_true", help="also on fresh PostgreSQL databases"
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="server, no database")


def run_from_options(options: dict) -> bool:
    return run(options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    started = time.monotonic()
    ok = run_from_options(vars(parser.parse_args(argv)))
    print(f"  ({time.monotonic() - started:.0f} s)")
    return 0 if ok else 1


def child_main(argv: list[str]) -> int:
    if argv[0] == "segments":
        return 0 if segments_child(int(argv[1])) else 1
    if argv[0] == "steps":
        return 0 if steps_child(int(argv[1]), int(argv[2])) else 1
    if argv[0] == "work":
        work_child(float(argv[1]))
    elif argv[0] == "setup":
        setup_child()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child_main(sys.argv[2:]))
    sys.exit(main())
