"""POST /api/v1/leads and GET /api/v1/leads/{id}: the lead-source API, end to end."""

import json

import pytest
from django.test import Client

from leadloop.capture.models import Submission, SubmissionStatus
from leadloop.compliance.models import Consent
from leadloop.core.models import Lead

pytestmark = pytest.mark.django_db

ADA = {
    "email": "Ada.Lovelace@Example.com",
    "phone": "(415) 555-0134",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company": "Analytical Engines",
    "fields": {"service": "deep clean", "rooms": 4},
    "consent": {"email": {"granted": True, "wording": "Email me my quote."}, "sms": False},
    "tracking": {
        "utm_source": "google",
        "utm_medium": "cpc",
        "gclid": "G-1",
        "referrer": "https://www.google.com/",
    },
}


def test_a_new_lead_is_created_with_201_and_normalised_contact(api):
    response = api(ADA)

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "accepted"
    lead = Lead.objects.get(pk=body["id"])
    assert lead.email == "Ada.Lovelace@example.com"
    assert lead.email_key == "ada.lovelace@example.com"
    assert lead.phone == "+14155550134"
    assert lead.company.name == "Analytical Engines"
    assert lead.custom_fields == {"service": "deep clean", "rooms": 4}
    assert lead.source.name == "Partner feed"
    assert lead.first_touch["gclid"] == "G-1"
    assert list(lead.events.values_list("type", flat=True)) == ["lead.captured"]


def test_consent_is_recorded_per_channel_with_its_wording_and_evidence(api):
    lead_id = api(ADA).json()["id"]

    consents = {c.channel: c for c in Consent.objects.filter(lead_id=lead_id)}
    assert consents["email"].granted is True
    assert consents["email"].wording == "Email me my quote."
    assert consents["sms"].granted is False
    assert consents["email"].evidence["submission_id"] == Submission.objects.get().pk


def test_a_second_submission_for_the_same_email_merges_with_200(api):
    first = api(ADA).json()
    second = api(
        {
            "email": "ada.lovelace@example.com",
            "fields": {"budget": 500},
            "tracking": {"utm_source": "newsletter"},
        }
    )

    assert second.status_code == 200
    assert second.json() == {**second.json(), "id": first["id"], "status": "merged"}
    lead = Lead.objects.get()
    assert lead.custom_fields == {"service": "deep clean", "rooms": 4, "budget": 500}
    assert lead.first_touch["utm_source"] == "google"
    assert lead.last_touch["utm_source"] == "newsletter"
    updated = lead.events.get(type="lead.updated")
    assert updated.data["changes"] == {"fields.budget": [None, 500]}


def test_a_merge_marks_the_lead_updated(api):
    api(ADA)
    captured = Lead.objects.get().updated_at

    api({"email": ADA["email"], "first_name": "Augusta"})

    assert Lead.objects.get().updated_at > captured


def test_a_phone_only_lead_merges_on_its_e164_number(api):
    first = api({"phone": "415-555-0134"}).json()
    second = api({"phone": "+1 415 555 0134", "first_name": "Ada"})

    assert second.status_code == 200
    assert second.json()["id"] == first["id"]
    assert Lead.objects.get().first_name == "Ada"


def test_invalid_fields_get_422_with_field_level_errors_and_the_raw_body_is_kept(api):
    response = api({"email": "not-an-email", "phone": "12", "first_name": "x" * 10_000})

    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"email", "phone", "first_name"}
    submission = Submission.objects.get()
    assert submission.status == SubmissionStatus.REJECTED
    assert json.loads(submission.raw)["email"] == "not-an-email"
    assert Lead.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "The body is not valid JSON."),
        ("[1, 2]", "The body must be a JSON object."),
        ('{"email": ["a@b.co"]}', "Enter text."),
        ('{"first_name": "Ada"}', "Send an email address or a phone number."),
        ('{"email": "a@example.com", "surprise": 1}', "Extra inputs are not permitted"),
        (
            '{"email": "a@example.com", "consent": {"carrier-pigeon": true}}',
            "Unknown consent channel",
        ),
        ("[" * 100_00 + "]" * 100_00, None),
    ],
)
def test_malformed_bodies_get_422_never_500(api, body, message):
    response = api(body)

    assert response.status_code in {413, 422}
    if message:
        assert message in json.dumps(response.json())


