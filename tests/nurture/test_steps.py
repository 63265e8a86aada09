"""Every kind of step, each seen from outside: emails and notices at a real SMTP server, SMS in
the provider's file, webhooks at a real HTTP receiver, and the lead's fields, stage, tags,
segments and tasks in the database."""

import json
from datetime import timedelta

import pytest

from leadloop.core import outbox
from leadloop.core import services as core
from leadloop.core.models import Event, Lead, Message, MessageStatus, Task
from leadloop.nurture import services
from leadloop.nurture.models import (
    EmailTemplate,
    Enrollment,
    EnrollmentStatus,
    Segment,
    SegmentMember,
    StepRun,
)
from tests.mail_server import text_of
from tests.nurture.conftest import (
    MONDAY_10,
    a_lead,
    grant_sms,
    make_workflow,
    message_ids,
    settle,
    unsubscribe_link_of,
)

pytestmark = pytest.mark.django_db


def start(steps: list, lead: Lead | None = None, **fields) -> Enrollment:
    """Enroll a lead (Lena by default) in a new workflow of `steps` and run the worker."""
    workflow = make_workflow(steps, **fields)
    [enrollment] = services.enroll(workflow, [lead or a_lead()], why="by hand")
    settle()
    enrollment.refresh_from_db()
    return enrollment


# --- email ---------------------------------------------------------------------------------


def test_a_template_email_speaks_of_the_lead_and_its_owner_and_escapes_what_the_lead_typed(
    clock, smtp, owner
):
    EmailTemplate.objects.create(
        name="Quote",
        slug="quote",
        subject="Your quote, {{ lead.first_name }}",
        text="Hi {{ lead.first_name }}, {{ owner.name }} ({{ owner.email }}) has your "
        "{{ lead.service }} quote.",
        html="<p>Hi {{ lead.first_name }}, {{ owner.name }} has your quote.</p>"
        '<a href="https://cleanpro.example/book">Book</a>',
    )
    lena = a_lead(first_name="Lena <script>x</script>", owner=owner)
    lena.custom_fields = {"service": "deep clean"}
    lena.save()

    enrollment = start([{"do": "send_email", "template": "quote"}], lena)

    assert enrollment.status == EnrollmentStatus.COMPLETED
    [email] = smtp.messages
    assert email["To"] == "lena@customers.example"
    assert email["Subject"] == "Your quote, Lena <script>x</script>"
    text, html = text_of(email), text_of(email, "html")
    assert "Hi Lena <script>x</script>, Olive Owner (olive@cleanpro.example) has your" in text
    assert "deep clean quote" in text
    assert "Hi Lena &lt;script&gt;x&lt;/script&gt;, Olive Owner has your quote." in html
    assert "<script>" not in html
    assert "/n/u/" in unsubscribe_link_of(email)
    message = Message.objects.get(kind="nurture")
    assert message_ids(smtp) == [message.key]
    assert message.status == MessageStatus.SENT and message.marketing


def test_an_inline_email_has_its_text_as_html_and_the_unsubscribe_link_in_the_text(clock, smtp):
    start([{"do": "send_email", "subject": "Hello", "text": "Hi {{ lead.first_name }} & co."}])

    [email] = smtp.messages
    assert text_of(email).startswith("Hi Lena & co.")
    assert "Unsubscribe: http" in text_of(email)
    assert "Hi Lena &amp; co." in text_of(email, "html")
    assert email["List-Unsubscribe"].strip() == f"<{unsubscribe_link_of(email)}>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_lead_without_an_email_address_skips_the_email_step(clock, smtp):
    enrollment = start([{"do": "send_email", "subject": "Hi", "text": "Hi"}], a_lead(email=""))

    assert enrollment.status == EnrollmentStatus.COMPLETED
    assert StepRun.objects.get().outcome == "skipped: no email address"
    assert smtp.messages == []


# --- SMS -----------------------------------------------------------------------------------


def test_an_sms_goes_to_a_lead_who_agreed_to_texts(clock, sms):
    lena = a_lead(phone="+493012345678")  # Berlin, 11:00 there
    grant_sms(lena)

    start([{"do": "send_sms", "text": "Hi {{ lead.first_name }}, your quote is ready."}], lena)

    [text] = sms()
    assert text["to"] == "+493012345678" and text["body"] == "Hi Lena, your quote is ready."
    assert Message.objects.get(channel="sms").status == MessageStatus.SENT


def test_an_sms_without_sms_consent_on_record_is_suppressed(clock, sms):
    start([{"do": "send_sms", "text": "Hi"}], a_lead(phone="+493012345678"))

    assert sms() == []
    message = Message.objects.get(channel="sms")
    assert message.status == MessageStatus.SUPPRESSED
    assert message.last_error == "no SMS consent on record"


# --- waiting -------------------------------------------------------------------------------


