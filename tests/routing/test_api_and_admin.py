"""The people's side of routing: logging a contact attempt through the API (with the session's
CSRF check), handing a lead on with a reason, and the admin's "Reassign…"."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from leadloop.core.models import Event, Lead
from leadloop.routing.models import Assignment, ContactAttempt

pytestmark = pytest.mark.django_db


@pytest.fixture
def rep_user():
    return get_user_model().objects.create_user("rita", "rita@example.com", "pw")


@pytest.fixture
def rep_client(rep_user) -> Client:
    client = Client()
    client.force_login(rep_user)
    return client


def test_a_rep_logs_a_call_and_the_first_contact_is_timed(rep_client, rep_user):
    lead = Lead.objects.create(email="ada@analytical.example", owner=rep_user)

    answer = rep_client.post(
        f"/api/v1/leads/{lead.pk}/contact-attempts",
        {"channel": "call", "outcome": "voicemail", "note": "Left a message <b>"},
        content_type="application/json",
    )

    assert answer.status_code == 201, answer.content
    lead.refresh_from_db()
    assert lead.first_contact_at is not None
    assert answer.json()["first_contact_at"] is not None
    attempt = ContactAttempt.objects.get()
    assert (attempt.by, attempt.channel, attempt.outcome) == (rep_user, "call", "voicemail")
    assert Event.objects.get(type="contact.attempted").data["first"] is True


def test_an_unknown_outcome_is_a_clear_422(rep_client, rep_user):
    lead = Lead.objects.create(email="ada@analytical.example", owner=rep_user)

    answer = rep_client.post(
        f"/api/v1/leads/{lead.pk}/contact-attempts",
        {"channel": "pigeon", "outcome": "reached"},
        content_type="application/json",
    )

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "attempt.channel"
    assert not ContactAttempt.objects.exists()


def test_an_attempt_in_the_future_is_refused_and_the_clock_keeps_running(rep_client, rep_user):
    lead = Lead.objects.create(email="ada@analytical.example", owner=rep_user)

    answer = rep_client.post(
        f"/api/v1/leads/{lead.pk}/contact-attempts",
        {"channel": "call", "outcome": "reached", "attempted_at": "2099-01-01T00:00:00Z"},
        content_type="application/json",
    )

    assert answer.status_code == 422
    assert "future" in answer.json()["errors"][0]["message"]
    assert Lead.objects.get().first_contact_at is None


def test_a_rep_cannot_touch_someone_elses_lead(rep_client):
    other = get_user_model().objects.create_user("otto")
    lead = Lead.objects.create(email="ada@analytical.example", owner=other)

    answer = rep_client.post(
        f"/api/v1/leads/{lead.pk}/contact-attempts",
        {"channel": "call", "outcome": "reached"},
        content_type="application/json",
    )

    assert answer.status_code == 404


def test_a_session_post_without_the_csrf_token_is_refused(rep_user):
    lead = Lead.objects.create(email="ada@analytical.example", owner=rep_user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep_user)

    answer = client.post(
        f"/api/v1/leads/{lead.pk}/contact-attempts",
        {"channel": "call", "outcome": "reached"},
        content_type="application/json",
    )

    assert answer.status_code == 403
    assert not ContactAttempt.objects.exists()


def test_handing_a_lead_on_needs_a_known_user_and_a_reason(rep_client, rep_user):
    get_user_model().objects.create_user("otto")
    lead = Lead.objects.create(email="ada@analytical.example", owner=rep_user)
    url = f"/api/v1/leads/{lead.pk}/owner"

    unknown = rep_client.post(url, {"owner": "nobody", "why": "x"}, "application/json")
    silent = rep_client.post(url, {"owner": "otto", "why": ""}, "application/json")
    moved = rep_client.post(url, {"owner": "otto", "why": "Speaks German"}, "application/json")

    assert unknown.status_code == 422
    assert silent.status_code == 422
    assert moved.status_code == 200, moved.content
    assert Lead.objects.get().owner.username == "otto"
    assignment = Assignment.objects.get()
    assert (assignment.why, assignment.by, assignment.previous_owner) == (
        "Speaks German",
        "rita",
        rep_user,
    )


def test_the_admin_reassigns_with_a_reason_and_the_owner_is_not_a_form_field(
    admin_client, admin_user
):
    otto = get_user_model().objects.create_user("otto")
    lead = Lead.objects.create(email="ada@analytical.example")
    chosen = {"action": "reassign", "_selected_action": [lead.pk], "owner": otto.pk}

    asked = admin_client.post("/admin/core/lead/", chosen)
    done = admin_client.post("/admin/core/lead/", {**chosen, "why": "Territory change"})

    assert asked.status_code == 200
    assert "Reassign leads" in asked.content.decode()
    assert done.status_code == 302
    assert Lead.objects.get().owner == otto
    event = Event.objects.get(type="owner.assigned")
    assert (event.actor, event.data["why"]) == (admin_user.username, "Territory change")
    page = admin_client.get(f"/admin/core/lead/{lead.pk}/change/").content.decode()
    assert 'name="owner"' not in page
