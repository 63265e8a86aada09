"""Email providers report back through anymail's webhooks: Postmark's payloads (from its
webhook documentation) POSTed to the real URLs with the shared secret as basic auth. A bounce
suppresses the address for every message, a complaint for marketing, an unsubscribe withdraws
consent, opens and clicks land on the message the provider sent, and a reply ends the lead's
workflows. A call without the secret changes nothing."""

import base64
import json

import pytest
from django.core import mail
from django.test import Client

from leadloop.compliance import services as compliance
from leadloop.compliance.models import Consent, Suppression, SuppressionReason
from leadloop.core import outbox
from leadloop.core.keys import email_key
from leadloop.core.models import Event, Lead, Message, MessageStatus
from leadloop.core.reactions import deliver_due
from leadloop.nurture import services
from leadloop.nurture.models import Enrollment, EnrollmentStatus, Workflow

pytestmark = pytest.mark.django_db

SECRET = "postmark:webhook-s3cret"
TRACKING = "/anymail/postmark/tracking/"
INBOUND = "/anymail/postmark/inbound/"
POSTMARK_ID = "883953f4-6105-42a2-a16a-77a8eac79483"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


@pytest.fixture
def ann(db) -> Lead:
    """A lead whose mailbox will bounce, complain or reply."""
    return Lead.objects.create(
        first_name="Ann",
        email="Ann@Analytical.example",
        email_key=email_key("ann@analytical.example"),
    )


def postmark(url: str, payload: dict, secret: str = SECRET):
    auth = base64.b64encode(secret.encode()).decode()
    return Client().post(
        url,
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {auth}",
    )


def bounce(email: str, kind: str = "HardBounce") -> dict:
    return {
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": kind,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "welcome",
        "MessageID": POSTMARK_ID,
        "Metadata": {},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "leadloop@cleanpro.example",
        "BouncedAt": "2025-11-05T16:33:54.9070259Z",
        "DumpAvailable": False,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Welcome",
    }


def complaint(email: str) -> dict:
    return {
        **bounce(email),
        "RecordType": "SpamComplaint",
        "ID": 42,
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "Description": "",
        "Details": "Test spam complaint details",
    }


def engagement(record_type: str, email: str, message_id: str, **extra) -> dict:
    return {
        "RecordType": record_type,
        "MessageStream": "outbound",
        "Client": {"Name": "Chrome 35.0.1916.153", "Company": "Google", "Family": "Chrome"},
        "OS": {"Name": "OS X 10.7 Lion", "Company": "Apple Computer, Inc.", "Family": "OS X 10"},
        "Platform": "WebMail",
        "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) Chrome/35.0.1916.153",
        "Geo": {"CountryISOCode": "RS", "Country": "Serbia", "City": "Novi Sad"},
        "MessageID": message_id,
        "Metadata": {},
        "ReceivedAt": "2025-11-05T16:33:54.9070259Z",
        "Tag": "welcome",
        "Recipient": email,
        **extra,
    }


def send(lead: Lead, *, marketing: bool) -> Message:
    message = outbox.queue(
        lead,
        "email",
        lead.email,
        "Hello",
        subject="Hello",
        kind="nurture" if marketing else "acknowledgement",
        to_lead=True,
        marketing=marketing,
    )
    outbox.send_due()
    message.refresh_from_db()
    return message


def events(lead: Lead, type: str) -> list[Event]:
    return list(lead.events.filter(type=type))


def test_a_hard_bounce_suppresses_the_address_for_every_message(ann):
    response = postmark(TRACKING, bounce("ann@analytical.example"))

    assert response.status_code == 200
    suppression = Suppression.objects.get()
    assert (suppression.address, suppression.channel, suppression.reason) == (
        "ann@analytical.example",
        "email",
        SuppressionReason.BOUNCED,
    )
    assert "550 5.1.1" in suppression.detail
    [bounced] = events(ann, "email.bounced")
    assert bounced.actor == "Postmark" and bounced.data["provider_message_id"] == POSTMARK_ID
    assert bounced.occurred_at.isoformat().startswith("2025-11-05T16:33:54")
    marketing, receipt = send(ann, marketing=True), send(ann, marketing=False)
    assert marketing.status == receipt.status == MessageStatus.SUPPRESSED
    assert "bounced" in receipt.last_error
    assert mail.outbox == []


