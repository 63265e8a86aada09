"""The scoring benchmark: `leadloop bench scoring` and `python benchmarks/scoring.py`.

Rescoring every lead after a rule change (issue 4's target: 1,000,000 leads in under 60 s on
SQLite). In a fresh LEADLOOP_HOME (and, with --postgres, a fresh PostgreSQL database, dropped
afterwards), a child process:

1. migrates, and loads N leads (quality.py's population: names, free and business mail, custom
   fields, enrichment, quality) plus 3-5 timeline events each (page views incl. /pricing, email
   opens and clicks, webinar attendance, demo and quote requests, spread over 120 days) with raw
   executemany / COPY, the indexes dropped and rebuilt around the load;
2. creates 15 rules (fit, engagement and intent; negative ones, caps, decay, within_days) and
   the default MQL/SQL definitions;
3. times the floor: every batch's events read with the same query as the job, and a bare
   UPDATE per batch (executemany of the lead's own score), in one transaction per batch;
4. times a full RescoreJob (rescoring.run): leads/s, and seconds against the target.
"""

import argparse
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from leadloop.bench.capture import postgres_database
from leadloop.bench.quality import (
    DEFAULT_POSTGRES,
    LEAD_COLUMNS,
    Population,
    Stages,
    _chunks,
    _env,
    _home,
    lead_rows,
    mix,
)
from leadloop.bench.server import stream_child

DEFAULT_LEADS = 1_000_000
TARGET_SECONDS = 60.0
BATCH_SIZE = 2000  # rescoring.BATCH_SIZE; not imported, as that needs Django set up
SOURCES = [(1, "Google Ads", "paid_search"), (2, "Partner feed", "affiliate"), (3, "News", "email")]
# The extra lead columns the quality loader leaves to Django's defaults (no database defaults).
EXTRA_COLUMNS = (
    "source_id", "score", "score_fit", "score_engagement", "score_intent", "score_drivers",
)  # fmt: skip
EVENT_COLUMNS = ("lead_id", "type", "occurred_at", "data", "actor")
# (type, data): what a lead's timeline holds, the common ones repeated.
EVENT_KINDS = [
    ("page.viewed", '{"path": "/"}'),
    ("page.viewed", '{"path": "/blog/spring-cleaning"}'),
    ("page.viewed", '{"path": "/pricing"}'),
    ("page.viewed", '{"path": "/features"}'),
    ("email.opened", '{"campaign": "spring-1"}'),
    ("email.opened", '{"campaign": "spring-2"}'),
    ("email.clicked", '{"campaign": "spring-1", "url": "/pricing"}'),
    ("webinar.attended", '{"webinar": "office-hygiene"}'),
    ("form.submitted", '{"kind": "quote_request"}'),
    ("form.submitted", '{"kind": "demo_request"}'),
    ("form.submitted", '{"kind": "contact", "question": "Do you clean carpets?"}'),
    ("lead.captured", '{"channel": "form"}'),
]


def _fact(name: str, op: str, value: object = None) -> dict:
    return {"condition": {"fact": name, "op": op, "value": value}}


def _each(event: str, cap: int | None = None, decays: bool = True, **match: object) -> dict:
    return {"per_event": {"event": event, **match}, "cap": cap, "decays": decays}


RULES = [
    ("Budget 1,000+", "fit", 20, _fact("custom_fields.budget", "gte", 1000)),
    ("Office cleaning", "fit", 15, _fact("custom_fields.service", "equals", "office clean")),
    ("Known company", "fit", 10, _fact("enrichment.company_name", "filled")),
    ("US phone", "fit", 5, _fact("enrichment.phone_region", "in", ["US", "CA"])),
    ("Free mail", "fit", -10, _fact("free_mail", "equals", True)),
    ("Partner lead", "fit", 8, _fact("source.channel", "equals", "affiliate")),
    ("Test data", "fit", -100, _fact("quality", "equals", "invalid")),
    ("Page views", "engagement", 2, _each("page.viewed", cap=10)),
    ("Email opens", "engagement", 3, _each("email.opened", cap=12)),
    ("Email clicks", "engagement", 5, _each("email.clicked", cap=15)),
    ("Webinar", "engagement", 10, _each("webinar.attended", cap=20)),
    ("Pricing page", "intent", 8, _each("page.viewed", cap=24, where={"path": "/pricing"})),
    ("Demo request", "intent", 30, _each("form.submitted", 30, where={"kind": "demo_request"})),
    (
        "Quote request",
        "intent",
        25,
        _each("form.submitted", decays=False, where={"kind": "quote_request"}, within_days=60),
    ),
    ("Product question", "intent", 5, _each("form.submitted", 10, where={"kind": "contact"})),
]
NOW = datetime.now(UTC).replace(microsecond=0)


