"""CSV import of deal outcomes: won and lost deals land on the leads they name, move the won ones
to customer, are never recorded twice, and reach the predictive model.

Real files in a temporary MEDIA_ROOT, the real database, the real worker; no mocks."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import timezone

from leadloop.capture import importer, outcomes
from leadloop.capture.cleaning import InvalidValue
from leadloop.capture.models import ImportJob, ImportKind, ImportStatus
from leadloop.core.keys import email_key
from leadloop.core.models import Event, Lead, LifecycleStage
from leadloop.scoring import predictive
from leadloop.scoring.models import ScoringRequest, ScoringStatus

HEADERS = ["Email", "Phone", "Deal Status", "Amount", "Close Date"]
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def csv_text(rows: list[list[str]], headers: list[str] = HEADERS) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue()


def a_lead(email: str = "", phone: str = "", stage: str = LifecycleStage.SQL) -> Lead:
    return Lead.objects.create(
        email=email, email_key=email_key(email) if email else "", phone=phone, lifecycle_stage=stage
    )


def queued_job(content: str, overrides: dict | None = None, **options) -> ImportJob:
    name = default_storage.save("imports/outcomes.csv", ContentFile(content.encode()))
    with importer.open_csv(default_storage, name) as (layout, _):
        mapping = importer.resolve_mapping(layout.headers, overrides or {}, ImportKind.OUTCOMES)
    return importer.create_job(
        file_name=name, mapping=mapping, kind=ImportKind.OUTCOMES, enqueue=False, **options
    )


def run_outcomes(
    content: str, overrides: dict | None = None, *, batch_size: int = 1000, parallel=False, **opts
) -> ImportJob:
    """What `leadloop import outcomes` does, in this process."""
    job = queued_job(content, overrides, **opts)
    assert importer.claim(job)
    return importer.execute(job, batch_size=batch_size, parallel=parallel)


def rejects_of(job: ImportJob) -> dict[int, str]:
    """The rejects report's reasons, by row number."""
    with open(job.rejects.path, encoding="utf-8-sig", newline="") as handle:
        return {int(row["row"]): row["errors"] for row in csv.DictReader(handle)}


def outcomes_of(lead: Lead) -> list[tuple[str, datetime, dict]]:
    found = Event.objects.filter(lead=lead, type__in=predictive.OUTCOMES).order_by("pk")
    return [(e.type, e.occurred_at, e.data) for e in found]


def stage_changes(lead: Lead) -> list[dict]:
    return [e.data for e in Event.objects.filter(lead=lead, type="stage.changed")]


# --- reading values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "won"),
    [
        ("won", True), ("WON", True), ("Closed Won", True), ("closed-won", True), ("Win", True),
        ("converted", True), ("yes", True), ("1", True), ("lost", False), ("Closed Lost", False),
        ("loss", False), ("Not converted", False), ("no", False), ("0", False),
    ],
)  # fmt: skip
def test_outcome_spellings_crms_export_are_read(cell, won):
    assert outcomes.read_outcome(cell) is won


@pytest.mark.parametrize(
    ("cell", "amount"),
    [("1200", "1200.00"), ("1,200.50", "1200.50"), ("$1200", "1200.00"), ("$ 1,234,567.891", "1234567.89")],
)  # fmt: skip
def test_revenue_is_read_to_the_cent(cell, amount):
    assert outcomes.read_revenue(cell) == Decimal(amount)


@pytest.mark.parametrize(
    ("cell", "message"),
    [("-5", "cannot be negative"), ("$-5", "cannot be negative"), ("12,5", "such as 1200.50"),
     ("about 300", "such as 1200.50")],
)  # fmt: skip
def test_revenue_that_is_not_an_amount_says_why(cell, message):
    with pytest.raises(InvalidValue, match=message):
        outcomes.read_revenue(cell)


