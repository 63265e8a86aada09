"""CSV import of a business's whole history: rows/s and peak memory, beside a floor.

    .venv/bin/python benchmarks/import_leads.py [--rows 100000] [--postgres [URL]] [--keep]

1. Writes a CSV of realistic leads: ~5% invalid rows (bad email, bad phone, no contact, a
   name far too long) and ~5% repeats of an earlier person (which must merge, not duplicate).
2. On a fresh database under a fresh LEADLOOP_HOME (SQLite; PostgreSQL too with --postgres or
   DATABASE_URL), each in its own process so its peak RSS is its own:
   - the floor: csv parsing + bulk_create of bare Lead rows, no validation, no dedupe;
   - `leadloop import leads FILE.csv`, the real thing, on another fresh database;
   - the same file again with --dry-run on the now full database (every row a would-merge).
3. Prints rows/s (over the job's own start and finish, and end to end with process start-up),
   the ratio to the floor, peak RSS, and the counts, checked against what was generated.
"""

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LEADLOOP = [sys.executable, "-m", "leadloop.cli"]
HEADERS = [
    "First Name",
    "Last Name",
    "E-mail",
    "Phone Number",
    "Company Name",
    "Service",
    "Notes",
    "Email Opt-In",
    "UTM Source",
]
FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Margaret",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Paul",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "George",
    "Deborah",
    "Timothy",
    "Stephanie",
    "Ronald",
    "Rebecca",
    "Jason",
    "Sharon",
    "Edward",
    "Laura",
    "Jeffrey",
    "Cynthia",
    "Ryan",
    "Amy",
    "José",
    "Zoë",
    "Renée",
    "Siobhan",
    "Nguyễn",
    "Åsa",
    "Chloé",
    "François",
    "Bjørn",
    "Ana-María",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "O'Brien",
    "McDonald",
    "Müller",
    "Østergaard",
    "Kowalski",
    "Nakamura",
    "Okafor",
    "Da Silva",
    "Van der Berg",
]
DOMAINS = [
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "aol.com",
    "proton.me",
]
AREA_CODES = [
    201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 301, 302, 303,
    304, 305, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319, 320, 401, 402, 404,
    405, 406, 407, 408, 409, 410, 412, 413, 414, 415, 417, 419, 501, 502, 503, 504, 505, 507,
    508, 509, 510, 512, 513, 515, 516, 517, 518, 520, 530, 602, 603, 605, 606, 607, 608, 609,
    610, 612, 614, 615, 616, 617, 618, 619, 620, 623, 626, 630, 631, 636, 641, 646, 650, 651,
    702, 703, 704, 706, 707, 708, 712, 713, 714, 715, 716, 717, 718, 719, 720, 724, 727, 732,
    801, 802, 803, 804, 805, 806, 808, 810, 812, 813, 814, 815, 816, 817, 818, 828, 830, 831,
    901, 903, 904, 906, 907, 908, 909, 910, 912, 913, 914, 915, 916, 917, 918, 919, 920, 925,
]  # fmt: skip
SERVICES = ["deep clean", "regular clean", "move-out clean", "office clean", "carpet", "windows"]
NOTES = ["", "", "", "call after 5pm", "has two dogs", "gate code 1234", "prefers email"]


def phone(rng: random.Random) -> str:
    area, exchange, line = rng.choice(AREA_CODES), rng.randint(200, 999), rng.randint(0, 9999)
    if exchange % 100 == 11:  # N11 codes are not exchanges
        exchange += 1
    style = rng.randrange(4)
    if style == 0:
        return f"({area}) {exchange}-{line:04d}"
    if style == 1:
        return f"{area}-{exchange}-{line:04d}"
    if style == 2:
        return f"+1 {area} {exchange} {line:04d}"
    return f"{area}{exchange}{line:04d}"


