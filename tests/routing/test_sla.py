"""The first-contact SLA, with time travel: past the deadline the manager is alerted, then
the lead moves to the next rep; a contact attempt stops the clock; a timer fires once, and one
whose effect fails stays due for the next poll."""

from datetime import timedelta

import pytest
import time_machine

from leadloop.core import outbox
from leadloop.core.models import Event, Lead, Message
from leadloop.routing import services
from leadloop.routing.models import (
    Assignment,
    NoticeKind,
    SlaTimer,
    TimerKind,
    TimerStatus,
)
from tests.mail_server import text_of
from tests.routing.conftest import MONDAY_10, a_lead, make_rule, make_team

pytestmark = pytest.mark.django_db


def at(minutes: float):
    """Monday 10:00 UTC plus `minutes`, the clock standing still."""
    return time_machine.travel(MONDAY_10 + timedelta(minutes=minutes), tick=False)


@pytest.fixture
def team(rep, django_user_model):
    manager = django_user_model.objects.create_user("max", "max@leadloop.example", None)
    closers = make_team("Closers", rep("ann"), rep("bob"), manager=manager)
    make_rule("Everyone", closers, {}, sla_minutes=5, escalate_after_minutes=10)
    return closers


def assigned_lead() -> Lead:
    """A live lead assigned at Monday 10:00, its notices sent."""
    with at(0):
        lead = a_lead()
        services.request_assignment([lead], live=True)
        assert services.assign_due() == 1
        outbox.send_due()
    lead.refresh_from_db()
    return lead


def fire(minutes: float) -> int:
    with at(minutes):
        fired = services.fire_due_timers()
        outbox.send_due()
        return fired


def timers(lead: Lead) -> list[tuple[str, str, str]]:
    return [(t.kind, t.status, t.owner.get_username()) for t in SlaTimer.objects.filter(lead=lead)]


def test_nothing_fires_before_the_deadline(team, smtp):
    lead = assigned_lead()

    assert fire(4.9) == 0
    assert timers(lead) == [(TimerKind.ALERT_MANAGER, TimerStatus.PENDING, "ann")]


def test_past_the_sla_the_manager_is_alerted_and_a_reassignment_is_timed(team, smtp):
    lead = assigned_lead()

    assert fire(6) == 1

    [alert] = smtp.to("max@leadloop.example")
    assert alert["Subject"] == "SLA missed: Lena has waited 6 min for ann"
    assert "lena@customers.example" in text_of(alert)
    missed = Event.objects.get(lead=lead, type="sla.missed")
    assert missed.data == {"owner": "ann", "minutes": 6, "alerted": "max"}
    reassign = SlaTimer.objects.get(lead=lead, kind=TimerKind.REASSIGN)
    assert reassign.status == TimerStatus.PENDING
    assert reassign.due_at == MONDAY_10 + timedelta(minutes=16)


def test_past_the_escalation_the_lead_moves_to_the_next_rep_who_is_told(team, smtp):
    lead = assigned_lead()
    fire(6)

    assert fire(15.9) == 0
    assert fire(16) == 1

    lead.refresh_from_db()
    assert lead.owner.get_username() == "bob"
    assert lead.assigned_at == MONDAY_10  # speed to lead counts from the first assignment
    moved = Assignment.objects.filter(lead=lead).first()
    assert (moved.by, moved.previous_owner.get_username()) == ("sla", "ann")
    assert "no first contact by ann" in moved.why and moved.team == team
    assert [e.actor for e in Event.objects.filter(lead=lead, type="owner.assigned")] == [
        "routing",
        "sla",
    ]
    assert [m["Subject"][:9] for m in smtp.to("bob@reps.example")] == ["New lead:"]
    # Bob's own clock starts now.
    assert timers(lead)[-1] == (TimerKind.ALERT_MANAGER, TimerStatus.PENDING, "bob")
    assert SlaTimer.objects.get(lead=lead, owner__username="bob").due_at == (
        MONDAY_10 + timedelta(minutes=21)
    )


def test_when_the_whole_team_has_had_the_lead_the_fallback_owner_takes_it_then_it_stays(
    team, boss, smtp
):
    lead = assigned_lead()
    owners = []
    minute = 0
    for _ in range(3):
        fire(minute := minute + 6)  # alert
        fire(minute := minute + 11)  # move on
        owners.append(Lead.objects.get(pk=lead.pk).owner.get_username())
    fire(minute := minute + 6)
    fire(minute + 11)

    assert owners == ["bob", "boss", "boss"]
    assert Event.objects.filter(lead=lead, type="sla.not_reassigned").count() == 1
    assert Lead.objects.get(pk=lead.pk).owner.get_username() == "boss"
    assert not SlaTimer.objects.filter(status=TimerStatus.PENDING).exists()


def test_a_contact_attempt_before_the_deadline_stops_the_clock(team, smtp):
    lead = assigned_lead()

    with at(3):
        services.log_contact_attempt(lead, lead.owner, "call", "no_answer")

    assert fire(30) == 0
    lead.refresh_from_db()
    assert lead.first_contact_at == MONDAY_10 + timedelta(minutes=3)
    assert timers(lead) == [(TimerKind.ALERT_MANAGER, TimerStatus.CANCELLED, "ann")]
    assert not Event.objects.filter(type="sla.missed").exists()
    assert smtp.to("max@leadloop.example") == []


def test_a_contact_attempt_after_the_alert_stops_the_reassignment(team, smtp):
    lead = assigned_lead()
    fire(6)

    with at(8):
        services.log_contact_attempt(lead, lead.owner, "call", "reached")

    assert fire(30) == 0
    assert Lead.objects.get(pk=lead.pk).owner.get_username() == "ann"
    assert Assignment.objects.filter(lead=lead).count() == 1


def test_a_timer_fires_once_however_often_it_is_polled(team, smtp):
    lead = assigned_lead()

    assert fire(6) == 1
    assert fire(6) == 0
    assert fire(7) == 0

    assert Event.objects.filter(lead=lead, type="sla.missed").count() == 1
    assert Message.objects.filter(kind=NoticeKind.SLA_MISSED).count() == 1
    assert len(smtp.to("max@leadloop.example")) == 1


def test_a_timer_whose_alert_fails_stays_due_and_fires_at_the_next_poll(
    rep, django_user_model, smtp
):
    """Nobody to alert (the team has no manager, and no fallback owner exists yet): the
    firing rolls back whole, and the next poll after someone is set fires it."""
    make_rule("Everyone", make_team("Orphans", rep("ann")), {}, sla_minutes=5)
    lead = assigned_lead()

    assert fire(6) == 0

    assert timers(lead) == [(TimerKind.ALERT_MANAGER, TimerStatus.PENDING, "ann")]
    assert not Event.objects.filter(type="sla.missed").exists()
    django_user_model.objects.create_superuser("boss", "boss@leadloop.example", None)
    assert fire(7) == 1
    assert Event.objects.get(type="sla.missed").data["alerted"] == "boss"
    assert len(smtp.to("boss@leadloop.example")) == 1


def test_without_a_team_manager_the_fallback_owner_is_alerted(rep, boss, smtp):
    make_rule("Solo", rep("sol"), {}, sla_minutes=2)
    lead = assigned_lead()

    assert fire(2) == 1

    assert Event.objects.get(lead=lead, type="sla.missed").data["alerted"] == "boss"
    assert [m["Subject"][:10] for m in smtp.to("boss@leadloop.example")] == ["SLA missed"]