@pytest.mark.parametrize(
    ("cell", "moment"),
    [
        ("2024-03-05", datetime(2024, 3, 5, tzinfo=UTC)),
        ("2024-03-05 14:30", datetime(2024, 3, 5, 14, 30, tzinfo=UTC)),
        ("2024-03-05T14:30:00-05:00", datetime(2024, 3, 5, 19, 30, tzinfo=UTC)),
        ("2024-03-05T14:30:00Z", datetime(2024, 3, 5, 14, 30, tzinfo=UTC)),
        ("03/05/2024", datetime(2024, 3, 5, tzinfo=UTC)),  # US: month first
        ("12/31/2024 09:15", datetime(2024, 12, 31, 9, 15, tzinfo=UTC)),
    ],
)
def test_close_dates_are_iso_or_us_month_first(cell, moment):
    assert outcomes.read_closed_at(cell, NOW) == moment


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("25/03/2024", "looks like DD/MM/YYYY"),
        ("March 5th", "YYYY-MM-DD"),
        ("3/5/24", "YYYY-MM-DD"),
        ("2025-06-02", "in the future"),
    ],
)
def test_a_close_date_that_cannot_be_read_or_is_in_the_future_says_why(cell, message):
    with pytest.raises(InvalidValue, match=message):
        outcomes.read_closed_at(cell, NOW)


def test_outcome_headers_are_guessed_and_other_columns_ignored():
    headers = ["E-mail", "Mobile", "Lead ID", "Stage", "Deal Value", "Closed On", "Notes"]
    assert importer.guess_mapping(headers, ImportKind.OUTCOMES) == {
        "E-mail": "email",
        "Mobile": "phone",
        "Lead ID": "lead_id",
        "Stage": "outcome",
        "Deal Value": "revenue",
        "Closed On": "closed_at",
        "Notes": "",
    }
    problems = importer.check_mapping(headers, {"E-mail": "email"}, ImportKind.OUTCOMES)
    assert problems == [
        "Map a column to outcome (won or lost).",
        "Map a column to close date: the model learns from what was known before it.",
    ]
    custom = importer.check_mapping(
        headers, {"E-mail": "email", "Notes": "fields.notes"}, ImportKind.OUTCOMES
    )
    assert "Column 'Notes': 'fields.notes' is not something a column can fill." in custom


