"""CSV import of leads: mapping, cleaning, rejects, duplicates, dry runs, crashes and the admin.

Real files in a temporary MEDIA_ROOT, the real database, the real worker; no mocks."""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from leadloop import journey
from leadloop.capture import importer
from leadloop.capture.models import (
    CaptureChannel,
    ImportJob,
    ImportStatus,
    Submission,
    SubmissionStatus,
)
from leadloop.compliance.models import Consent
from leadloop.core.models import Company, Event, Lead, Source
from leadloop.core.types import LeadIntake

HEADERS = ["First Name", "Surname", "E-mail", "Phone Number", "Company Name", "Service"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def csv_text(rows: list[list[str]], headers: list[str] = HEADERS, delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue()


def stored(content: str | bytes, name: str = "leads.csv") -> str:
    data = content.encode() if isinstance(content, str) else content
    return default_storage.save(f"imports/{name}", ContentFile(data))


def run_import(
    content: str | bytes,
    overrides: dict | None = None,
    *,
    dry_run: bool = False,
    batch_size: int = importer.BATCH_SIZE,
    parallel: bool = False,
    source: Source | None = None,
) -> ImportJob:
    """What `leadloop import leads` does, in this process."""
    name = stored(content)
    with importer.open_csv(default_storage, name) as (layout, _):
        mapping = importer.resolve_mapping(layout.headers, overrides or {})
    job = importer.create_job(
        file_name=name, mapping=mapping, dry_run=dry_run, source=source, enqueue=False
    )
    assert importer.claim(job)
    return importer.execute(job, batch_size=batch_size, parallel=parallel)


def rejects_of(job: ImportJob) -> dict[int, dict]:
    """The rejects report, by row number."""
    with open(job.rejects.path, encoding="utf-8-sig", newline="") as handle:
        return {int(row["row"]): row for row in csv.DictReader(handle)}


def ada(**changes: str) -> list[str]:
    row = {
        "first": "Ada",
        "last": "Lovelace",
        "email": "ada@example.com",
        "phone": "+1 415 555 0134",
        "company": "Analytical Engines",
        "service": "deep clean",
    } | changes
    return list(row.values())


# --- mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("E-mail", "email"),
        ("Email Address", "email"),
        ("EMAIL", "email"),
        ("Phone Number", "phone"),
        ("Mobile", "phone"),
        ("Tel.", "phone"),
        ("First Name", "first_name"),
        ("first_name", "first_name"),
        ("Given name", "first_name"),
        ("Surname", "last_name"),
        ("Last Name", "last_name"),
        ("Company Name", "company"),
        ("Organisation", "company"),
        ("Name", "full_name"),
        ("Email Opt-In", "consent.email"),
        ("Accepts SMS Marketing", "consent.sms"),
        ("UTM Source", "tracking.utm_source"),
        ("utm_campaign", "tracking.utm_campaign"),
        ("gclid", "tracking.gclid"),
        ("Preferred Service", "fields.preferred_service"),
        ("Notes / comments", "fields.notes_comments"),
    ],
)
def test_headers_people_write_are_recognised(header, target):
    assert importer.guess_mapping([header]) == {header: target}


def test_a_second_column_for_the_same_thing_is_kept_as_a_custom_field():
    mapping = importer.guess_mapping(
        ["Email", "Email Address", "Name", "First Name", "Notes", "notes!"]
    )

    assert mapping == {
        "Email": "email",
        "Email Address": "fields.email_address",
        "Name": "fields.name",  # first/last columns exist: a full name would fight them
        "First Name": "first_name",
        "Notes": "fields.notes",
        "notes!": "fields.notes_2",
    }


def test_an_explicit_mapping_wins_and_demotes_the_guess_it_displaces():
    headers = ["Phone", "Mobile", "Email", "Internal ID"]

    mapping = importer.resolve_mapping(headers, {"Mobile": "phone", "Internal ID": ""})

    assert mapping == {
        "Phone": "fields.phone",
        "Mobile": "phone",
        "Email": "email",
        "Internal ID": "",
    }
    with pytest.raises(ValueError, match="No column named 'Mobil'"):
        importer.resolve_mapping(headers, {"Mobil": "phone"})