def generate(path: Path, rows: int, seed: int = 7) -> dict:
    """Write the CSV; return how many rows were meant to be invalid and repeats. Earlier people
    are drawn from a bounded reservoir, so generating a million rows needs no more memory."""
    rng = random.Random(seed)
    companies = [f"{rng.choice(LAST)} {rng.choice(['Ltd', 'LLC', 'Inc', '& Sons', 'Group'])}"
                 for _ in range(3000)]  # fmt: skip
    earlier: list[list[str]] = []
    invalid = repeats = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        for n in range(rows):
            roll = rng.random()
            if roll < 0.05 and earlier:
                row = list(rng.choice(earlier))
                row[5] = rng.choice(SERVICES)  # the same person, asking again
                if rng.random() < 0.5:
                    row[2] = row[2].upper()  # same address, different case: still a duplicate
                repeats += 1
                writer.writerow(row)
                continue
            first, last = rng.choice(FIRST), rng.choice(LAST)
            local = "".join(ch for ch in f"{first}.{last}".lower() if ch.isascii() and ch != " ")
            row = [
                first,
                last,
                f"{local}{n}@{rng.choice(DOMAINS)}",
                phone(rng) if rng.random() < 0.8 else "",
                rng.choice(companies) if rng.random() < 0.4 else "",
                rng.choice(SERVICES),
                rng.choice(NOTES),
                rng.choice(["yes", "no", ""]),
                rng.choice(["google", "facebook", "referral", ""]),
            ]
            if roll < 0.10:
                invalid += 1
                kind = rng.randrange(4)
                if kind == 0:
                    row[2] = row[2].replace("@", " at ")
                elif kind == 1:
                    row[2], row[3] = "", "12345"
                elif kind == 2:
                    row[2] = row[3] = ""
                else:
                    row[0] = first * 100
            elif len(earlier) < 10_000:
                earlier.append(row)
            else:
                earlier[rng.randrange(10_000)] = row
            writer.writerow(row)
    return {"rows": rows, "invalid": invalid, "repeats": repeats}


def run_child(argv: list[str], env: dict) -> tuple[float, int, str, float]:
    """Run a process; return its wall time, its peak RSS in MiB (the largest of it and the
    children it waited for: the import's row checker), its stdout, and the CPU seconds of both."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        took = time.perf_counter() - started
        child.stderr.close()
        out.seek(0)
        text = out.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{text}")
    return took, usage.ru_maxrss // 1024, text, usage.ru_utime + usage.ru_stime


def fresh_database(label: str, postgres: str | None, keep: bool) -> tuple[dict, callable]:
    home = Path(tempfile.mkdtemp(prefix=f"leadloop-bench-{label}-"))
    env = {**os.environ, "LEADLOOP_HOME": str(home), "LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    name = None
    if postgres:
        import psycopg

        name = f"leadloop_bench_{label}_{os.getpid()}"
        with psycopg.connect(postgres, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = postgres.rsplit("/", 1)[0] + "/" + name

    def drop() -> None:
        if keep:
            print(f"  kept {home}" + (f" and database {name}" if name else ""))
            return
        if name:
            import psycopg

            with psycopg.connect(postgres, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        subprocess.run(["rm", "-rf", str(home)], check=False)

    run_child([*LEADLOOP, "migrate", "-v0"], env)
    return env, drop


def floor_child(path: Path) -> None:
    """The floor, run in a child process: parse the CSV and bulk-insert bare leads."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadloop.settings")
    django.setup()
    from django.db import transaction

    from leadloop.core.models import Lead

    started, count = time.perf_counter(), 0
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        while True:
            batch = [row for _, row in zip(range(1000), reader, strict=False)]
            if not batch:
                break
            with transaction.atomic():
                Lead.objects.bulk_create(
                    Lead(first_name=r[0][:150], last_name=r[1][:150], email=r[2], phone=r[3][:20])
                    for r in batch
                )
            count += len(batch)
    print(json.dumps({"rows": count, "seconds": time.perf_counter() - started}))


