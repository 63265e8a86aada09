"""A published version is what a lead walks: editing the draft and publishing again changes
nothing for leads already on their way, until they are moved to the latest version on purpose
(and those whose step is gone leave, "step removed")."""

from datetime import timedelta

import pytest

from leadloop.nurture import services
from leadloop.nurture.models import Enrollment, EnrollmentStatus
from tests.nurture.conftest import a_lead, make_workflow, settle

pytestmark = pytest.mark.django_db


def email(subject: str) -> dict:
    return {"do": "send_email", "subject": subject, "text": subject}


V1 = [
    email("One"),
    {"do": "wait", "days": 1},
    email("Two"),
    {"do": "wait", "days": 1},
    email("Three"),
]
V2 = [email("One"), {"do": "wait", "days": 1}, email("Two, rewritten")]


def subjects_to(smtp, address: str) -> list[str]:
    return [m["Subject"] for m in smtp.to(address)]


def publish_v2(workflow):
    workflow.steps = V2
    workflow.save()
    return services.publish(workflow, by="olive")


def test_leads_on_their_way_keep_walking_the_version_they_entered_on(clock, smtp):
    workflow = make_workflow(V1)
    services.enroll(workflow, [a_lead()])
    settle()

    v2 = publish_v2(workflow)
    services.enroll(workflow, [a_lead(email="otto@customers.example")])
    for _ in range(2):
        clock.shift(timedelta(days=1))
        settle()

    assert v2.number == 2 and workflow.published == v2
    assert subjects_to(smtp, "lena@customers.example") == ["One", "Two", "Three"]
    assert subjects_to(smtp, "otto@customers.example") == ["One", "Two, rewritten"]
    versions = dict(Enrollment.objects.values_list("lead__email", "version__number"))
    assert versions == {"lena@customers.example": 1, "otto@customers.example": 2}


def test_moving_to_the_latest_version_keeps_the_step_and_drops_those_past_its_end(clock, smtp):
    workflow = make_workflow(V1)
    services.enroll(workflow, [a_lead()])
    settle()
    clock.shift(timedelta(days=1))
    settle()  # Lena had "Two" and waits before step 4, which v2 does not have
    services.enroll(workflow, [a_lead(email="otto@customers.example")])
    settle()  # Otto had "One" and waits before step 2
    publish_v2(workflow)

    assert services.move_to_latest(workflow) == (1, 1)

    lena = Enrollment.objects.get(lead__email="lena@customers.example")
    assert (lena.status, lena.exit_reason) == (EnrollmentStatus.EXITED, "step removed")
    assert lena.version.number == 1
    otto = Enrollment.objects.get(lead__email="otto@customers.example")
    assert (otto.status, otto.version.number, otto.position) == (EnrollmentStatus.ACTIVE, 2, 2)
    clock.shift(timedelta(days=1))
    settle()
    assert subjects_to(smtp, "lena@customers.example") == ["One", "Two"]
    assert subjects_to(smtp, "otto@customers.example") == ["One", "Two, rewritten"]
    otto.refresh_from_db()
    assert otto.status == EnrollmentStatus.COMPLETED