def test_a_missing_or_unknown_key_gets_401_and_nothing_is_stored(api):
    assert api(ADA, key=None).status_code == 401
    response = api(ADA, key="ll_not-a-real-key")

    assert response.status_code == 401
    assert "Bearer" in response.json()["errors"][0]["message"]
    assert Submission.objects.count() == 0


def test_a_body_over_the_limit_gets_413(api, settings):
    settings.LEADLOOP_MAX_BODY_BYTES = 2_000

    response = api({"email": "a@example.com", "fields": {"essay": "x" * 5_000}})

    assert response.status_code == 413
    assert "2000 bytes" in response.json()["errors"][0]["message"]


def test_an_idempotency_key_makes_a_retry_answer_the_same_without_a_second_submission(api):
    first = api(ADA, HTTP_IDEMPOTENCY_KEY="order-77")
    retry = api(ADA, HTTP_IDEMPOTENCY_KEY="order-77")

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert Submission.objects.count() == 1
    assert Lead.objects.get().events.count() == 1


def test_an_idempotent_retry_of_a_rejected_submission_is_rejected_again(api):
    first = api({"email": "bad"}, HTTP_IDEMPOTENCY_KEY="k1")
    retry = api({"email": "bad"}, HTTP_IDEMPOTENCY_KEY="k1")

    assert first.status_code == retry.status_code == 422
    assert retry.json() == first.json()


def test_hostile_strings_are_stored_as_text_and_returned_escaped_in_json(api):
    hostile = "<script>alert('x')</script>'; DROP TABLE core_lead; --\u0000\u202e"
    lead_id = api(
        {"email": "eve@example.com", "first_name": hostile, "fields": {"note": hostile}}
    ).json()["id"]

    lead = Lead.objects.get(pk=lead_id)
    assert lead.first_name == "<script>alert('x')</script>'; DROP TABLE core_lead; --"
    assert Lead.objects.count() == 1


def test_get_lead_returns_the_lead_with_its_timeline(api, source_key):
    lead_id = api(ADA).json()["id"]
    api({"email": ADA["email"], "first_name": "Augusta"})

    response = Client().get(f"/api/v1/leads/{lead_id}", HTTP_AUTHORIZATION=f"Bearer {source_key}")

    assert response.status_code == 200
    body = response.json()
    assert body["first_name"] == "Augusta"
    assert [e["type"] for e in body["timeline"]] == ["lead.captured", "lead.updated"]


def test_a_source_cannot_read_leads_it_did_not_send(api):
    from leadloop.core.services import create_source

    lead_id = api(ADA).json()["id"]
    _, other_key = create_source("Another publisher")

    response = Client().get(f"/api/v1/leads/{lead_id}", HTTP_AUTHORIZATION=f"Bearer {other_key}")

    assert response.status_code == 404


def test_staff_can_read_any_lead_with_their_session(api, admin_client):
    lead_id = api(ADA).json()["id"]

    assert admin_client.get(f"/api/v1/leads/{lead_id}").status_code == 200
    assert Client().get(f"/api/v1/leads/{lead_id}").status_code == 401


def test_staff_see_the_quality_verdict_and_the_source_does_not(api, admin_client, source_key):
    lead_id = api({"email": "burner@mailinator.com", "first_name": "Bo"}).json()["id"]

    staff = admin_client.get(f"/api/v1/leads/{lead_id}").json()
    source = (
        Client().get(f"/api/v1/leads/{lead_id}", HTTP_AUTHORIZATION=f"Bearer {source_key}").json()
    )

    assert staff["quality"] == "invalid"
    assert "email_disposable" in [r["code"] for r in staff["quality_reasons"]]
    assert staff["timeline"][0]["data"]["quality"]["verdict"] == "invalid"
    assert source["quality"] is None
    assert "quality" not in source["timeline"][0]["data"]


def test_the_openapi_document_describes_the_lead_body(client):
    schema = client.get("/api/v1/openapi.json").json()

    operation = schema["paths"]["/api/v1/leads"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"email", "phone", "fields", "consent", "tracking"} <= set(body["properties"])
    assert client.get("/api/v1/docs").status_code == 200