def test_a_wait_holds_the_next_email_until_its_time(clock, smtp):
    enrollment = start(
        [
            {"do": "send_email", "subject": "One", "text": "1"},
            {"do": "wait", "days": 2},
            {"do": "send_email", "subject": "Two", "text": "2"},
        ]
    )
    assert [m["Subject"] for m in smtp.messages] == ["One"]
    assert enrollment.due_at == MONDAY_10 + timedelta(days=2)

    clock.shift(timedelta(days=1, hours=23))
    settle()
    assert [m["Subject"] for m in smtp.messages] == ["One"]

    clock.shift(timedelta(hours=1))
    settle()
    assert [m["Subject"] for m in smtp.messages] == ["One", "Two"]
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.COMPLETED


WAIT_FOR_BOOKING = [
    {
        "do": "wait_for",
        "event": "meeting.booked",
        "where": {"kind": "quote visit"},
        "timeout": {"days": 3},
        "next": "booked",
        "on_timeout": "nudge",
    },
    {"label": "nudge", "do": "tag", "add": ["nudged"], "next": "end"},
    {"label": "booked", "do": "tag", "add": ["booked"]},
    {"label": "end", "do": "exit", "reason": "done"},
]


def tags_of(lead: Lead) -> set[str]:
    return set(lead.tags.values_list("tag", flat=True))


def test_a_wait_for_is_woken_by_its_event_and_goes_to_next(clock):
    lena = a_lead()
    enrollment = start(WAIT_FOR_BOOKING, lena)
    assert enrollment.status == EnrollmentStatus.ACTIVE and enrollment.waiting_for

    clock.shift(timedelta(hours=5))
    core.record_event(lena, "meeting.booked", {"kind": "phone call"})  # not the one awaited
    settle()
    assert tags_of(lena) == set()

    core.record_event(lena, "meeting.booked", {"kind": "quote visit"})
    settle()

    enrollment.refresh_from_db()
    assert tags_of(lena) == {"booked"}
    assert (enrollment.status, enrollment.exit_reason) == (EnrollmentStatus.EXITED, "done")


def test_a_wait_for_that_times_out_goes_to_on_timeout(clock):
    lena = a_lead()
    enrollment = start(WAIT_FOR_BOOKING, lena)

    clock.shift(timedelta(days=2, hours=23))
    settle()
    assert tags_of(lena) == set()

    clock.shift(timedelta(hours=1))
    settle()

    enrollment.refresh_from_db()
    assert tags_of(lena) == {"nudged"}
    assert (enrollment.status, enrollment.exit_reason) == (EnrollmentStatus.EXITED, "done")


# --- the lead's record ---------------------------------------------------------------------


def test_set_field_writes_the_lead_and_the_next_step_sees_the_new_value(clock, smtp):
    lena = a_lead(custom_fields={"plan": "basic"})

    start(
        [
            {"do": "set_field", "field": "custom_fields.plan", "value": "gold"},
            {"do": "set_field", "field": "first_name", "value": "Magdalena"},
            {
                "do": "send_email",
                "subject": "Hi",
                "text": "Hi {{ lead.first_name }}, {{ lead.plan }}",
            },
        ],
        lena,
    )

    lena.refresh_from_db()
    assert lena.custom_fields == {"plan": "gold"} and lena.first_name == "Magdalena"
    assert Event.objects.filter(lead=lena, type="lead.field_set").count() == 2
    [email] = smtp.messages
    assert text_of(email).startswith("Hi Magdalena, gold")


def test_set_stage_moves_the_lead_with_a_reason_on_its_timeline(clock):
    lena = a_lead()

    start([{"do": "set_stage", "stage": "mql", "why": "read three emails"}], lena)

    lena.refresh_from_db()
    assert lena.lifecycle_stage == "mql"
    changed = Event.objects.get(lead=lena, type="stage.changed")
    assert changed.data["to"] == "mql" and changed.data["why"] == "read three emails"
    assert changed.actor == "nurture"


def test_adjust_score_runs_and_the_workflow_goes_on(clock):
    enrollment = start([{"do": "adjust_score", "points": 10, "why": "asked for prices"}])

    assert enrollment.last_error == ""
    assert enrollment.status == EnrollmentStatus.COMPLETED
    assert StepRun.objects.filter(kind="adjust_score").count() == 1


def test_create_task_gives_the_owner_a_task_with_its_due_time(clock, owner):
    lena = a_lead(owner=owner)

    start(
        [{"do": "create_task", "title": "Call {{ lead.first_name }}", "due_in": {"hours": 4}}], lena
    )

    task = Task.objects.get()
    assert (task.owner, task.lead, task.title) == (owner, lena, "Call Lena")
    assert task.due_at == MONDAY_10 + timedelta(hours=4)
    assert task.origin.startswith("workflow:")


def test_notify_owner_emails_the_owner_not_the_lead(clock, smtp, owner):
    lena = a_lead(owner=owner)

    start([{"do": "notify_owner", "text": "{{ lead.first_name }} read every email."}], lena)

    [email] = smtp.messages
    assert email["To"] == "olive@cleanpro.example"
    assert text_of(email).strip() == "Lena read every email."
    notice = Message.objects.get()
    assert (notice.to_lead, notice.marketing, notice.kind) == (False, False, "nurture_notice")


