"""The public form endpoints the widget and chat panel use: definition, partial and final
submissions, page-view beacons and visitor stitching, and per-form CORS."""

import json

import pytest

from leadloop.capture.models import PageView, Submission
from leadloop.core.models import Lead, Visitor

pytestmark = pytest.mark.django_db

WIDGET_ORIGIN = "http://localhost:8001"
STEP_ONE = {"email": "linus@example.com", "first_name": "Linus"}
STEP_TWO = {**STEP_ONE, "service": "regular", "frequency": "Monthly", "email_consent": True}


def submit(client, body, origin=WIDGET_ORIGIN, slug="cleanpro-quote", mode="inline"):
    return client.post(
        f"/api/v1/forms/{slug}/submissions?mode={mode}",
        json.dumps(body),
        content_type="application/json",
        HTTP_ORIGIN=origin,
    )


def test_the_definition_is_served_to_an_allowed_origin(client, quote_form):
    response = client.get("/api/v1/forms/cleanpro-quote", HTTP_ORIGIN=WIDGET_ORIGIN)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == WIDGET_ORIGIN
    assert response.json()["definition"]["steps"][0]["fields"][0]["name"] == "email"


def test_a_preflight_from_an_allowed_origin_is_answered(client, quote_form):
    response = client.options(
        "/api/v1/forms/cleanpro-quote/submissions",
        HTTP_ORIGIN=WIDGET_ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == WIDGET_ORIGIN
    assert "POST" in response["Access-Control-Allow-Methods"]


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost.evil.example"])
def test_an_origin_outside_the_allowed_domains_is_refused(client, quote_form, origin):
    response = submit(client, {"answers": STEP_TWO}, origin=origin)

    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert Submission.objects.count() == 0


def test_a_wildcard_domain_admits_its_subdomains(client, quote_form):
    quote_form.definition["settings"]["allowed_domains"] = ["*.cleanpro.example"]
    quote_form.save()

    assert (
        submit(client, {"answers": STEP_TWO}, origin="https://www.cleanpro.example").status_code
        == 201
    )
    assert submit(client, {"answers": STEP_TWO}, origin=WIDGET_ORIGIN).status_code == 403


def test_a_partial_lead_is_saved_after_step_one_and_completed_by_the_last_step(client, quote_form):
    first = submit(client, {"answers": STEP_ONE, "step": 0, "partial": True, "visitor_id": "v1"})

    assert first.status_code == 201
    assert first.json()["capture_state"] == "partial"
    lead = Lead.objects.get()
    assert lead.capture_state == "partial"

    final = submit(client, {"answers": STEP_TWO, "step": 1, "partial": False, "visitor_id": "v1"})

    assert final.status_code == 200
    assert final.json()["id"] == lead.pk
    lead.refresh_from_db()
    assert lead.capture_state == "complete"
    assert lead.custom_fields["frequency"] == "Monthly"
    assert list(lead.events.values_list("type", flat=True)) == [
        "lead.partial_captured",
        "lead.updated",
    ]
    assert list(Submission.objects.order_by("id").values_list("is_partial", flat=True)) == [
        True,
        False,
    ]


def test_a_partial_step_is_checked_only_up_to_that_step(client, quote_form):
    response = submit(
        client, {"answers": {"email": "nope", "first_name": "L"}, "step": 0, "partial": True}
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "email",
            "message": "Enter a valid email address: An email address must have an @-sign.",
        }
    ]


def test_the_channel_records_popup_and_chat(client, quote_form):
    submit(client, {"answers": STEP_TWO}, mode="popup")
    submit(client, {"answers": {**STEP_TWO, "email": "b@example.com"}}, mode="chat")

    assert list(Submission.objects.order_by("id").values_list("channel", flat=True)) == [
        "popup",
        "chat",
    ]


def test_page_views_before_the_form_are_stitched_onto_the_lead(client, quote_form):
    landing = "http://localhost:8001/spring?utm_source=facebook&utm_campaign=spring&fbclid=F1"
    for url in [landing, "http://localhost:8001/pricing"]:
        beacon = client.post(
            "/api/v1/track",
            json.dumps({"visitor_id": "v42", "url": url, "title": "CleanPro"}),
            content_type="text/plain",
            HTTP_ORIGIN=WIDGET_ORIGIN,
        )
        assert beacon.status_code == 204

    submit(
        client,
        {
            "answers": STEP_TWO,
            "visitor_id": "v42",
            "page_url": "http://localhost:8001/pricing",
            "tracking": {"utm_source": "retarget"},
        },
    )

    lead = Lead.objects.get()
    assert lead.first_touch["utm_source"] == "facebook"
    assert lead.first_touch["fbclid"] == "F1"
    assert lead.last_touch["utm_source"] == "retarget"
    viewed = lead.events.filter(type="page.viewed").order_by("occurred_at")
    assert [e.data["url"] for e in viewed] == [landing, "http://localhost:8001/pricing"]
    assert Visitor.objects.get(key="v42").lead == lead
    assert not PageView.objects.filter(stitched=False).exists()


def test_page_views_after_identification_go_straight_to_the_timeline(client, quote_form):
    submit(client, {"answers": STEP_TWO, "visitor_id": "v7"})
    client.post(
        "/api/v1/track",
        json.dumps({"visitor_id": "v7", "url": "http://localhost:8001/pricing"}),
        content_type="application/json",
    )

    assert Lead.objects.get().events.filter(type="page.viewed").count() == 1


@pytest.mark.parametrize(
    "body", ["not json", "{}", '{"visitor_id": "v", "url": "javascript:alert(1)"}']
)
def test_a_bad_beacon_gets_422(client, body):
    response = client.post("/api/v1/track", body, content_type="application/json")

    assert response.status_code == 422


def test_an_unknown_form_is_404_json(client, db):
    response = client.get("/api/v1/forms/nope")

    assert response.status_code == 404
    assert response.json() == {"errors": [{"field": None, "message": "Not found."}]}


def test_the_widget_script_is_served_as_javascript(client, db):
    response = client.get("/widget.js")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")


def test_an_inactive_form_answers_404_to_an_allowed_origin(client, quote_form):
    quote_form.is_active = False
    quote_form.save()

    response = client.get("/api/v1/forms/cleanpro-quote", HTTP_ORIGIN=WIDGET_ORIGIN)

    assert response.status_code == 404
    assert response["Access-Control-Allow-Origin"] == WIDGET_ORIGIN


def test_a_beacon_from_a_site_no_form_allows_is_refused(client, quote_form):
    response = client.post(
        "/api/v1/track",
        json.dumps({"visitor_id": "v", "url": "https://evil.example/"}),
        content_type="application/json",
        HTTP_ORIGIN="https://evil.example",
    )

    assert response.status_code == 403
    assert not PageView.objects.exists()


def test_behind_a_tls_proxy_our_own_https_origin_is_same_origin(client, quote_form, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    def post(**proxy_headers):
        return client.post(
            "/api/v1/forms/cleanpro-quote/submissions?mode=chat",
            json.dumps({"answers": STEP_TWO}),
            content_type="application/json",
            HTTP_ORIGIN="https://testserver",
            HTTP_HOST="testserver",
            **proxy_headers,
        )

    assert post().status_code == 403
    assert post(HTTP_X_FORWARDED_PROTO="https").status_code == 201
