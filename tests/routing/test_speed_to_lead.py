"""Speed to lead end to end, through the real capture API and the worker's pass
(journey.follow_up): an owner, an acknowledgement received by a real SMTP server, the owner's
notice by email and by a signed webhook; and the leads that must not be routed."""

import hashlib
import hmac
import json

import pytest
from django.utils import timezone

from leadloop import journey
from leadloop.core import outbox
from leadloop.core import services as core
from leadloop.core.models import Event, Lead, Message
from leadloop.core.types import LeadIntake
from leadloop.routing.models import (
    Assignment,
    AssignmentRequest,
    NoticeKind,
    SlaTimer,
)
from leadloop.scoring.models import ScoringRule
from tests.mail_server import text_of
from tests.routing.conftest import ALL_DAY, make_rule, make_team

pytestmark = pytest.mark.django_db

PROMISE = "Rita will call you within 10 minutes."
ANN = {
    "email": "ann@customers.example",
    "first_name": "Ann <b>",
    "last_name": "Lee",
    "phone": "+14155550134",
    "fields": {"service": "deep clean", "rooms": 4},
    "consent": {"email": {"granted": True, "wording": "Email me my quote."}},
    "tracking": {"utm_source": "google", "utm_campaign": "spring"},
}


@pytest.fixture
def rita(rep, httpserver, boss):
    """Rita works every hour of the week, in a team with a webhook of its own."""
    httpserver.expect_request("/rita", method="POST").respond_with_data("ok")
    httpserver.expect_request("/team", method="POST").respond_with_data("ok")
    rita = rep("rita", webhook_url=httpserver.url_for("/rita"), **ALL_DAY)
    rita.user.last_name = "Reyes"
    rita.user.save()
    team = make_team("Closers", rita, manager=boss, webhook_url=httpserver.url_for("/team"))
    make_rule("Everyone", team, {}, promise=PROMISE, sla_minutes=7)
    ScoringRule.objects.create(
        name="Deep clean",
        group="fit",
        points=15,
        condition={"fact": "custom_fields.service", "op": "equals", "value": "deep clean"},
    )
    return rita


def captured(api, body: dict = ANN) -> Lead:
    response = api(body)
    assert response.status_code in (200, 201), response.content
    return Lead.objects.get(pk=response.json()["id"])


def test_a_captured_lead_gets_an_owner_an_acknowledgement_and_its_owner_a_notice(
    api, rita, smtp, httpserver
):
    lead = captured(api)
    core.record_event(lead, "page.viewed", {"path": "/pricing"})

    journey.follow_up()

    lead.refresh_from_db()
    assert lead.owner == rita.user
    assert lead.assigned_at is not None and lead.acknowledged_at is not None
    assigned = Event.objects.get(lead=lead, type="owner.assigned")
    assert assigned.data["owner"] == "rita" and assigned.data["team"] == "Closers"
    [ack] = smtp.to("ann@customers.example")
    assert PROMISE in text_of(ack)
    assert "Hello Ann <b>," in text_of(ack)
    assert "Ann &lt;b&gt;" in text_of(ack, "html") and "Ann <b>" not in text_of(ack, "html")
    assert "Rita Reyes will look after you." in text_of(ack)
    [notice] = smtp.to("rita@reps.example")
    story = text_of(notice)
    assert "Source: Partner feed (affiliate)" in story
    assert "service: deep clean" in story and "rooms: 4" in story
    assert "Score: 15" in story and "Deep clean: 15" in story
    assert "/pricing" in story
    assert "Campaign: google / spring" in story
    assert SlaTimer.objects.get(lead=lead).due_at == Assignment.objects.get().assigned_at + (
        timezone.timedelta(minutes=7)
    )


def test_the_webhook_is_json_signed_with_the_routing_secret(api, rita, smtp, httpserver):
    lead = captured(api)

    journey.follow_up()

    received = {request.path: request for request, _ in httpserver.log}
    assert set(received) == {"/rita", "/team"}
    request = received["/rita"]
    body = request.get_data()
    assert json.loads(body)["text"].startswith("New lead: Ann <b> Lee")
    assert json.loads(body)["lead"]["id"] == lead.pk
    signature = dict(
        part.split("=", 1) for part in request.headers["X-Leadloop-Signature"].split(",")
    )
    secret = outbox.webhook_secret().encode()
    expected = hmac.new(secret, f"{signature['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature["v1"], expected)
    assert request.headers["X-Leadloop-Delivery"] == Message.objects.get(to=request.url).key


def test_a_quarantined_lead_is_not_given_an_owner(api, rita, smtp):
    lead = captured(api, {**ANN, "email": "ann@mailinator.com"})
    assert lead.quality == "invalid"

    journey.follow_up()

    lead.refresh_from_db()
    assert lead.owner is None and lead.assigned_at is None
    assert not Assignment.objects.exists() and not Message.objects.exists()
    assert smtp.messages == []


def test_an_imported_lead_gets_an_owner_but_no_acknowledgement_notice_or_sla(rita, smtp):
    [admission] = journey.admit(
        [LeadIntake(channel="import", email="imp@customers.example", first_name="Imogen")]
    )

    journey.follow_up()

    lead = Lead.objects.get(pk=admission.lead.pk)
    assert lead.owner == rita.user and lead.assigned_at is not None
    assert lead.acknowledged_at is None
    assert not SlaTimer.objects.exists() and not Message.objects.exists()
    assert smtp.messages == []


def test_a_partial_capture_is_not_routed_until_the_form_is_finished(client, quote_form, rita, smtp):
    def step(answers: dict, partial: bool):
        body = {"answers": answers, "step": 0 if partial else 1, "partial": partial}
        return client.post(
            "/api/v1/forms/cleanpro-quote/submissions",
            json.dumps({**body, "visitor_id": "v1"}),
            content_type="application/json",
            HTTP_ORIGIN="http://localhost:8001",
        )

    first = {"email": "linus@customers.example", "first_name": "Linus"}
    assert step(first, partial=True).status_code == 201
    journey.follow_up()

    lead = Lead.objects.get()
    assert lead.capture_state == "partial" and lead.owner is None
    assert not AssignmentRequest.objects.exists() and smtp.messages == []

    final = {**first, "service": "regular", "frequency": "Monthly", "email_consent": True}
    assert step(final, partial=False).status_code in (200, 201)
    journey.follow_up()

    lead.refresh_from_db()
    assert lead.owner == rita.user
    assert [m["To"] for m in smtp.messages].count("linus@customers.example") == 1


def test_a_lead_that_comes_back_is_announced_to_its_owner_and_keeps_them(api, rita, smtp):
    lead = captured(api)
    journey.follow_up()

    captured(api, {"email": ANN["email"], "fields": {"budget": 900}})
    journey.follow_up()

    lead.refresh_from_db()
    assert lead.owner == rita.user
    assert Assignment.objects.count() == 1
    kinds = list(Message.objects.filter(channel="email").values_list("kind", flat=True))
    assert sorted(kinds) == sorted(
        [NoticeKind.ACKNOWLEDGEMENT, NoticeKind.NEW_LEAD, NoticeKind.RETURNED]
    )
    came_back = [m for m in smtp.to("rita@reps.example") if "came back" in m["Subject"]]
    assert [m["Subject"] for m in came_back] == ["Ann <b> Lee came back"]
    assert "budget: 900" in text_of(came_back[0])
    assert len(smtp.to("ann@customers.example")) == 1  # thanked once, not at every return