def event_rows(leads: int) -> Iterator[tuple]:
    """3-5 events a lead (4 on average), in the last 120 days, decided by the lead's number."""
    for number in range(leads):
        bits = mix(number + 7_000_000)
        for index in range(3 + bits % 3):
            kind = (bits >> (8 + 4 * index)) % len(EVENT_KINDS)
            age = timedelta(minutes=(bits >> (20 + 3 * index)) % (120 * 24 * 60))
            type_, data = EVENT_KINDS[kind]
            yield number + 1, type_, NOW - age, data, "bench"


def lead_rows_with_scores(population: Population) -> Iterator[tuple]:
    for row in lead_rows(population, 0, population.leads):
        yield (*row, SOURCES[row[0] % len(SOURCES)][0], 0, 0, 0, 0, "[]")


def load_sqlite(path: str, population: Population) -> dict[str, float]:
    """Raw executemany, the lead and event indexes dropped and rebuilt around it."""
    import sqlite3

    stages = Stages()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-400000")
        indexes = [
            sql
            for (sql,) in db.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name IN ('core_lead', 'core_event') AND sql IS NOT NULL"
            )
        ]
        for sql in indexes:
            db.execute("DROP INDEX " + sql.split('"')[1])
        db.executemany(
            "INSERT INTO core_source (id, name, slug, channel, campaign, api_key_hash, "
            "api_key_hint, duplicate_policy, is_active, created_at) "
            "VALUES (?, ?, ?, ?, '', NULL, '', 'update', 1, ?)",
            [(n, name, f"s{n}", channel, str(NOW)[:19]) for n, name, channel in SOURCES],
        )

        def text(value: object) -> object:
            return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value

        columns = (*LEAD_COLUMNS, *EXTRA_COLUMNS)
        insert = (
            f"INSERT INTO core_lead ({', '.join(columns)}) "  # noqa: S608 (our own names)
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        for chunk in _chunks(lead_rows_with_scores(population)):
            db.execute("BEGIN")
            db.executemany(insert, (tuple(map(text, row)) for row in chunk))
            db.execute("COMMIT")
        stages.done("leads")
        insert = f"INSERT INTO core_event ({', '.join(EVENT_COLUMNS)}) "
        insert += "VALUES (?, ?, ?, ?, ?)"
        for chunk in _chunks(event_rows(population.leads), 200_000):
            db.execute("BEGIN")
            db.executemany(insert, (tuple(map(text, row)) for row in chunk))
            db.execute("COMMIT")
        stages.done("events")
        for sql in indexes:
            db.execute(sql)
        stages.done("indexes")
        db.execute("ANALYZE")
        db.execute("PRAGMA journal_mode=WAL")
    finally:
        db.close()
    return stages.seconds


def load_postgres(url: str, population: Population) -> dict[str, float]:
    """COPY, foreign-key triggers skipped (the rows are consistent by construction)."""
    import psycopg

    stages = Stages()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SET session_replication_role = replica")
        db.execute("SET maintenance_work_mem = '256MB'")
        for n, name, channel in SOURCES:
            db.execute(
                "INSERT INTO core_source (id, name, slug, channel, campaign, api_key_hash, "
                "api_key_hint, duplicate_policy, is_active, created_at) "
                "VALUES (%s, %s, %s, %s, '', NULL, '', 'update', true, now())",
                (n, name, f"s{n}", channel),
            )
        columns = ", ".join((*LEAD_COLUMNS, *EXTRA_COLUMNS))
        for chunk in _chunks(lead_rows_with_scores(population)):
            with (
                db.cursor() as cursor,
                cursor.copy(f"COPY core_lead ({columns}) FROM STDIN") as copy,
            ):
                for row in chunk:
                    copy.write_row(row)
        stages.done("leads")
        events = f"COPY core_event ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
        for chunk in _chunks(event_rows(population.leads), 200_000):
            with db.cursor() as cursor, cursor.copy(events) as copy:
                for row in chunk:
                    copy.write_row(row)
        stages.done("events")
        for table in ("core_source", "core_lead", "core_event"):
            db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 (ours)
                f"(SELECT max(id) FROM {table}))"
            )
        db.execute("VACUUM ANALYZE core_lead")
        db.execute("VACUUM ANALYZE core_event")
        stages.done("VACUUM ANALYZE")
    return stages.seconds


