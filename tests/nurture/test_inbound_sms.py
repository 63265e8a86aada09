"""Texts to our number arrive on Twilio's webhook, signed with the auth token
(RequestValidator.compute_signature builds the X-Twilio-Signature Twilio would send). STOP
and its synonyms suppress the number and withdraw SMS consent, START grants it again and
lifts the suppression, HELP names the business, anything else is a reply."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from leadloop.compliance import services as compliance
from leadloop.compliance.models import Consent, Suppression, SuppressionReason
from leadloop.core import outbox
from leadloop.core.models import Event, Lead, Message, MessageStatus
from leadloop.core.types import ConsentGiven
from leadloop.routing.models import RoutingSettings

pytestmark = pytest.mark.django_db

TOKEN = "twilio-auth-token"
URL = "http://testserver/sms/twilio/inbound"
BOB = "+12025550143"
OUR_NUMBER = "+12025550100"


@pytest.fixture(autouse=True)
def twilio(settings, tmp_path):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE = str(tmp_path / "sms.jsonl")


@pytest.fixture
def bob(db) -> Lead:
    """A lead who agreed to texts on the quote form."""
    lead = Lead.objects.create(first_name="Bob", phone=BOB)
    agreed = ConsentGiven(
        "sms", True, "Text me about my quote", page_url="https://cleanpro.example/q"
    )
    compliance.record_consents([(lead, agreed)])
    return lead


def text(body: str, sender: str = BOB, *, token: str = TOKEN):
    """Twilio's POST for a text `body` from `sender`, signed with `token`; the reply's text."""
    params = {
        "MessageSid": "SM" + "1" * 32,
        "AccountSid": "AC" + "2" * 32,
        "From": sender,
        "To": OUR_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }
    signature = RequestValidator(token).compute_signature(URL, params)
    return Client().post(URL, params, HTTP_X_TWILIO_SIGNATURE=signature)


def reply(response) -> str:
    assert response.status_code == 200 and response["Content-Type"] == "text/xml"
    message = ET.fromstring(response.content).find("Message")  # noqa: S314 (our own answer)
    return "" if message is None else message.text


def marketing_sms(lead: Lead) -> Message:
    message = outbox.queue(
        lead, "sms", lead.phone, "20% off this week", kind="nurture", to_lead=True, marketing=True
    )
    outbox.send_due()
    message.refresh_from_db()
    return message


def test_stop_withdraws_sms_consent_and_withholds_the_next_marketing_text(bob, settings):
    assert marketing_sms(bob).status == MessageStatus.SENT

    answer = reply(text("Stop"))

    assert answer.startswith("You are unsubscribed") and "START" in answer
    suppression = Suppression.objects.get()
    assert (suppression.address, suppression.channel, suppression.reason) == (
        BOB,
        "sms",
        SuppressionReason.STOPPED,
    )
    refusal = bob.consents.order_by("-id").first()
    assert not refusal.granted and refusal.evidence["message_sid"] == "SM" + "1" * 32
    assert bob.events.filter(type="sms.opted_out").count() == 1
    withheld = marketing_sms(bob)
    assert withheld.status == MessageStatus.SUPPRESSED
    sent = Path(settings.SMS_FILE).read_text().splitlines()
    assert [json.loads(line)["body"] for line in sent] == ["20% off this week"]


@pytest.mark.parametrize("word", ["STOPALL", "unsubscribe", " Cancel ", "END", "quit", "STOP."])
def test_every_ctia_stop_word_stops(bob, word):
    reply(text(word))

    assert Suppression.objects.filter(address=BOB, channel="sms").exists()


def test_stop_inside_a_sentence_is_a_reply_not_an_opt_out(bob):
    reply(text("Please don't stop, I want the quote"))

    assert not Suppression.objects.exists()
    assert bob.events.filter(type="sms.replied").count() == 1


def test_start_grants_consent_again_and_lifts_the_suppression(bob):
    reply(text("STOP"))

    answer = reply(text("start"))

    assert "subscribed" in answer and "STOP" in answer
    assert not Suppression.objects.exists()
    latest = bob.consents.order_by("-occurred_at", "-id").first()
    assert latest.granted and latest.wording == "Replied START"
    assert [c.granted for c in Consent.objects.order_by("id")] == [True, False, True]
    assert bob.events.filter(type="sms.opted_in").count() == 1
    assert marketing_sms(bob).status == MessageStatus.SENT


def test_help_names_the_business_and_how_to_stop(bob):
    routing = RoutingSettings.current()
    routing.business_name = "CleanPro"
    routing.save()

    answer = reply(text("HELP"))

    assert answer.startswith("CleanPro") and "Reply STOP to unsubscribe" in answer
    assert not Suppression.objects.exists() and not bob.events.exists()


def test_anything_else_is_a_reply_on_the_leads_timeline(bob):
    answer = reply(text("Is Thursday OK?"))

    assert answer == ""
    [replied] = bob.events.filter(type="sms.replied")
    assert replied.data["text"] == "Is Thursday OK?" and replied.actor == "recipient"
    assert replied.data["to"] == OUR_NUMBER


def test_stop_from_an_unknown_number_still_suppresses_it(db):
    reply(text("STOP", sender="+12025550199"))

    assert Suppression.objects.get().address == "+12025550199"
    assert not Event.objects.exists()


def test_a_bad_signature_is_refused_and_changes_nothing(bob):
    assert text("STOP", token="someone-elses-token").status_code == 403
    unsigned = Client().post(URL, {"From": BOB, "To": OUR_NUMBER, "Body": "STOP"})
    assert unsigned.status_code == 403

    assert not Suppression.objects.exists()
    assert bob.consents.count() == 1 and not bob.events.exists()


def test_without_an_auth_token_nothing_is_accepted(bob, settings):
    settings.TWILIO_AUTH_TOKEN = ""

    assert text("STOP", token="").status_code == 403
    assert not Suppression.objects.exists()


def test_a_signature_for_the_public_url_is_accepted_behind_a_proxy(bob, settings):
    """Twilio signs the URL it was given (SITE_URL's); this server may see another one."""
    settings.SITE_URL = "https://leads.cleanpro.example"
    params = {"From": BOB, "To": OUR_NUMBER, "Body": "STOP", "MessageSid": "SM" + "3" * 32}
    signature = RequestValidator(TOKEN).compute_signature(
        "https://leads.cleanpro.example/sms/twilio/inbound", params
    )

    response = Client().post(URL, params, HTTP_X_TWILIO_SIGNATURE=signature)

    assert response.status_code == 200
    assert Suppression.objects.filter(address=BOB).exists()