def test_a_webhook_step_posts_the_lead_signed(clock, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    lena = a_lead(phone="+493012345678")

    start([{"do": "webhook", "url": httpserver.url_for("/hook")}], lena, name="Hooked")

    [(request, response)] = httpserver.log
    assert response.status_code == 200
    body = request.get_data()
    payload = json.loads(body)
    assert payload["workflow"] == "Hooked"
    assert payload["lead"]["id"] == lena.pk and payload["lead"]["email"] == lena.email
    message = Message.objects.get()
    assert request.headers["X-Leadloop-Delivery"] == message.key
    stamp = int(request.headers["X-Leadloop-Signature"].split(",")[0].removeprefix("t="))
    expected = outbox.signature_headers(message.key, body, at=stamp)
    assert request.headers["X-Leadloop-Signature"] == expected["X-Leadloop-Signature"]
    assert message.status == MessageStatus.SENT


def test_tag_steps_add_and_remove(clock):
    lena = a_lead()
    core.tag(lena, add=["cold"], by="rita")

    start([{"do": "tag", "add": ["warm", "pricing"], "remove": ["cold"]}], lena)

    assert tags_of(lena) == {"warm", "pricing"}
    assert Event.objects.filter(lead=lena, type="tag.removed", data__tag="cold").exists()


def test_segment_steps_add_and_remove(clock):
    Segment.objects.create(name="Warm", slug="warm")
    cold = Segment.objects.create(name="Cold", slug="cold")
    lena = a_lead()
    SegmentMember.objects.create(segment=cold, lead=lena)

    start([{"do": "segment", "add": ["warm"], "remove": ["cold"]}], lena)

    members = SegmentMember.objects.filter(lead=lena)
    assert list(members.values_list("segment__slug", flat=True)) == ["warm"]
    types = list(Event.objects.filter(type__startswith="segment.").values_list("type", "data"))
    assert types == [("segment.joined", {"segment": "warm"}), ("segment.left", {"segment": "cold"})]


# --- leaving -------------------------------------------------------------------------------

BOOKED = {"event": "meeting.booked"}


def test_a_goal_step_ends_the_run_when_met_and_goes_on_when_not(clock):
    steps = [{"do": "goal", "if": BOOKED}, {"do": "tag", "add": ["went on"]}]
    lena, otto = a_lead(), a_lead(email="otto@customers.example")
    core.record_event(lena, "meeting.booked", {})

    met = start(steps, lena)
    not_met = start(steps, otto)

    assert (met.status, met.exit_reason) == (EnrollmentStatus.EXITED, "goal")
    assert tags_of(lena) == set()
    assert not_met.status == EnrollmentStatus.COMPLETED and tags_of(otto) == {"went on"}


def test_a_lead_meeting_the_workflow_goal_leaves_at_its_next_step(clock, smtp):
    lena = a_lead()
    enrollment = start(
        [
            {"do": "send_email", "subject": "One", "text": "1"},
            {"do": "wait", "days": 1},
            {"do": "send_email", "subject": "Two", "text": "2"},
        ],
        lena,
        goal=BOOKED,
    )
    core.record_event(lena, "meeting.booked", {})

    clock.shift(timedelta(days=1))
    settle()

    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.exit_reason) == (EnrollmentStatus.EXITED, "goal")
    assert [m["Subject"] for m in smtp.messages] == ["One"]
    assert Event.objects.get(lead=lena, type="workflow.exited").data["reason"] == "goal"


@pytest.mark.parametrize("how", ["stage sql", "reached by phone"])
def test_a_lead_in_a_sales_conversation_leaves(clock, smtp, how):
    lena = a_lead()
    enrollment = start(
        [
            {"do": "send_email", "subject": "One", "text": "1"},
            {"do": "wait", "days": 1},
            {"do": "send_email", "subject": "Two", "text": "2"},
        ],
        lena,
    )
    if how == "stage sql":
        core.move_stage(lena, "sql", by="rita", why="budget and timing confirmed")
    else:
        core.record_event(lena, "contact.attempted", {"outcome": "no answer"}, actor="rita")
        core.record_event(lena, "contact.attempted", {"outcome": "reached"}, actor="rita")

    clock.shift(timedelta(days=1))
    settle()

    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.EXITED
    assert enrollment.exit_reason == "sales conversation"
    assert [m["Subject"] for m in smtp.messages] == ["One"]


def test_an_exit_step_ends_the_run_with_its_reason(clock):
    enrollment = start([{"do": "exit", "reason": "not a fit"}, {"do": "tag", "add": ["never"]}])

    assert (enrollment.status, enrollment.exit_reason) == (EnrollmentStatus.EXITED, "not a fit")
    assert enrollment.finished_at is not None and enrollment.due_at is None
    assert not StepRun.objects.filter(kind="tag").exists()