def test_a_mapping_that_cannot_work_says_why():
    headers = ["A", "B", "C"]

    problems = importer.check_mapping(
        headers, {"A": "first_name", "B": "first_name", "C": "birthday"}
    )

    assert "Columns 'A' and 'B' both fill 'first_name'." in problems
    assert "Column 'C': 'birthday' is not something a column can fill." in problems
    assert "Map a column to email or phone: a lead needs one of them." in problems
    assert importer.check_mapping(headers, {"A": "email", "B": "", "C": "fields.c"}) == []


@pytest.mark.django_db
def test_an_explicit_mapping_imports_columns_whatever_their_names():
    content = csv_text([["Grace", "grace@example.com", "+44 20 7946 0958"]], ["X", "Y", "Z"])

    job = run_import(content, {"X": "first_name", "Y": "email", "Z": "phone"})

    lead = Lead.objects.get()
    assert (lead.first_name, lead.email, lead.phone) == (
        "Grace",
        "grace@example.com",
        "+442079460958",
    )
    assert job.created_count == 1


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.django_db
def test_comma_semicolon_and_tab_files_with_or_without_a_bom_import(delimiter):
    content = "\ufeff" + csv_text(
        [ada(), ada(email="bob@example.com", first="Bob")], delimiter=delimiter
    )

    job = run_import(content)

    assert job.status == ImportStatus.DONE, job.last_error
    assert sorted(Lead.objects.values_list("first_name", flat=True)) == ["Ada", "Bob"]


# --- importing -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_imported_row_becomes_a_lead_with_its_fields_consent_tracking_and_raw_submission():
    source = Source.objects.create(name="Old CRM", channel="import")
    headers = [*HEADERS, "Email Opt-In", "SMS consent", "UTM Source"]
    content = csv_text([[*ada(), "yes", "no", "newsletter"]], headers)

    job = run_import(content, source=source)

    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.email, lead.phone) == (
        "Ada",
        "Lovelace",
        "ada@example.com",
        "+14155550134",
    )
    assert lead.company.name == "Analytical Engines"
    assert lead.custom_fields == {"service": "deep clean"}
    assert lead.source == source
    assert lead.first_touch["utm_source"] == "newsletter"
    consents = {c.channel: c for c in Consent.objects.filter(lead=lead)}
    assert consents["email"].granted is True and consents["sms"].granted is False
    assert "Email Opt-In" in consents["email"].wording
    submission = Submission.objects.get()
    assert submission.channel == CaptureChannel.IMPORT
    assert submission.status == SubmissionStatus.ACCEPTED
    assert submission.lead == lead
    assert json.loads(submission.raw)["E-mail"] == "ada@example.com"
    assert submission.idempotency_key == f"import:{job.pk}:2"
    event = Event.objects.get(lead=lead)
    assert event.type == "lead.captured"
    assert event.data["submission_id"] == submission.pk
    assert event.actor == "source:old-crm"
    assert (job.status, job.total_rows, job.processed_rows, job.created_count) == ("done", 1, 1, 1)
    assert consents["email"].evidence["submission_id"] == submission.pk


@pytest.mark.django_db
def test_every_rejected_row_is_reported_with_every_reason_and_kept():
    rows = [
        ada(),  # row 2: fine
        ada(email="ada(at)example.com"),  # 3
        ada(email="ok@example.com", phone="12345"),  # 4
        ada(email="", phone=""),  # 5: no contact
        ada(email="bad@@example.com", phone="555"),  # 6: two reasons
        ada(email="long@example.com", first="A" * 10_000),  # 7
        ["", "", "", "", "", ""],  # 8: blank, skipped
        ada(email="grace@example.com", first="Grace"),  # 9: fine
    ]
    content = csv_text(rows, HEADERS)

    job = run_import(content)

    assert (job.created_count, job.rejected_count, job.processed_rows) == (2, 5, 8)
    report = rejects_of(job)
    assert sorted(report) == [3, 4, 5, 6, 7]
    assert report[3]["errors"].startswith("E-mail: Enter a valid email address")
    assert report[3]["E-mail"] == "ada(at)example.com"
    assert report[4]["errors"].startswith("Phone Number: ")
    assert report[5]["errors"] == "Send an email address or a phone number."
    assert "E-mail: " in report[6]["errors"] and "Phone Number: " in report[6]["errors"]
    assert report[7]["errors"] == "First Name: Use at most 150 characters (this has 10000)."
    assert len(report[7]["First Name"]) == 10_000
    rejected = Submission.objects.filter(status=SubmissionStatus.REJECTED)
    assert rejected.count() == 5
    assert all(s.lead is None and s.errors for s in rejected)
    assert Submission.objects.count() == 7  # every row but the blank one, raw


