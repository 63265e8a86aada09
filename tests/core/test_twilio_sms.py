"""The Twilio adapter against a loopback stand-in for api.twilio.com (TWILIO_BASE_URL): the
form Twilio's Messages API takes, with the account's basic auth, and its sid kept as the
message's provider id; a refusal or an outage leaves the message pending for a retry."""

import base64
import socket
import time

import pytest
from werkzeug import Request, Response

from leadloop.compliance import services as compliance
from leadloop.core import outbox
from leadloop.core.models import Lead, Message, MessageStatus
from leadloop.core.sms import TwilioSms
from leadloop.core.types import ConsentGiven

pytestmark = pytest.mark.django_db

SID = "AC" + "4" * 32
TOKEN = "auth-token"
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"
CAROL = "+12025550161"


@pytest.fixture
def twilio(settings, httpserver):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = SID
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_FROM = "+12025550100"
    settings.TWILIO_BASE_URL = httpserver.url_for("/")
    return httpserver


@pytest.fixture
def carol(db) -> Lead:
    lead = Lead.objects.create(first_name="Carol", phone=CAROL)
    compliance.record_consents([(lead, ConsentGiven("sms", True, "Text me about my booking"))])
    return lead


def queue_sms(lead: Lead) -> Message:
    return outbox.queue(
        lead, "sms", lead.phone, "Your clean is booked for Thursday.", kind="booking", to_lead=True
    )


def test_the_message_goes_to_the_stand_in_and_keeps_twilios_sid(twilio, carol):
    twilio.expect_oneshot_request(MESSAGES, method="POST").respond_with_json(
        {"sid": "SM" + "5" * 32, "status": "queued", "to": CAROL, "from": "+12025550100"},
        status=201,
    )
    message = queue_sms(carol)

    outbox.send_due()

    [(request, _)] = twilio.log
    assert request.form.to_dict() == {
        "To": CAROL,
        "From": "+12025550100",
        "Body": "Your clean is booked for Thursday.",
    }
    expected = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.provider_id == "SM" + "5" * 32
    assert carol.events.filter(type="sms.sent").count() == 1


@pytest.mark.parametrize(
    "status,answer",
    [
        (400, {"code": 21211, "message": "The 'To' number is not valid.", "status": 400}),
        (503, {"code": 20503, "message": "Service Unavailable", "status": 503}),
    ],
)
def test_a_refusal_leaves_the_message_pending_for_a_retry(twilio, carol, status, answer):
    twilio.expect_oneshot_request(MESSAGES, method="POST").respond_with_json(answer, status=status)
    message = queue_sms(carol)

    outbox.send_due()

    message.refresh_from_db()
    assert message.status == MessageStatus.PENDING and message.attempts == 1
    assert str(status) in message.last_error and message.provider_id == ""
    assert message.next_attempt_at is not None
    assert not carol.events.filter(type="sms.sent").exists()


def test_a_provider_that_cannot_be_reached_leaves_the_message_pending(twilio, carol, settings):
    """Connection refused: Twilio never had it, so it is retried like a refusal."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.TWILIO_BASE_URL = f"http://127.0.0.1:{port}"
    message = queue_sms(carol)

    outbox.send_due()

    message.refresh_from_db()
    assert message.status == MessageStatus.PENDING and message.attempts == 1
    assert message.last_error


def test_a_stalled_provider_fails_that_message_as_maybe_sent_and_the_pass_goes_on(
    twilio, carol, monkeypatch
):
    """A read that times out may have been taken: failed at once for a person to check, never
    sent again behind anyone's back, and the next message in the pass still goes."""
    monkeypatch.setattr(TwilioSms, "TIMEOUT_SECONDS", 1)

    def answer(request: Request) -> Response:
        if "stall" in request.form["Body"]:
            time.sleep(1.5)
        return Response(
            '{"sid": "SM' + "6" * 32 + '"}', status=201, content_type="application/json"
        )

    twilio.expect_request(MESSAGES, method="POST").respond_with_handler(answer)
    stalled = outbox.queue(carol, "sms", CAROL, "stall", kind="booking", to_lead=True)
    after = queue_sms(carol)

    outbox.send_due()

    stalled.refresh_from_db()
    after.refresh_from_db()
    assert stalled.status == MessageStatus.FAILED and "may have been sent" in stalled.last_error
    assert "Timeout" in stalled.last_error and stalled.next_attempt_at is None
    assert after.status == MessageStatus.SENT and after.provider_id == "SM" + "6" * 32
