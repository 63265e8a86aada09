"""Nothing lost: a submission whose processing died is found by the sweep and finished."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from leadloop import journey
from leadloop.capture import services
from leadloop.capture.models import CaptureChannel, Submission, SubmissionStatus
from leadloop.core.models import Lead, Source

pytestmark = pytest.mark.django_db(transaction=True)


def stored_but_never_processed(email: str) -> Submission:
    """What a crash between committing the raw body and processing it leaves behind."""
    source = Source.objects.create(name="Crashy feed")
    submission, _ = services.receive(
        CaptureChannel.API, json.dumps({"email": email}), services.RequestMeta(), source=source
    )
    return submission


def test_the_sweep_finishes_a_submission_left_behind_by_a_dead_process():
    submission = stored_but_never_processed("orphan@example.com")

    call_command("worker", batch=True, verbosity=0)
    assert Submission.objects.get().status == SubmissionStatus.RECEIVED

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        call_command("worker", batch=True, verbosity=0)

    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.ACCEPTED
    assert submission.lead == Lead.objects.get(email="orphan@example.com")
    assert submission.attempts == 1


def test_a_failed_submission_is_retried_with_backoff_until_it_succeeds(monkeypatch):
    real_admit = journey.admit
    failures = iter([RuntimeError("database went away")])

    def admit_failing_once(intakes, assessments=None):
        for failure in failures:
            raise failure
        return real_admit(intakes, assessments)

    monkeypatch.setattr(journey, "admit", admit_failing_once)
    submission = stored_but_never_processed("flaky@example.com")

    outcome = services.process(submission)
    assert outcome.status == SubmissionStatus.FAILED
    assert "database went away" in Submission.objects.get().last_error
    assert Lead.objects.count() == 0

    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        call_command("worker", batch=True, verbosity=0)

    assert Submission.objects.get().status == SubmissionStatus.ACCEPTED
    assert Lead.objects.get().email == "flaky@example.com"


def test_a_claimed_submission_is_not_processed_twice():
    submission = stored_but_never_processed("once@example.com")

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        first = services.process_claimed(submission.pk)
        second = services.process_claimed(submission.pk)

    assert first is not None and first.status == SubmissionStatus.ACCEPTED
    assert second is None
    assert Lead.objects.get().events.count() == 1


def test_submissions_captured_together_are_each_settled_with_their_own_lead():
    source = Source.objects.create(name="Busy feed")
    submissions = [
        services._submission(
            CaptureChannel.API,
            json.dumps({"email": email, "visitor_id": visitor}),
            services.RequestMeta(),
            None,
            source,
            "",
        )
        for email, visitor in [
            ("a@example.com", "v-a"),
            ("b@example.com", ""),
            ("A@example.com", ""),
        ]
    ]
    outcomes = services._capture_all(submissions)

    assert [o.status for o in outcomes] == ["accepted", "accepted", "merged"]
    stored = list(Submission.objects.order_by("id"))
    assert [s.status for s in stored] == ["accepted", "accepted", "merged"]
    assert [s.lead.email for s in stored] == ["a@example.com", "b@example.com", "a@example.com"]
    assert [s.visitor_key for s in stored] == ["v-a", "", ""]
    assert all(s.processed_at and s.next_attempt_at is None and s.errors == [] for s in stored)
    assert not any(s.is_partial for s in stored)
