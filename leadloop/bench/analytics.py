"""The measure benchmark: `leadloop bench analytics` and `python -m leadloop.bench.analytics`.

Issue 8's target: with a million leads and ten million events, the whole dashboard for a
90-day window under 1 s on PostgreSQL and under 2 s on SQLite. In a fresh LEADLOOP_HOME (and,
with --postgres, a fresh PostgreSQL database, dropped afterwards), a child process:

1. migrates, and loads N leads of CleanPro's synthetic history (leadloop/demo/synthetic.py:
   about 18 events a lead: page views, emails, forms, stage moves, deals won and lost; speed
   to lead; its spend as a row per source and day), then gives each lead an owner (one of five
   reps), which the generator leaves out;
2. times a rebuild of the roll-ups (`leadloop analytics refresh`) and the minute's refresh
   after 100 leads changed;
3. times the dashboard for the last 90 days of the history (kpis.dashboard, funnel.funnel and
   kpis.spend_table by channel together): the median of 5 after a warm-up, against a floor
   measured in the same run (SELECT COUNT(*) of the leads table), and prints the figures.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta

from leadloop.bench.capture import postgres_database
from leadloop.bench.quality import DEFAULT_POSTGRES, _env, _home
from leadloop.bench.server import stream_child

DEFAULT_LEADS = 1_000_000
TARGETS = {"postgresql": 1.0, "sqlite": 2.0}
ROUNDS = 5
REPS = 5


def _timed(function, rounds: int = ROUNDS) -> float:
    """The median seconds of `rounds` calls after one warm-up call."""
    function()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _load(leads: int) -> tuple[float, int]:
    """The synthetic history, its spend and owners: (seconds, events)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.db.models import Value
    from django.db.models.functions import Mod

    from leadloop.core.models import Event, Lead
    from leadloop.demo import spend, synthetic

    started = time.perf_counter()
    dataset = synthetic.generate(leads)
    stats = synthetic.load(dataset)
    spend.store(dataset)
    reps = [
        get_user_model().objects.create_user(f"rep{n}", f"rep{n}@bench.example").pk
        for n in range(REPS)
    ]
    with transaction.atomic():
        for index, rep in enumerate(reps):
            Lead.objects.annotate(slot=Mod("id", Value(REPS))).filter(slot=index).update(
                owner_id=rep
            )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE core_lead")
            cursor.execute("VACUUM ANALYZE core_event")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return time.perf_counter() - started, Event.objects.count() or stats.events


def child(leads: int) -> bool:
    """The benchmark itself, in a process whose settings name the throw-away installation."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from leadloop.analytics import funnel, kpis, rollups
    from leadloop.core.models import Lead

    vendor = connection.vendor
    call_command("migrate", verbosity=0)
    loaded, events = _load(leads)
    print(
        f"\nMeasure, {'PostgreSQL' if vendor == 'postgresql' else 'SQLite'}: {leads:,} leads, "
        f"{events:,} events ({events / leads:.1f} a lead), loaded in {loaded:.0f} s"
    )
    started = time.perf_counter()
    rollups.rebuild()
    rebuilt = time.perf_counter() - started
    changed = list(Lead.objects.order_by("-pk").values_list("pk", flat=True)[:100])
    Lead.objects.filter(pk__in=changed).update(updated_at=timezone.now())
    started = time.perf_counter()
    rollups.refresh()
    refreshed = time.perf_counter() - started
    end = Lead.objects.order_by("-captured_at").values_list("captured_at", flat=True).first()
    window = kpis.Filters(start=end.date() - timedelta(days=89), end=end.date())

    def whole_dashboard() -> None:
        kpis.dashboard(window)
        funnel.funnel(window)
        kpis.spend_table(window, "channel")

    def floor() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM core_lead")
            cursor.fetchone()

    floor_seconds = _timed(floor)
    seconds = _timed(whole_dashboard)
    target = TARGETS[vendor]
    print(f"  {'':<66}{'seconds':>10}")
    for label, took in [
        ("roll-ups rebuilt (leadloop analytics refresh)", rebuilt),
        ("the minute's refresh, 100 leads changed", refreshed),
        ("floor: SELECT COUNT(*) FROM core_lead (median of 5)", floor_seconds),
        (f"dashboard + funnel + spend, {window.start}..{window.end} (median of 5)", seconds),
    ]:
        print(f"  {label:<66}{took:>10.4f}")
    verdict = "meets" if seconds < target else "misses"
    print(
        f"  {seconds:.3f} s {verdict} the {target:.0f} s target "
        f"({seconds / floor_seconds:.1f}x the floor)"
    )
    _print_figures(
        kpis.dashboard(window), funnel.funnel(window), kpis.spend_table(window, "channel")
    )
    return seconds < target


def _print_figures(dashboard, result, spend_rows: list[dict]) -> None:
    print("  figures:")
    for figure in dashboard.figures:
        previous = "" if figure.previous is None else f" (previous {figure.previous})"
        print(
            f"    {figure.label:<42}{figure.value!s:>14} {figure.unit:<8}{figure.state:<5}{previous}"
        )
    print(
        "    pipeline now: " + ", ".join(f"{label} {n:,}" for _, label, n in dashboard.pipeline_now)
    )
    print(
        "    funnel: "
        + " -> ".join(f"{s.label} {s.count if s.count is not None else '—'}" for s in result.steps)
        + f"; MQL->SQL {result.mql_to_sql}%; stuck past SLA {result.stuck_past_sla:,}"
    )
    for row in spend_rows:
        print(
            f"    {row['name']:<24} spend {row['spend']:>12} leads {row['leads']:>7,} "
            f"CPL {row['cpl']!s:>8} CPA {row['cpa']!s:>9} close {row['close_rate']!s:>6}% "
            f"ROMI {row['romi']!s:>6}"
        )


def run(leads: int, postgres: bool, postgres_url: str, out=sys.stdout) -> bool:
    print(
        f"leadloop measure benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        file=out,
    )
    args = ["--leads", str(leads)]
    with _home() as home:
        ok = stream_child("analytics", args, _env(home, None), out)
    if postgres:
        with _home() as home, postgres_database(postgres_url) as database_url:
            ok &= stream_child("analytics", args, _env(home, database_url), out)
    return ok


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--leads", type=int, default=DEFAULT_LEADS, help="leads (default 1,000,000)"
    )
    parser.add_argument(
        "--postgres", action="store_true", help="also on a fresh PostgreSQL database"
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="server, no database")


def run_from_options(options: dict) -> bool:
    """Run with the options `add_arguments` parsed (from argparse or the management command)."""
    return run(options["leads"], options["postgres"], options["postgres_url"].rstrip("/"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return 0 if run_from_options(vars(parser.parse_args(argv))) else 1


def child_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=DEFAULT_LEADS)
    args = parser.parse_args(argv)
    return 0 if child(args.leads) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child_main(sys.argv[2:]))
    sys.exit(main())