@pytest.mark.django_db
def test_a_consent_cell_that_is_neither_yes_nor_no_rejects_the_row():
    content = csv_text(
        [[*ada(), "maybe"], [*ada(email="b@example.com"), "Subscribed"]], [*HEADERS, "Email Opt-In"]
    )

    job = run_import(content)

    assert rejects_of(job)[2]["errors"] == "Email Opt-In: Write yes or no (or leave it empty)."
    assert Consent.objects.get().granted is True


@pytest.mark.django_db
def test_hostile_strings_are_stored_as_text_and_defused_in_the_report(admin_client):
    formula = '=HYPERLINK("http://evil.example","click")'
    rows = [
        [
            "<script>alert(1)</script>",
            "Robert'); DROP TABLE core_lead;--",
            "x@example.com",
            "",
            formula,
            "@SUM(1+1)",
        ],
        ["Ada\u202eevil\x00", "Lovelace", "not-an-email", "", formula, "-2+3"],
    ]

    headers = [*HEADERS[:2], "E-mail\x00", *HEADERS[3:]]  # errors name it: jsonb takes no NUL

    job = run_import(csv_text(rows, headers))

    lead = Lead.objects.get()
    assert lead.first_name == "<script>alert(1)</script>"
    assert lead.last_name == "Robert'); DROP TABLE core_lead;--"
    assert lead.company.name == formula
    assert lead.custom_fields == {"service": "@SUM(1+1)"}
    page = admin_client.get("/admin/core/lead/").content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    rejected = rejects_of(job)[3]
    assert rejected["Company Name"] == "'" + formula
    assert rejected["Service"] == "'-2+3"
    assert rejected["First Name"] == "Ada\u202eevil\x00"  # the report shows what was sent


@pytest.mark.django_db
def test_duplicates_in_the_file_and_in_the_database_merge_instead_of_duplicating():
    journey.admit([LeadIntake(channel="api", email="ada@example.com", first_name="Ada")])
    rows = [
        ada(email="ADA@example.com", last="King"),  # 2: the existing lead, any case
        ada(email="bob@example.com", first="Bob", phone="+1 415 555 0199"),  # 3: new
        ada(email="carol@example.com", first="Carol"),  # 4: new
        ada(email="bob@example.com", first="Bob", phone="", service="windows"),  # 5: row 3 again
        ada(email="", first="Bob", phone="(415) 555-0199", service=""),  # 6: row 3's phone
    ]

    source = Source.objects.create(name="Old CRM", channel="import")

    job = run_import(csv_text(rows), batch_size=2, source=source)  # rows 3, 5: two batches

    assert Lead.objects.count() == 3
    assert (job.created_count, job.merged_count, job.rejected_count) == (2, 3, 0)
    bob = Lead.objects.get(email="bob@example.com")
    assert bob.custom_fields == {"service": "windows"}
    ada_lead = Lead.objects.get(email="ada@example.com")
    assert (ada_lead.last_name, ada_lead.company.name) == ("King", "Analytical Engines")
    assert ada_lead.source == source  # it had none: the import's fills the gap
    statuses = dict(Submission.objects.values_list("idempotency_key", "status"))
    assert statuses[f"import:{job.pk}:3"] == SubmissionStatus.ACCEPTED
    assert statuses[f"import:{job.pk}:5"] == SubmissionStatus.MERGED
    assert set(Submission.objects.filter(lead=bob).values_list("idempotency_key", flat=True)) == {
        f"import:{job.pk}:{n}" for n in (3, 5, 6)
    }


@pytest.mark.django_db
def test_a_batch_of_a_thousand_different_companies_imports():
    """SQLite refuses an OR of 1,000 terms: company lookups must not build one."""
    Company.objects.create(name="ACME 7")
    rows = [ada(email=f"p{n}@example.com", company=f"Acme {n}") for n in range(1000)]

    job = run_import(csv_text(rows))

    assert (job.status, job.created_count) == ("done", 1000), job.last_error
    assert Company.objects.count() == 1000  # "Acme 7" met "ACME 7"
    assert Lead.objects.get(email="p7@example.com").company.name == "ACME 7"