# --- importing -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_mixed_file_records_good_outcomes_moves_won_leads_and_reports_every_other_row():
    ada = a_lead("ada@example.com")
    bob = a_lead("bob@example.com", stage=LifecycleStage.OPPORTUNITY)
    gmail = a_lead("adalovelace@gmail.com", stage=LifecycleStage.CUSTOMER)
    cy = a_lead("cy@example.com", phone="+14155550199")
    twins = [a_lead(f"twin{n}@example.com", phone="+14155550134") for n in (1, 2)]
    dan = a_lead("dan@example.com", phone="+14155550111")
    rows = [
        ["ada@example.com", "", "Closed Won", "$1,200.50", "2024-03-05"],  # row 2
        ["BOB@example.com", "", "lost", "", "03/15/2024"],  # 3
        ["Ada.Lovelace+crm@GMAIL.com", "", "win", "300", "2024-04-01T10:00:00Z"],  # 4
        ["", "(415) 555-0199", "converted", "99.999", "2024-01-31T15:00:00-05:00"],  # 5
        ["nobody@example.com", "", "won", "10", "2024-01-01"],  # 6: no such lead
        ["dan@example.com", "", "won", "-5", "2024-01-01"],  # 7: negative revenue
        ["dan@example.com", "", "won", "5", "2099-01-01"],  # 8: in the future
        ["", "+1 415 555 0134", "won", "5", "2024-01-01"],  # 9: two leads have this phone
        ["dan@example.com", "", "maybe", "5", "25/03/2024"],  # 10: two bad cells
        ["cy@example.com", "+14155550111", "lost", "", "2024-01-01"],  # 11: keys disagree
        ["", "", "won", "", "2024-01-01"],  # 12: no key
    ]

    job = run_outcomes(csv_text(rows))

    assert job.status == ImportStatus.DONE, job.last_error
    assert (job.kind, job.processed_rows, job.created_count, job.merged_count) == (
        "outcomes", 11, 4, 0,
    )  # fmt: skip
    assert job.rejected_count == 7
    assert outcomes_of(ada) == [
        (
            "deal.won",
            datetime(2024, 3, 5, tzinfo=UTC),
            {"closed_at": "2024-03-05T00:00:00+00:00", "revenue": "1200.50",
             "imported_from": job.pk, "row": 2},
        )
    ]  # fmt: skip
    assert outcomes_of(bob)[0][0] == "deal.lost" and outcomes_of(bob)[0][2]["revenue"] == "0.00"
    assert outcomes_of(gmail)[0][2]["closed_at"] == "2024-04-01T10:00:00+00:00"
    assert outcomes_of(cy)[0][1] == datetime(2024, 1, 31, 20, tzinfo=UTC)
    assert outcomes_of(cy)[0][2]["revenue"] == "100.00"

    for lead in (ada, bob, gmail, cy):
        lead.refresh_from_db()
    assert (ada.lifecycle_stage, bob.lifecycle_stage) == ("customer", "opportunity")
    assert stage_changes(ada) == [
        {"from": "sql", "to": "customer", "why": f"imported outcome (import {job.pk})",
         "automatic": False, "score": 0},
    ]  # fmt: skip
    assert stage_changes(bob) == stage_changes(gmail) == []  # lost; already a customer
    requested = ScoringRequest.objects.filter(reason=f"imported outcome (import {job.pk})")
    assert sorted(requested.values_list("lead_id", flat=True)) == [ada.pk, bob.pk, gmail.pk, cy.pk]

    report = rejects_of(job)
    assert sorted(report) == [6, 7, 8, 9, 10, 11, 12]
    assert report[6] == "Email: No lead has this email."
    assert report[7] == "Amount: Revenue cannot be negative."
    assert report[8].startswith("Close Date: This date is in the future")
    assert report[9] == (
        f"Phone: 2 leads have this phone number (leads {twins[0].pk}, {twins[1].pk}): "
        "add a lead id column to say which one."
    )
    assert report[10].startswith("Deal Status: Write won or lost")
    assert "Close Date: Dates with slashes are read as MM/DD/YYYY" in report[10]
    assert report[11] == (
        f"Email: This email is lead {cy.pk}'s, but the row's other keys name another lead.; "
        f"Phone: This phone number is lead {dan.pk}'s, but the row's other keys name another lead."
    )
    assert report[12] == "Email: Give the lead's email, phone or id: this row has none."
    assert Event.objects.filter(type__in=predictive.OUTCOMES).count() == 4


@pytest.mark.django_db
def test_a_lead_id_names_the_lead_and_a_merged_one_points_to_its_survivor():
    survivor = a_lead("ada@example.com")
    merged = a_lead()
    Lead.objects.filter(pk=merged.pk).update(duplicate_of=survivor, merged_at=timezone.now())
    rows = [[str(survivor.pk), "won", "2024-01-01"], [str(merged.pk), "won", "2024-01-02"],
            ["12x", "won", "2024-01-03"], ["9" * 30, "won", "2024-01-03"]]  # fmt: skip

    job = run_outcomes(csv_text(rows, ["Lead ID", "Result", "Date"]))

    assert (job.created_count, job.rejected_count) == (1, 3)
    assert len(outcomes_of(survivor)) == 1
    report = rejects_of(job)
    assert (
        report[3] == f"Lead ID: Lead {merged.pk} was merged into lead {survivor.pk}: use that id."
    )
    assert report[4].startswith("Lead ID: A lead id is a whole number")
    assert report[5] == report[4]


@pytest.mark.django_db
def test_importing_the_same_file_again_records_nothing_twice():
    ada, bob = a_lead("ada@example.com"), a_lead("bob@example.com")
    rows = [
        ["ada@example.com", "", "won", "1200", "2024-03-05"],
        ["bob@example.com", "", "lost", "", "2024-03-06"],
        ["ada@example.com", "", "won", "1,200.00", "2024-03-05"],  # the same outcome again
    ]
    first = run_outcomes(csv_text(rows), batch_size=2)
    assert (first.created_count, first.merged_count) == (2, 1)
    events = Event.objects.count()

    second = run_outcomes(csv_text(rows))

    assert (second.status, second.created_count, second.merged_count) == ("done", 0, 3)
    assert Event.objects.count() == events
    assert len(outcomes_of(ada)) == len(outcomes_of(bob)) == 1
    assert len(stage_changes(ada)) == 1
    changed = run_outcomes(csv_text([["ada@example.com", "", "won", "1500", "2024-03-05"]]))
    assert changed.created_count == 1  # a different revenue is a different outcome


