"""A step that raises is retried with backoff from the same position (nothing it or the steps
before it did in that run is kept), then given up as FAILED; and several workers walking the
due enrollments at once never take one step twice."""

import threading
from datetime import timedelta

import pytest
from django.db import connections

from leadloop.core.models import Message
from leadloop.nurture import engine, services
from leadloop.nurture.models import EmailTemplate, Enrollment, EnrollmentStatus, StepRun
from tests.nurture.conftest import MONDAY_10, a_lead, make_workflow

BROKEN = [{"do": "tag", "add": ["seen"]}, {"do": "send_email", "template": "no-such-template"}]


def tags(lead) -> set[str]:
    return set(lead.tags.values_list("tag", flat=True))


@pytest.mark.django_db
def test_a_failing_step_is_retried_with_backoff_in_place_then_failed(clock):
    lena = a_lead()
    [enrollment] = services.enroll(make_workflow(BROKEN), [lena])
    waits = [timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=1)]
    now = MONDAY_10

    for attempt, wait in enumerate(waits, start=1):
        assert engine.run_due() == 1
        enrollment.refresh_from_db()
        assert (enrollment.status, enrollment.attempts) == (EnrollmentStatus.ACTIVE, attempt)
        assert enrollment.position == 0 and enrollment.due_at == now + wait
        assert "DoesNotExist" in enrollment.last_error
        assert tags(lena) == set() and not StepRun.objects.exists()
        clock.shift(wait - timedelta(seconds=1))
        assert engine.run_due() == 0  # not before its time
        clock.shift(timedelta(seconds=1))
        now += wait

    assert engine.run_due() == 1
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.FAILED
    assert enrollment.due_at is None and enrollment.finished_at == now
    assert enrollment.position == 0 and tags(lena) == set()
    clock.shift(timedelta(days=1))
    assert engine.run_due() == 0


@pytest.mark.django_db
def test_a_step_that_failed_once_goes_through_when_its_cause_is_fixed(clock, smtp):
    lena = a_lead()
    [enrollment] = services.enroll(make_workflow(BROKEN), [lena])
    engine.run_due()

    EmailTemplate.objects.create(name="x", slug="no-such-template", subject="Hi", text="Hi")
    clock.shift(timedelta(seconds=30))
    engine.run_due()

    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.COMPLETED and enrollment.last_error == ""
    assert tags(lena) == {"seen"}
    assert Message.objects.get().key == f"nurture-{enrollment.pk}-1"
    assert StepRun.objects.count() == 2


THREADS = 4


@pytest.mark.django_db(transaction=True)
def test_workers_walking_at_once_never_take_a_step_twice():
    workflow = make_workflow(
        [
            {"do": "send_email", "subject": "One", "text": "1"},
            {"do": "tag", "add": ["one"]},
            {"do": "wait", "days": 1},
            {"do": "send_email", "subject": "Two", "text": "2"},
        ]
    )
    leads = [a_lead(email=f"lead{n}@customers.example") for n in range(40)]
    services.enroll(workflow, leads)
    start, errors, ran = threading.Barrier(THREADS), [], []

    def work() -> None:
        try:
            start.wait(timeout=30)
            ran.append(engine.run_due())
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert sum(ran) == 40
    assert Message.objects.count() == 40
    runs = list(StepRun.objects.values_list("enrollment_id", "position"))
    assert len(runs) == len(set(runs)) == 120
    assert set(Enrollment.objects.values_list("position", flat=True)) == {3}