@pytest.mark.django_db
def test_a_dry_run_writes_nothing_but_predicts_the_real_import_and_reports_rejects():
    journey.admit([LeadIntake(channel="api", email="ada@example.com")])
    before = (Lead.objects.count(), Event.objects.count(), Consent.objects.count())
    rows = [
        ada(),  # merges with the existing lead
        ada(email="bob@example.com"),
        ada(email="carol@example.com", phone=""),
        ada(email="BOB@example.com"),  # row 3 again, in a later batch
        ada(email="broken"),
        ada(email="", phone="+1 415 555 0134"),  # no email, Ada's phone (set by row 2): Ada
    ]
    content = csv_text([[*row, "yes"] for row in rows], [*HEADERS, "Email Opt-In"])

    dry = run_import(content, dry_run=True, batch_size=2)

    assert (Lead.objects.count(), Event.objects.count(), Consent.objects.count()) == before
    assert not Submission.objects.exists() and not Company.objects.exists()
    assert dry.status == ImportStatus.DONE
    assert list(rejects_of(dry)) == [6]
    real = run_import(content, batch_size=2)
    assert (dry.created_count, dry.merged_count, dry.rejected_count) == (
        real.created_count,
        real.merged_count,
        real.rejected_count,
    )
    assert (real.created_count, real.merged_count, real.rejected_count) == (2, 3, 1)


@pytest.mark.django_db
def test_a_file_that_is_not_utf8_fails_before_importing_anything():
    rows = [ada(email=f"p{n}@example.com") for n in range(2000)] + [ada(first="Zoë")]
    content = csv_text(rows).encode("latin-1")  # the odd byte is far past the sniffed sample
    job = importer.create_job(file_name=stored(content), mapping={"E-mail": "email"}, enqueue=False)
    assert importer.claim(job)

    importer.execute(job, batch_size=100)

    assert job.status == ImportStatus.FAILED
    assert "not UTF-8" in job.last_error and "CSV UTF-8" in job.last_error
    assert not Lead.objects.exists() and not Submission.objects.exists()


@pytest.mark.django_db
def test_a_job_whose_file_is_gone_fails_at_once_instead_of_retrying():
    job = queued_job(csv_text([ada()]))
    default_storage.delete(job.file.name)
    assert importer.claim(job)

    importer.execute(job)

    assert (job.status, job.attempts) == (ImportStatus.FAILED, 1)
    assert "is gone" in job.last_error


@pytest.mark.django_db
def test_a_cell_too_large_for_csv_fails_the_file_with_its_row():
    content = csv_text([ada(), ada(service="x" * 200_000)])

    job = run_import(content)

    assert job.status == ImportStatus.FAILED
    assert job.last_error.startswith("Row 3 cannot be read as CSV")
    assert not Lead.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db
def test_rows_checked_in_a_second_process_import_the_same():
    rows = [ada(email=f"p{n}@example.com", phone="") for n in range(50)] + [ada(email="x")]

    job = run_import(csv_text(rows), parallel=True, batch_size=7)

    assert (job.status, job.created_count, job.rejected_count) == ("done", 50, 1), job.last_error
    assert list(rejects_of(job)) == [52]
    assert Submission.objects.count() == 51


# --- durable work: crashes, the sweep, two workers ----------------------------------------


class ProcessDied(BaseException):
    """Stands for the process being killed: nothing after it runs, no handler catches it."""


def die_after_first_batch(job: ImportJob) -> None:
    if job.processed_rows:
        raise ProcessDied


def queued_job(content: str, **options) -> ImportJob:
    name = stored(content)
    with importer.open_csv(default_storage, name) as (layout, _):
        mapping = importer.guess_mapping(layout.headers)
    return importer.create_job(file_name=name, mapping=mapping, enqueue=False, **options)


