"""A form submission reaches its workflow's first step in the worker's next pass, and the
message it sends carries tracking, an unsubscribe link and the RFC 8058 headers."""

import time
from datetime import timedelta

import pytest
from django.core import mail

from leadloop import journey
from leadloop.core.models import Message, MessageStatus
from leadloop.nurture import services
from leadloop.nurture.models import Enrollment, EnrollmentStatus, StepRun, Workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def welcome(db) -> Workflow:
    workflow = Workflow.objects.create(
        name="Welcome",
        trigger={"on": "form_submitted"},
        steps=[
            {
                "do": "send_email",
                "subject": "Welcome, {{ lead.first_name }}",
                "text": "Hello {{ lead.first_name }}, see https://cleanpro.example/guide",
                "html": '<p>Hello {{ lead.first_name }}, see <a href="https://cleanpro.example/guide?a=1&b=2">the guide</a></p>',
            },
            {"do": "wait", "days": 1},
            {"do": "send_email", "subject": "Day two", "text": "More."},
        ],
        is_active=True,
    )
    services.publish(workflow)
    return workflow


def test_a_captured_lead_gets_the_first_email_in_the_next_pass(welcome, api):
    api({"email": "ann@analytical.example", "first_name": "Ann <b>"})

    journey.follow_up()

    enrollment = Enrollment.objects.get()
    assert enrollment.status == EnrollmentStatus.ACTIVE and enrollment.position == 2
    assert [run.kind for run in StepRun.objects.order_by("pk")] == ["send_email", "wait"]
    sent = Message.objects.get(kind="nurture")
    assert sent.status == MessageStatus.SENT
    email = mail.outbox[-1]
    assert email.subject == "Welcome, Ann <b>"
    html = email.alternatives[0][0]
    assert "Ann &lt;b&gt;" in html
    assert "/n/c/" in html and "/n/o/" in html
    assert "https://cleanpro.example/guide" not in html
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/n/u/" in email.body


def test_the_first_email_reaches_a_real_mail_server_within_a_second_of_the_capture(
    welcome, api, smtp
):
    """Issue 6's speed: POST /api/v1/leads, one worker pass, and the first step's email is at
    the SMTP server, all inside a second."""
    started = time.monotonic()
    assert api({"email": "ben@analytical.example", "first_name": "Ben"}).status_code == 201
    journey.follow_up()
    elapsed = time.monotonic() - started

    [email] = smtp.to("ben@analytical.example")
    assert elapsed < 1.0, f"{elapsed:.3f} s"
    assert email["Subject"] == "Welcome, Ben"
    message = Message.objects.get(kind="nurture")
    assert email["Message-ID"] == f"<{message.key}@leadloop>"
    assert message.sent_at - message.lead.captured_at < timedelta(seconds=1)
