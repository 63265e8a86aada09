"""A workflow's report on a small history built by hand: six leads over two versions, with
step runs, messages opened and clicked, a goal exit and a lead who became a customer. Every
figure is checked exactly, and the report costs the same few queries however many leads."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from leadloop.core.models import Event, Lead, Message, MessageChannel, MessageStatus
from leadloop.nurture import services
from leadloop.nurture.models import Enrollment, EnrollmentStatus, StepRun, Workflow
from leadloop.nurture.report import origin_of, workflow_report

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
V1 = [
    {"do": "send_email", "subject": "Hello", "text": "Hi"},
    {"do": "wait", "days": 1},
    {"do": "send_email", "subject": "Again", "text": "Hi again"},
]
V2 = [
    {"do": "send_email", "subject": "Hello", "text": "Hi"},
    {"do": "exit", "reason": "done"},
]


class History:
    """The workflow and its leads, named by what happened to them."""

    def __init__(self) -> None:
        self.workflow = Workflow.objects.create(
            name="Report me", trigger={"on": "form_submitted"}, steps=V1
        )
        self.v1 = services.publish(self.workflow)
        self.workflow.steps = V2
        self.workflow.save()
        self.v2 = services.publish(self.workflow)
        self.message_count = 0

    def enroll(self, name: str, version, status: str, reason: str = "") -> Enrollment:
        lead = Lead.objects.create(first_name=name, email=f"{name}@example.com")
        return Enrollment.objects.create(
            workflow=self.workflow,
            version=version,
            lead=lead,
            status=status,
            exit_reason=reason,
            entered_at=T0,
        )

    def took(self, enrollment: Enrollment, position: int, hours: int = 0) -> None:
        kind = enrollment.version.steps[position]["do"]
        StepRun.objects.create(
            enrollment=enrollment,
            version=enrollment.version,
            position=position,
            kind=kind,
            at=T0 + timedelta(hours=hours),
        )

    def sent(self, enrollment, position, status=MessageStatus.SENT, opened=False, clicked=False):
        self.message_count += 1
        Message.objects.create(
            lead=enrollment.lead,
            channel=MessageChannel.EMAIL,
            to=enrollment.lead.email,
            body="Hi",
            kind="nurture",
            key=f"report-{self.message_count}",
            origin=origin_of(self.workflow.pk, enrollment.version.number, position),
            status=status,
            opened_at=T0 if opened else None,
            clicked_at=T0 if clicked else None,
        )


@pytest.fixture
def history() -> History:
    h = History()
    # Ann walked v1 to the end; she had won a deal before she entered, which is not this
    # workflow's doing.
    ann = h.enroll("ann", h.v1, EnrollmentStatus.COMPLETED)
    Event.objects.create(lead=ann.lead, type="deal.won", occurred_at=T0 - timedelta(days=30))
    for position, hours in ((0, 0), (1, 1), (2, 25)):
        h.took(ann, position, hours)
    h.sent(ann, 0, opened=True, clicked=True)
    h.sent(ann, 2, opened=True)
    # Bob met the goal after the wait.
    bob = h.enroll("bob", h.v1, EnrollmentStatus.EXITED, "goal")
    h.took(bob, 0)
    h.took(bob, 1, 1)
    h.sent(bob, 0, opened=True)
    # Cat unsubscribed after the first email, which she never opened.
    cat = h.enroll("cat", h.v1, EnrollmentStatus.EXITED, "unsubscribed")
    h.took(cat, 0)
    h.sent(cat, 0)
    # Dan is still waiting; his first email is not sent yet; he became a customer between
    # the first step and the wait.
    dan = h.enroll("dan", h.v1, EnrollmentStatus.ACTIVE)
    h.took(dan, 0)
    h.took(dan, 1, 2)
    h.sent(dan, 0, status=MessageStatus.PENDING)
    Event.objects.create(
        lead=dan.lead,
        type="stage.changed",
        data={"from": "lead", "to": "customer"},
        occurred_at=T0 + timedelta(hours=1),
    )
    # Eve, on v2, failed after her email (clicked in a client that blocks images: no open).
    eve = h.enroll("eve", h.v2, EnrollmentStatus.FAILED)
    h.took(eve, 0)
    h.sent(eve, 0, clicked=True)
    # Fay, on v2, was suppressed and unsubscribed.
    fay = h.enroll("fay", h.v2, EnrollmentStatus.EXITED, "unsubscribed")
    h.took(fay, 0)
    h.took(fay, 1)
    h.sent(fay, 0, status=MessageStatus.SUPPRESSED)
    # Another workflow's message never counts here.
    other = Workflow.objects.create(name="Other", trigger={"on": "form_submitted"}, steps=V1)
    Message.objects.create(
        channel=MessageChannel.EMAIL,
        to="x@example.com",
        body="x",
        kind="nurture",
        key="other-1",
        status=MessageStatus.SENT,
        opened_at=T0,
        origin=origin_of(other.pk, 1, 0),
    )
    return h


def step(report: dict, version: int, position: int) -> dict:
    (found,) = [v for v in report["versions"] if v["number"] == version]
    return found["steps"][position]


def test_the_totals_count_every_enrollment_by_how_it_ended(history):
    report = workflow_report(history.workflow)

    assert report["enrolled"] == 6
    assert report["active"] == 1
    assert report["completed"] == 1
    assert report["exited"] == 3
    assert report["exited_by_reason"] == {"unsubscribed": 2, "goal": 1}
    assert report["failed"] == 1
    assert report["converted"] == 2  # Bob by the goal, Dan as a customer after entering
    assert report["conversion_rate"] == round(2 / 6, 4)


def test_each_step_shows_taken_sent_opened_clicked_and_converted(history):
    report = workflow_report(history.workflow)

    assert [v["number"] for v in report["versions"]] == [2, 1]
    first = step(report, 1, 0)
    assert {k: first[k] for k in ("taken", "leads", "sent", "opened", "clicked", "converted")} == {
        "taken": 4,
        "leads": 4,
        "sent": 3,
        "opened": 2,
        "clicked": 1,
        "converted": 2,
    }
    assert first["open_rate"] == round(2 / 3, 4)
    assert first["click_rate"] == round(1 / 3, 4)
    assert first["conversion_rate"] == 0.5
    assert first["kind"] == "send_email" and first["summary"] == "email: Hello"

    wait = step(report, 1, 1)
    # Dan became a customer before he reached the wait: only Bob's goal counts there.
    assert (wait["taken"], wait["sent"], wait["converted"]) == (3, 0, 1)
    assert wait["open_rate"] is None

    last = step(report, 1, 2)
    assert (last["taken"], last["sent"], last["opened"], last["clicked"], last["converted"]) == (
        1,
        1,
        1,
        0,
        0,
    )

    assert (step(report, 2, 0)["taken"], step(report, 2, 0)["sent"]) == (2, 1)
    assert (step(report, 2, 0)["opened"], step(report, 2, 0)["clicked"]) == (0, 1)
    assert step(report, 2, 1)["taken"] == 1 and step(report, 2, 1)["kind"] == "exit"


def test_a_workflow_nobody_entered_reports_zeros_not_errors(db):
    workflow = Workflow.objects.create(name="Empty", trigger={"on": "form_submitted"}, steps=V1)
    services.publish(workflow)

    report = workflow_report(workflow)

    assert report["enrolled"] == 0 and report["conversion_rate"] is None
    assert step(report, 1, 0)["taken"] == 0 and step(report, 1, 0)["open_rate"] is None


def test_the_report_takes_five_queries_however_many_leads(history, django_assert_num_queries):
    with django_assert_num_queries(5):
        workflow_report(history.workflow)
    for i in range(5):
        enrollment = history.enroll(f"more{i}", history.v1, EnrollmentStatus.ACTIVE)
        history.took(enrollment, 0)
        history.sent(enrollment, 0, opened=True)
    with django_assert_num_queries(5):
        report = workflow_report(history.workflow)
    assert step(report, 1, 0)["taken"] == 9


def test_the_api_gives_staff_the_report(history, admin_client):
    response = admin_client.get(f"/api/v1/workflows/{history.workflow.pk}/report")

    assert response.status_code == 200
    body = response.json()
    assert body == json_round_trip(workflow_report(history.workflow))
    assert body["exited_by_reason"] == {"unsubscribed": 2, "goal": 1}


def test_the_api_refuses_anonymous_and_non_staff_users(history, client, django_user_model):
    url = f"/api/v1/workflows/{history.workflow.pk}/report"
    assert client.get(url).status_code == 401

    rep = django_user_model.objects.create_user("rep", password="pw", is_staff=False)
    client.force_login(rep)
    assert client.get(url).status_code == 403


def test_the_api_says_so_when_there_is_no_such_workflow(admin_client):
    assert admin_client.get("/api/v1/workflows/999999/report").status_code == 404


def json_round_trip(data: dict) -> dict:
    return json.loads(json.dumps(data))