@pytest.mark.django_db(transaction=True)
def test_a_crashed_import_resumes_from_where_it_stopped_without_importing_twice():
    rows = [
        ada(email="a@example.com"),
        ada(email="broken-1"),  # row 3, rejected before the crash
        ada(email="c@example.com"),
        ada(email="broken-2"),  # row 5, after
        ada(email="e@example.com"),
    ]
    job = queued_job(csv_text(rows))
    assert importer.claim(job)

    with pytest.raises(ProcessDied):
        importer.execute(job, on_progress=die_after_first_batch, batch_size=2, parallel=False)

    job.refresh_from_db()
    assert (job.status, job.processed_rows, Lead.objects.count()) == ("running", 2, 1)
    call_command("worker", batch=True, verbosity=0)  # its heartbeat is fresh: left alone
    assert ImportJob.objects.get().status == ImportStatus.RUNNING

    with time_machine.travel(timezone.now() + importer.LEASE + timedelta(seconds=1)):
        call_command("worker", batch=True, verbosity=0)

    job.refresh_from_db()
    assert job.status == ImportStatus.DONE, job.last_error
    assert (job.processed_rows, job.created_count, job.rejected_count) == (5, 3, 2)
    assert job.attempts == 2
    assert Lead.objects.count() == 3
    keys = list(Submission.objects.values_list("idempotency_key", flat=True))
    assert sorted(keys) == [f"import:{job.pk}:{n}" for n in range(2, 7)]
    assert list(rejects_of(job)) == [3, 5]


@pytest.mark.django_db
def test_a_resume_drops_report_lines_of_a_batch_that_never_committed():
    """A crash after a batch's rejects were written but before it committed leaves them in
    the report; the batch runs again on resume, so they must not appear twice."""
    job = queued_job(
        csv_text([ada(email="broken-1"), ada(email="broken-2"), ada(email="c@example.com")])
    )
    assert importer.claim(job)
    with pytest.raises(ProcessDied):
        importer.execute(job, on_progress=die_after_first_batch, batch_size=1, parallel=False)
    job.refresh_from_db()
    with open(job.rejects.path, "a", encoding="utf-8", newline="") as report:
        csv.writer(report).writerow([3, "E-mail: written, never committed", "Ada"])
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    job.refresh_from_db()

    assert importer.run_claimed(job.pk).status == ImportStatus.DONE
    report = rejects_of(job)
    assert sorted(report) == [2, 3]
    assert report[3]["errors"].startswith("E-mail: Enter a valid email address")


@pytest.mark.django_db(transaction=True)
def test_the_sweep_requeues_a_running_job_whose_worker_went_silent():
    job = queued_job(csv_text([ada()]))
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, attempts=1, heartbeat_at=timezone.now() - timedelta(minutes=10)
    )

    assert importer.sweep() == 1

    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    assert "stopped answering" in job.last_error
    task = DBTaskResult.objects.get()
    assert task.task_path.endswith("run_import") and task.args_kwargs["args"] == [job.pk]
    assert importer.sweep() == 0  # nudged: not again until the lease passes
    call_command("worker", batch=True, verbosity=0)
    job.refresh_from_db()
    assert (job.status, job.created_count) == (ImportStatus.DONE, 1)


@pytest.mark.django_db
def test_a_job_that_keeps_dying_fails_instead_of_looping_forever():
    job = queued_job(csv_text([ada()]))
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING,
        attempts=importer.MAX_ATTEMPTS,
        heartbeat_at=timezone.now() - timedelta(minutes=10),
    )

    assert importer.sweep() == 0

    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and "requeue" in job.last_error
    assert importer.requeue(job) and job.status == ImportStatus.QUEUED and job.attempts == 0


@pytest.mark.django_db(transaction=True)
def test_a_worker_presumed_dead_cannot_write_over_the_one_that_took_its_job():
    job = queued_job(csv_text([ada(email=f"p{n}@example.com") for n in range(4)]))
    first = ImportJob.objects.get(pk=job.pk)
    assert importer.claim(first)
    assert not importer.claim(ImportJob.objects.get(pk=job.pk))  # one claimer wins

    with time_machine.travel(timezone.now() + importer.LEASE + timedelta(seconds=1)):
        importer.sweep()  # the first worker looked dead: its job goes back to the queue
        second = ImportJob.objects.get(pk=job.pk)
        assert importer.claim(second)
        importer.execute(first, batch_size=2, parallel=False)  # it wakes up: writes nothing
        assert not Lead.objects.exists() and not Submission.objects.exists()
        importer.execute(second, batch_size=2, parallel=False)

    assert (second.status, second.created_count, second.attempts) == ("done", 4, 2)
    assert Lead.objects.count() == 4 and Submission.objects.count() == 4