@pytest.mark.django_db
def test_a_dry_run_writes_nothing_but_counts_what_the_import_would_do():
    ada = a_lead("ada@example.com")
    rows = [
        ["ada@example.com", "", "won", "1200", "2024-03-05"],
        ["ada@example.com", "", "won", "1200", "2024-03-05"],  # a later batch: would repeat
        ["nobody@example.com", "", "lost", "", "2024-03-05"],
    ]

    job = run_outcomes(csv_text(rows), dry_run=True, batch_size=1)

    assert (job.status, job.created_count, job.merged_count, job.rejected_count) == (
        "done", 1, 1, 1,
    )  # fmt: skip
    assert not Event.objects.exists() and not ScoringRequest.objects.exists()
    ada.refresh_from_db()
    assert ada.lifecycle_stage == LifecycleStage.SQL
    assert sorted(rejects_of(job)) == [4]


@pytest.mark.django_db
def test_rows_checked_in_a_second_process_import_the_same():
    a_lead("ada@example.com")
    rows = [
        ["ada@example.com", "", "won", "10", "2024-01-01"],
        ["x@example.com", "", "won", "", ""],
    ]

    job = run_outcomes(csv_text(rows), parallel=True)

    assert (job.status, job.created_count, job.rejected_count) == ("done", 1, 1), job.last_error
    assert "Close Date: Give the date it closed." in rejects_of(job)[3]


class ProcessDied(BaseException):
    """Stands for the process being killed: nothing after it runs, no handler catches it."""


def die_after_first_batch(job: ImportJob) -> None:
    if job.processed_rows:
        raise ProcessDied


@pytest.mark.django_db(transaction=True)
def test_a_crashed_outcomes_import_resumes_without_recording_anything_twice():
    leads = [a_lead(f"p{n}@example.com") for n in range(4)]
    rows = [
        ["p0@example.com", "", "won", "1", "2024-01-01"],
        ["nobody@example.com", "", "won", "1", "2024-01-01"],  # row 3, before the crash
        ["p1@example.com", "", "lost", "", "2024-01-01"],
        ["p2@example.com", "", "won", "-1", "2024-01-01"],  # row 5, after
        ["p3@example.com", "", "won", "3", "2024-01-01"],
    ]
    job = queued_job(csv_text(rows))
    assert importer.claim(job)

    with pytest.raises(ProcessDied):
        importer.execute(job, on_progress=die_after_first_batch, batch_size=2, parallel=False)

    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.created_count) == ("running", 2, 1)
    with time_machine.travel(timezone.now() + importer.LEASE + timedelta(seconds=1)):
        call_command("worker", batch=True, verbosity=0)

    job.refresh_from_db()
    assert job.status == ImportStatus.DONE, job.last_error
    assert (job.processed_rows, job.created_count, job.rejected_count, job.attempts) == (5, 3, 2, 2)
    assert [len(outcomes_of(lead)) for lead in leads] == [1, 1, 0, 1]
    assert list(rejects_of(job)) == [3, 5]


# --- the model -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_predictive_model_learns_from_imported_outcomes():
    leads = [a_lead(f"p{n}@example.com") for n in range(24)]
    rows = [
        [lead.email, "", "won" if n % 2 else "lost", str(100 * n), f"2024-02-{n + 1:02d}"]
        for n, lead in enumerate(leads)
    ]

    run_outcomes(csv_text(rows))

    known = predictive.outcomes()
    assert len(known) == 24
    assert known[leads[3].pk] == predictive.Outcome(
        won=True, closed_at=datetime(2024, 2, 4, tzinfo=UTC), revenue=300.0
    )
    model = predictive.train(min_outcomes=20)
    assert model is not None and model.trained_on == 24