def floor(batch_size: int) -> float:
    """Seconds to read every batch's leads and events with the job's own queries and write a
    bare UPDATE per lead (its score unchanged), a transaction per batch: the job without the
    scoring."""
    from django.db import connection, transaction

    from leadloop.scoring.rescoring import read_leads
    from leadloop.scoring.services import read_timelines

    started, after = time.perf_counter(), 0
    while True:
        with transaction.atomic():
            leads = read_leads(after, batch_size)
            if not leads:
                break
            read_timelines(pk_range=(leads[0].pk, leads[-1].pk))
            with connection.cursor() as cursor:
                cursor.executemany(
                    "UPDATE core_lead SET score = %s WHERE id = %s",
                    [(lead.score, lead.pk) for lead in leads],
                )
            after = leads[-1].pk
    return time.perf_counter() - started


def child(leads: int, batch_size: int) -> bool:
    """The benchmark itself, in a process whose settings name the throw-away installation."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    from leadloop.bench.quality import _postgres_url
    from leadloop.core.models import Lead
    from leadloop.scoring import rescoring
    from leadloop.scoring.models import RescoreJob, RescoreStatus, ScoringRule, StageDefinitions

    postgres = connection.vendor == "postgresql"
    call_command("migrate", verbosity=0)
    connections.close_all()
    started = time.perf_counter()
    population = Population(leads)
    if postgres:
        stages = load_postgres(_postgres_url(), population)
    else:
        stages = load_sqlite(str(connection.settings_dict["NAME"]), population)
    loaded = time.perf_counter() - started
    for position, (name, group, points, how) in enumerate(RULES):
        ScoringRule.objects.create(name=name, group=group, points=points, position=position, **how)
    StageDefinitions.current()
    events = _count("core_event")
    print(
        f"\nRescoring, {'PostgreSQL' if postgres else 'SQLite'}: {leads:,} leads, "
        f"{events:,} events ({events / leads:.1f} a lead), {len(RULES)} rules; loaded in "
        f"{loaded:.0f} s (" + ", ".join(f"{s} {t:.0f} s" for s, t in stages.items()) + ")"
    )
    floor_seconds = floor(batch_size)
    job = RescoreJob.objects.create(reason="benchmark", next_attempt_at=None)
    started = time.perf_counter()
    job = rescoring.run(job.pk, batch_size=batch_size)
    seconds = time.perf_counter() - started
    ok = job is not None and job.status == RescoreStatus.DONE and job.processed == leads
    verdict = "meets" if seconds < TARGET_SECONDS else "misses"
    stages_moved = Lead.objects.exclude(lifecycle_stage="lead").count()
    print(f"  {'':<44}{'seconds':>10}{'leads/s':>12}")
    for label, took in [
        ("floor: read leads + events, bare UPDATE", floor_seconds),
        (f"rescore job (batches of {batch_size:,})", seconds),
    ]:
        print(f"  {label:<44}{took:>10.1f}{leads / took:>12,.0f}")
    print(
        f"  {seconds:.1f} s {verdict} the {TARGET_SECONDS:.0f} s target "
        f"({seconds / floor_seconds:.1f}x the floor); {job.processed:,} leads scored, "
        f"{stages_moved:,} now MQL or SQL; mean score "
        f"{_mean_score():.1f}"
    )
    if not ok:
        print(f"  the job did not finish: {job and job.status} {job and job.last_error}")
    return ok


def _count(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (our own names)
        return cursor.fetchone()[0]


def _mean_score() -> float:
    from django.db.models import Avg

    from leadloop.core.models import Lead

    return Lead.objects.aggregate(mean=Avg("score"))["mean"] or 0.0


def run(leads: int, batch_size: int, postgres: bool, postgres_url: str, out=sys.stdout) -> bool:
    print(
        f"leadloop scoring benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        file=out,
    )
    args = ["--leads", str(leads), "--batch-size", str(batch_size)]
    with _home() as home:
        ok = stream_child("scoring", args, _env(home, None), out)
    if postgres:
        with _home() as home, postgres_database(postgres_url) as database_url:
            ok &= stream_child("scoring", args, _env(home, database_url), out)
    return ok


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--leads", type=int, default=DEFAULT_LEADS, help="leads (default 1,000,000)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE, help="leads per batch (default 2,000)"
    )
    parser.add_argument(
        "--postgres", action="store_true", help="also on a fresh PostgreSQL database"
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="server, no database")


def run_from_options(options: dict) -> bool:
    """Run with the options `add_arguments` parsed (from argparse or the management command)."""
    return run(
        options["leads"],
        options["batch_size"],
        options["postgres"],
        options["postgres_url"].rstrip("/"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return 0 if run_from_options(vars(parser.parse_args(argv))) else 1


def child_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=DEFAULT_LEADS)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    args = parser.parse_args(argv)
    return 0 if child(args.leads, args.batch_size) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child_main(sys.argv[2:]))
    sys.exit(main())