# --- the command ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_command_imports_with_a_mapping_shows_progress_and_writes_the_report(tmp_path):
    source = Source.objects.create(name="Old CRM", channel="import")
    path = tmp_path / "export.csv"
    path.write_text(
        csv_text(
            [
                ["Ada", "ada@example.com", "VIP"],
                ["Bob", "nope", ""],
                ["Cy", "cy@mailinator.com", ""],
            ],
            ["Who", "Mail", "Tag"],
        )
    )
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "import_data", "leads", str(path), "--map", "Who=first_name", "--map", "Mail=email",
        "--map", "Tag=", "--source", "Old CRM", "--rejects", str(tmp_path / "rejects.csv"),
        stdout=out, stderr=err,
    )  # fmt: skip

    assert "Imported 3 rows" in out.getvalue()
    assert "2 created, 0 merged, 1 rejected, 1 quarantined" in out.getvalue()
    assert f"Rejects report: {tmp_path / 'rejects.csv'}" in out.getvalue()
    assert "rows/s" in err.getvalue() and "3/3" in err.getvalue()
    assert Lead.objects.quarantined().get().email == "cy@mailinator.com"
    lead = Lead.objects.workable().get()
    assert (lead.first_name, lead.source, lead.custom_fields) == ("Ada", source, {})
    assert "Mail: Enter a valid email address" in (tmp_path / "rejects.csv").read_text("utf-8-sig")