# --- the command ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_command_imports_outcomes_and_scores_the_leads_it_touched_with_wait(tmp_path):
    ada = a_lead("ada@example.com")
    path = tmp_path / "deals.csv"
    path.write_text(
        csv_text(
            [["ada@example.com", "Won", "2024-05-01"], ["nope@example.com", "Lost", "2024-05-01"]],
            ["Contact", "Deal", "When"],
        )
    )
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "import_data", "outcomes", str(path), "--map", "Contact=email", "--map", "Deal=outcome",
        "--map", "When=closed_at", "--wait", stdout=out, stderr=err,
    )  # fmt: skip

    assert "1 outcomes recorded, 0 already imported, 1 rejected" in out.getvalue()
    assert "Scored 1 leads again." in out.getvalue()
    assert "recorded 1 · already 0 · rejected 1" in err.getvalue()
    ada.refresh_from_db()
    assert ada.lifecycle_stage == LifecycleStage.CUSTOMER and ada.scored_at is not None
    assert ScoringRequest.objects.get().status == ScoringStatus.DONE

    out = io.StringIO()
    call_command(
        "import_data", "outcomes", str(path), "--map", "Contact=email", "--map", "Deal=outcome",
        "--map", "When=closed_at", "--dry-run", stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    assert "0 outcomes would be recorded, 1 already imported, 1 rejected" in out.getvalue()


@pytest.mark.django_db
def test_the_command_refuses_an_outcomes_mapping_without_a_close_date(tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text(csv_text([["ada@example.com", "won"]], ["Email", "Outcome"]))

    with pytest.raises(CommandError, match="Map a column to close date"):
        call_command("import_data", "outcomes", str(path), stderr=io.StringIO())
    assert not ImportJob.objects.exists()


# --- the admin -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_admin_uploads_and_maps_an_outcomes_file_and_follows_it(admin_client):
    ada = a_lead("ada@example.com")
    changelist = admin_client.get("/admin/capture/importjob/").content.decode()
    assert 'href="/admin/capture/importjob/import/?kind=outcomes"' in changelist
    upload_page = admin_client.get("/admin/capture/importjob/import/?kind=outcomes")
    assert 'value="outcomes" id="id_kind_1" checked' in upload_page.content.decode()
    upload = SimpleUploadedFile(
        "deals.csv",
        csv_text(
            [["ada@example.com", "closed won", "2,500", "2024-02-29", "VIP"],
             ["bob@example.com", "closed lost", "", "2024-02-29", ""]],
            ["Email Address", "Stage", "Amount", "Close Date", "Notes"],
        ).encode(),
        content_type="text/csv",
    )  # fmt: skip

    response = admin_client.post(
        "/admin/capture/importjob/import/",
        {"kind": "outcomes", "file": upload, "region": "US", "dry_run": ""},
    )

    assert response.status_code == 302
    mapping_url = response["Location"]
    page = admin_client.get(mapping_url).content.decode()
    assert '<option value="outcome" selected>' in page
    assert '<option value="closed_at" selected>' in page
    assert "Custom field" not in page and "the close date (YYYY-MM-DD" in page

    response = admin_client.post(
        mapping_url,
        {"column_0": "email", "column_1": "outcome", "column_2": "revenue",
         "column_3": "closed_at", "column_4": ""},
    )  # fmt: skip

    job = ImportJob.objects.get()
    assert response.status_code == 302 and job.kind == ImportKind.OUTCOMES
    call_command("worker", batch=True, verbosity=0)
    job.refresh_from_db()
    assert (job.status, job.created_count, job.rejected_count) == ("done", 1, 1)
    assert outcomes_of(ada)[0][2]["revenue"] == "2500.00"
    page = admin_client.get(f"/admin/capture/importjob/{job.pk}/change/").content.decode()
    assert "Outcomes recorded <strong>1</strong>" in page
    assert "rejected <strong>1</strong>" in page
    report = admin_client.get(f"/admin/capture/importjob/{job.pk}/rejects/")
    assert "No lead has this email" in b"".join(report.streaming_content).decode("utf-8-sig")