def test_a_bounce_reaches_every_lead_with_that_mailbox(ann):
    twin = Lead.objects.create(
        email="ann@analytical.example", email_key=ann.email_key, duplicate_of=ann
    )

    postmark(TRACKING, bounce("ANN@analytical.example"))

    assert len(events(ann, "email.bounced")) == len(events(twin, "email.bounced")) == 1


def test_a_complaint_stops_marketing_but_not_the_receipt_the_person_asked_for(ann):
    response = postmark(TRACKING, complaint("ann@analytical.example"))

    assert response.status_code == 200
    assert Suppression.objects.get().reason == SuppressionReason.COMPLAINED
    assert len(events(ann, "email.complained")) == 1
    assert send(ann, marketing=True).status == MessageStatus.SUPPRESSED
    assert send(ann, marketing=False).status == MessageStatus.SENT


def test_a_later_unsubscribe_does_not_lift_a_bounce_for_transactional_mail(ann):
    postmark(TRACKING, bounce("ann@analytical.example"))
    compliance.withdraw(ann, "email", wording="Unsubscribed through the link in an email")

    assert Suppression.objects.get().reason == SuppressionReason.BOUNCED
    assert send(ann, marketing=False).status == MessageStatus.SUPPRESSED


def test_a_provider_refusing_an_invalid_address_counts_as_a_bounce(ann):
    postmark(TRACKING, bounce("ann@analytical.example", kind="BadEmailAddress"))

    assert Suppression.objects.get().reason == SuppressionReason.BOUNCED
    assert len(events(ann, "email.bounced")) == 1


@pytest.mark.parametrize("kind", ["Transient", "SoftBounce"])
def test_a_delayed_delivery_or_a_full_mailbox_suppresses_nothing(ann, kind):
    postmark(TRACKING, bounce("ann@analytical.example", kind=kind))

    assert not Suppression.objects.exists()
    assert not ann.events.exists()


def test_an_unsubscribe_at_the_provider_withdraws_email_consent(ann):
    change = {
        "RecordType": "SubscriptionChange",
        "MessageID": POSTMARK_ID,
        "ServerID": 23,
        "MessageStream": "outbound",
        "ChangedAt": "2025-11-05T16:33:54.416071Z",
        "Recipient": "ann@analytical.example",
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Tag": "welcome",
        "Metadata": {},
    }

    assert postmark(TRACKING, change).status_code == 200

    assert Suppression.objects.get().reason == SuppressionReason.UNSUBSCRIBED
    refusal = Consent.objects.get(lead=ann)
    assert not refusal.granted and refusal.wording == "Unsubscribed at Postmark"
    assert len(events(ann, "email.unsubscribed")) == 1
    assert send(ann, marketing=True).status == MessageStatus.SUPPRESSED


def test_a_wrong_secret_is_refused_and_records_nothing(ann):
    for secret in ("postmark:guessed", ""):
        response = postmark(TRACKING, bounce("ann@analytical.example"), secret=secret)
        assert response.status_code in (400, 401, 403)

    assert not Suppression.objects.exists()
    assert not Event.objects.exists()


def test_without_a_configured_secret_the_webhooks_refuse_everyone(ann):
    """settings.py puts an unguessable secret in when ANYMAIL_WEBHOOK_SECRET is unset."""
    from leadloop import settings as configured

    [unset] = configured.ANYMAIL["WEBHOOK_SECRET"]
    assert unset.startswith("unset:") and len(unset) > 40