@pytest.mark.django_db
def test_the_command_dry_run_writes_nothing_and_says_so(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(csv_text([ada(), ada(email="bad")]))
    out = io.StringIO()

    call_command("import_data", "leads", str(path), "--dry-run", stdout=out, stderr=io.StringIO())

    assert "1 would create, 0 would merge, 1 rejected" in out.getvalue()
    assert "Nothing was written" in out.getvalue()
    assert not Lead.objects.exists() and not Submission.objects.exists()


@pytest.mark.django_db
def test_the_command_refuses_what_it_cannot_do(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(csv_text([ada()]))

    with pytest.raises(CommandError, match="No source named 'Nobody'"):
        call_command("import_data", "leads", str(path), "--source", "Nobody")
    with pytest.raises(CommandError, match="No column named 'Mobil'"):
        call_command("import_data", "leads", str(path), "--map", "Mobil=phone")
    with pytest.raises(CommandError, match="both fill 'email'"):
        call_command(
            "import_data", "leads", str(path), "--map", "Service=email", "--map", "E-mail=email"
        )
    with pytest.raises(CommandError, match="No file"):
        call_command("import_data", "leads", str(tmp_path / "missing.csv"))
    assert not ImportJob.objects.exists()


# --- the admin -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_admin_uploads_maps_queues_and_follows_an_import(admin_client):
    source = Source.objects.create(name="Old CRM", channel="import")
    changelist = admin_client.get("/admin/capture/importjob/").content.decode()
    assert 'href="/admin/capture/importjob/import/"' in changelist
    assert "Import leads from CSV" in changelist
    upload = SimpleUploadedFile(
        "export.csv",
        csv_text(
            [
                ["Ada", "ada@example.com", "07400 123456", "yes"],
                ["Bob", "bob(at)example.com", "", ""],
            ],
            ["Name", "Email Address", "Mobile", "Newsletter"],
        ).encode(),
        content_type="text/csv",
    )

    response = admin_client.post(
        "/admin/capture/importjob/import/",
        {"file": upload, "source": source.pk, "region": "gb", "dry_run": ""},
    )

    assert response.status_code == 302
    mapping_url = response["Location"]
    page = admin_client.get(mapping_url).content.decode()
    assert "Email Address" in page and "ada@example.com" in page
    assert '<option value="email" selected>' in page
    assert '<option value="consent.email" selected>' in page
    assert '<option value="full_name" selected>' in page

    response = admin_client.post(
        mapping_url,
        {"column_0": "full_name", "column_1": "email", "column_2": "phone", "column_3": ""},
    )

    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(
        f"/importjob/{job.pk}/change/"
    )
    assert job.status == ImportStatus.QUEUED and job.mapping["Newsletter"] == ""
    assert job.created_by.is_superuser and job.default_region == "GB" and job.source == source
    page = admin_client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in page

    call_command("worker", batch=True, verbosity=0)

    job.refresh_from_db()
    assert (job.status, job.created_count, job.rejected_count) == ("done", 1, 1)
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.phone) == ("Ada", "", "+447400123456")
    assert not Consent.objects.exists()  # the Newsletter column was set to be ignored
    page = admin_client.get(f"/admin/capture/importjob/{job.pk}/change/").content.decode()
    assert 'http-equiv="refresh"' not in page
    assert "Created <strong>1</strong>" in page and "rejected <strong>1</strong>" in page
    report = admin_client.get(f"/admin/capture/importjob/{job.pk}/rejects/")
    assert report["Content-Disposition"].startswith("attachment")
    assert "bob(at)example.com" in b"".join(report.streaming_content).decode("utf-8-sig")


@pytest.mark.django_db
def test_the_admin_explains_a_file_or_mapping_it_cannot_use(admin_client):
    response = admin_client.post(
        "/admin/capture/importjob/import/",
        {"file": SimpleUploadedFile("x.csv", "Zoë,x\n".encode("latin-1")), "region": "US"},
    )
    assert "not UTF-8" in response.content.decode()

    upload = SimpleUploadedFile("x.csv", csv_text([ada()]).encode())
    response = admin_client.post(
        "/admin/capture/importjob/import/", {"file": upload, "region": "US"}
    )
    response = admin_client.post(
        response["Location"], {f"column_{i}": "" for i in range(len(HEADERS))}
    )
    assert "Map a column to email or phone" in response.content.decode()
    assert not ImportJob.objects.exists()
    assert (
        admin_client.get("/admin/capture/importjob/import/mapping/?upload=forged").status_code
        == 302
    )


# --- memory and a real crash ---------------------------------------------------------------


def big_csv(rows: int, prefix: str = "p") -> str:
    return csv_text(
        [[f"P{n}", "Example", f"{prefix}{n}@example.com", "", "", "regular"] for n in range(rows)]
    )


@pytest.mark.slow
@pytest.mark.django_db
def test_memory_does_not_grow_with_the_size_of_the_file():
    def peak_for(rows: int) -> int:
        content = big_csv(rows, prefix=f"run{rows}-")
        tracemalloc.start()
        job = run_import(content, batch_size=100)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert job.created_count == rows
        return peak

    small, large = peak_for(400), peak_for(2000)

    # Five times the rows, about the same peak: one batch and the leads it touches.
    assert large < small * 1.5


def processes_running(text: str, parent: int | None = None) -> list[int]:
    """Processes whose command line holds `text` (children of `parent` only, when given: other
    test runs on the machine may be importing too)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or text.encode() not in (entry / "cmdline").read_bytes():
                continue
            # /proc/PID/stat: "pid (name) state ppid ...", and the name may hold spaces.
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent is None or ppid == parent:
            found.append(int(entry.name))
    return found


def database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    return (
        f"postgres://{settings['USER']}:{settings['PASSWORD']}@{settings['HOST'] or 'localhost'}"
        f":{settings['PORT'] or 5432}/{settings['NAME']}"
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_import_killed_mid_file_resumes_and_its_checker_process_does_not_linger(
    tmp_path, settings
):
    rows = 30_000
    settings.MEDIA_ROOT = tmp_path / "home" / "media"  # where the command stores the file
    path = tmp_path / "big.csv"
    path.write_text(big_csv(rows))
    env = {**os.environ, "DATABASE_URL": database_url(), "LEADLOOP_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "leadloop.cli", "import", "leads", str(path)]
    importing = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while not ImportJob.objects.filter(processed_rows__gt=0).exists():
        assert time.monotonic() < deadline and importing.poll() is None
        time.sleep(0.05)
    checker = processes_running("leadloop.capture.import_checker", parent=importing.pid)
    assert checker, "a file this large is checked in a second process"

    importing.send_signal(signal.SIGKILL)
    importing.wait()

    job = ImportJob.objects.get()
    assert 0 < job.processed_rows < rows and job.status == ImportStatus.RUNNING
    assert Lead.objects.count() == job.created_count  # what committed is what it counted
    deadline = time.monotonic() + 10
    while set(checker) & set(processes_running("leadloop.capture.import_checker")):
        assert time.monotonic() < deadline, "the checker process outlived its importer"
        time.sleep(0.1)

    with time_machine.travel(timezone.now() + importer.LEASE + timedelta(seconds=1)):
        importer.sweep()
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    assert importer.run_claimed(job.pk).status == ImportStatus.DONE
    assert Lead.objects.count() == rows and Submission.objects.count() == rows