def inspect_child() -> None:
    """The last import job and what it left in the database, as JSON."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadloop.settings")
    django.setup()
    from leadloop.capture.models import ImportJob, Submission
    from leadloop.core.models import Event, Lead

    job = ImportJob.objects.order_by("-pk").first()
    print(
        json.dumps(
            {
                "status": job.status,
                "seconds": (job.finished_at - job.started_at).total_seconds(),
                "rows": job.processed_rows,
                "created": job.created_count,
                "merged": job.merged_count,
                "rejected": job.rejected_count,
                "leads": Lead.objects.count(),
                "submissions": Submission.objects.count(),
                "events": Event.objects.count(),
                "last_error": job.last_error,
            }
        )
    )


def bench(label: str, csv_path: Path, expected: dict, postgres: str | None, keep: bool) -> list:
    lines = []
    env, drop = fresh_database(f"{label}_floor", postgres, keep)
    try:
        argv = [sys.executable, __file__, "--floor-child", str(csv_path)]
        wall, rss, out, cpu = run_child(argv, env)
        floor = json.loads(out)
        floor_rate = floor["rows"] / floor["seconds"]
        lines.append((label, "floor (csv + bulk_create)", floor["rows"], floor["seconds"], wall,
                      cpu, floor_rate, 1.0, rss, ""))  # fmt: skip
    finally:
        drop()

    env, drop = fresh_database(f"{label}_import", postgres, keep)
    try:
        for phase, extra in (("import", []), ("dry run (all repeats)", ["--dry-run"])):
            argv = [*LEADLOOP, "import", "leads", str(csv_path), *extra]
            wall, rss, _, cpu = run_child(argv, env)
            _, _, out, _ = run_child([sys.executable, __file__, "--inspect-child"], env)
            job = json.loads(out)
            if job["status"] != "done":
                raise SystemExit(f"{label} {phase} did not finish: {job}")
            rate = job["rows"] / job["seconds"]
            counts = (
                f"created {job['created']:,} merged {job['merged']:,} "
                f"rejected {job['rejected']:,}; leads {job['leads']:,} "
                f"submissions {job['submissions']:,}"
            )
            lines.append((label, phase, job["rows"], job["seconds"], wall, cpu, rate,
                          rate / floor_rate, rss, counts))  # fmt: skip
            if phase == "import":
                assert job["submissions"] == expected["rows"], "every row is kept as a submission"
                assert job["leads"] == job["created"], "created count matches the leads table"
                assert job["rejected"] >= expected["invalid"], "every invalid row is rejected"
    finally:
        drop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=os.environ.get("DATABASE_URL") or "postgresql://postgres@localhost/postgres",
        help="also run on PostgreSQL (server URL; default DATABASE_URL or local postgres)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases and the CSV")
    parser.add_argument("--floor-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--inspect-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_child:
        return floor_child(args.floor_child)
    if args.inspect_child:
        return inspect_child()
    if os.environ.get("DATABASE_URL") and not args.postgres:
        args.postgres = os.environ["DATABASE_URL"]

    work = Path(tempfile.mkdtemp(prefix="leadloop-bench-csv-"))
    csv_path = work / "leads.csv"
    started = time.perf_counter()
    expected = generate(csv_path, args.rows)
    print(
        f"{csv_path}: {args.rows:,} rows, {csv_path.stat().st_size / 1e6:.1f} MB, "
        f"{expected['invalid']:,} invalid, {expected['repeats']:,} repeats "
        f"(written in {time.perf_counter() - started:.1f} s); {os.cpu_count()} CPUs"
    )
    lines = bench("sqlite", csv_path, expected, None, args.keep)
    if args.postgres:
        lines += bench("postgres", csv_path, expected, args.postgres, args.keep)
    if not args.keep:
        subprocess.run(["rm", "-rf", str(work)], check=False)

    print()
    print(f"{'db':9} {'phase':26} {'rows':>9} {'job s':>7} {'wall s':>7} {'CPU s':>7} "
          f"{'rows/s':>8} {'÷floor':>7} {'peak RSS':>9}  counts")  # fmt: skip
    for db, phase, rows, seconds, wall, cpu, rate, ratio, rss, counts in lines:
        print(f"{db:9} {phase:26} {rows:>9,} {seconds:>7.1f} {wall:>7.1f} {cpu:>7.1f} "
              f"{rate:>8,.0f} {ratio:>7.2f} {rss:>6,} MiB  {counts}")  # fmt: skip
    print("\nrows/s is over the job's own run (job s); wall s adds process start-up and the copy")
    print("of the file into storage; CPU s is user + system time of the process and its row")
    print("checker. Target: >= 2,000 rows/s with SQLite on 2 cores.")
    print(
        f"Load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
        "(other work on the machine slows every figure but CPU s)."
    )


if __name__ == "__main__":
    main()