def test_opens_and_clicks_the_provider_tracked_land_on_the_message_it_sent(
    ann, httpserver, settings
):
    """The outbox hands the email to anymail's Postmark backend (a loopback stand-in for
    api.postmarkapp.com), keeps Postmark's MessageID, and the provider's open and click
    events for that id become the message's first open and click."""
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        "WEBHOOK_SECRET": SECRET,
        "POSTMARK_SERVER_TOKEN": "server-token",
        "POSTMARK_API_URL": httpserver.url_for("/"),
    }
    httpserver.expect_oneshot_request("/email", method="POST").respond_with_json(
        {
            "To": "Ann@Analytical.example",
            "SubmittedAt": "2025-11-05T16:33:54.9070259Z",
            "MessageID": POSTMARK_ID,
            "ErrorCode": 0,
            "Message": "OK",
        }
    )
    sent = send(ann, marketing=True)
    assert sent.status == MessageStatus.SENT and sent.provider_id == POSTMARK_ID
    assert httpserver.log[0][0].headers["X-Postmark-Server-Token"] == "server-token"

    postmark(TRACKING, engagement("Open", "ann@analytical.example", POSTMARK_ID, FirstOpen=True))
    postmark(
        TRACKING,
        engagement(
            "Click", "ann@analytical.example", POSTMARK_ID, OriginalLink="https://cleanpro.example/"
        ),
    )
    postmark(TRACKING, engagement("Open", "ann@analytical.example", "not-one-of-ours"))

    sent.refresh_from_db()
    assert sent.opened_at is not None and sent.clicked_at is not None
    [opened] = events(ann, "email.opened")
    [clicked] = events(ann, "email.clicked")
    assert opened.data == {"key": sent.key, "origin": "", "via": "Postmark"}
    assert clicked.data["url"] == "https://cleanpro.example/"


def inbound_email(sender: str, **headers: str) -> dict:
    return {
        "FromName": "Ann",
        "MessageStream": "inbound",
        "From": sender,
        "FromFull": {"Email": sender, "Name": "Ann", "MailboxHash": ""},
        "To": "replies@cleanpro.example",
        "ToFull": [{"Email": "replies@cleanpro.example", "Name": "", "MailboxHash": ""}],
        "Cc": "",
        "CcFull": [],
        "Bcc": "",
        "BccFull": [],
        "OriginalRecipient": "replies@cleanpro.example",
        "Subject": "Re: Welcome",
        "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b",
        "ReplyTo": "",
        "MailboxHash": "",
        "Date": "Fri, 1 Aug 2025 16:45:32 -04:00",
        "TextBody": "Yes please, call me tomorrow.\n\n> Hello Ann",
        "HtmlBody": "",
        "StrippedTextReply": "Yes please, call me tomorrow.",
        "Tag": "",
        "Headers": [
            {"Name": "Return-Path", "Value": f"<{sender}>"},
            {"Name": "X-Spam-Status", "Value": "No"},
            *({"Name": name, "Value": value} for name, value in headers.items()),
        ],
        "Attachments": [],
    }


@pytest.fixture
def nurtured(ann) -> Enrollment:
    workflow = Workflow.objects.create(
        name="Welcome",
        trigger={"on": "form_submitted"},
        steps=[{"do": "wait", "days": 3}],
        is_active=True,
    )
    services.publish(workflow)
    [enrollment] = services.enroll(workflow, [ann], why="by hand")
    return enrollment


def test_a_reply_is_an_event_that_ends_the_leads_workflows(nurtured, ann):
    response = postmark(INBOUND, inbound_email("ann@analytical.example"))

    assert response.status_code == 200
    [replied] = events(ann, "email.replied")
    assert replied.data["text"] == "Yes please, call me tomorrow."
    assert replied.data["subject"] == "Re: Welcome" and replied.actor == "recipient"
    deliver_due()
    nurtured.refresh_from_db()
    assert nurtured.status == EnrollmentStatus.EXITED and nurtured.exit_reason == "replied"


def test_an_out_of_office_answer_is_not_a_reply(nurtured, ann):
    postmark(INBOUND, inbound_email("ann@analytical.example", **{"Auto-Submitted": "auto-replied"}))
    postmark(INBOUND, inbound_email("stranger@elsewhere.example"))

    assert not Event.objects.filter(type="email.replied").exists()
    deliver_due()
    nurtured.refresh_from_db()
    assert nurtured.status == EnrollmentStatus.ACTIVE


def test_a_reply_with_a_wrong_secret_is_refused(ann):
    response = postmark(INBOUND, inbound_email("ann@analytical.example"), secret="x:y")

    assert response.status_code in (400, 401, 403)
    assert not Event.objects.exists()
