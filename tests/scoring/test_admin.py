"""Scoring in the back office: a person moves a lead's stage with a reason, and sees why the
lead has its score."""

import pytest

from leadloop.core.models import Event, Lead, LifecycleStage

pytestmark = pytest.mark.django_db

LEADS = "/admin/core/lead/"


def test_a_stage_move_asks_why_then_records_who_and_why(admin_client, admin_user):
    lead = Lead.objects.create(email="ada@analytical.example", first_name="Ada")
    move = {"action": "move_to_stage", "_selected_action": [lead.pk], "stage": "sql"}

    asked = admin_client.post(LEADS, move)
    assert asked.status_code == 200
    assert "Move leads to a stage" in asked.content.decode()
    assert Lead.objects.get().lifecycle_stage == LifecycleStage.LEAD

    done = admin_client.post(LEADS, {**move, "why": "Budget confirmed on the call."})

    assert done.status_code == 302
    assert Lead.objects.get().lifecycle_stage == LifecycleStage.SQL
    event = Event.objects.get(lead=lead, type="stage.changed")
    assert event.actor == admin_user.username
    assert event.data == {
        "from": "lead",
        "to": "sql",
        "why": "Budget confirmed on the call.",
        "automatic": False,
        "score": 0,
    }


def test_an_unknown_stage_is_refused_with_the_form_shown_again(admin_client):
    lead = Lead.objects.create(email="ada@analytical.example")
    move = {"action": "move_to_stage", "_selected_action": [lead.pk], "stage": "king"}

    page = admin_client.post(LEADS, {**move, "why": "Because."})

    assert page.status_code == 200
    assert "Select a valid choice" in page.content.decode()
    assert not Event.objects.filter(type="stage.changed").exists()


def test_the_stage_is_not_editable_on_the_lead_page(admin_client):
    lead = Lead.objects.create(email="ada@analytical.example")
    page = admin_client.get(f"{LEADS}{lead.pk}/change/").content.decode()

    assert 'name="lifecycle_stage"' not in page


def test_the_lead_page_shows_the_score_drivers_escaped(admin_client):
    drivers = [
        {"rule": "<b>Pricing</b> page", "group": "intent", "points": 15, "detail": ""},
        {"rule": "model: demo requests", "group": "model", "weight": 0.8312},
    ]
    lead = Lead.objects.create(email="ada@analytical.example", score=15, score_drivers=drivers)

    page = admin_client.get(f"{LEADS}{lead.pk}/change/").content.decode()

    assert "&lt;b&gt;Pricing&lt;/b&gt; page: +15 points (intent)" in page
    assert "model: demo requests: +0.83 log-odds (predictive model)" in page
