"""Reassignment by rule: a lead that already has an owner moves to a takeover rule's owner when
its stage changes and it meets that rule; each change is handled once (core/reactions.py)."""

from datetime import UTC, datetime, time

import pytest
import time_machine
from django.contrib.auth import get_user_model

from leadloop.core import reactions
from leadloop.core import services as core
from leadloop.core.models import Event, EventDelivery, Lead, WorkStatus
from leadloop.routing.models import Assignment, AssignmentRule, Rep

pytestmark = pytest.mark.django_db

TUESDAY_10 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def a_rep(name: str) -> Rep:
    user = get_user_model().objects.create_user(name, f"{name}@example.com")
    return Rep.objects.create(user=user, work_starts=time(0), work_ends=time(0))


@pytest.fixture
def closer() -> Rep:
    rep = a_rep("clara")
    AssignmentRule.objects.create(
        name="SQLs go to the closer",
        condition={"fact": "lifecycle_stage", "op": "equals", "value": "sql"},
        rep=rep,
        takes_over=True,
    )
    return rep


@time_machine.travel(TUESDAY_10, tick=False)
def test_a_lead_that_becomes_an_sql_goes_to_the_takeover_rules_owner(closer):
    first = get_user_model().objects.create_user("sam")
    lead = Lead.objects.create(email="ada@analytical.example", owner=first)
    core.move_stage(lead, "sql", by="sam", why="Budget confirmed")

    reactions.deliver_due()
    reactions.deliver_due()

    lead.refresh_from_db()
    assert lead.owner == closer.user
    assignment = Assignment.objects.get()
    assert (assignment.by, assignment.previous_owner) == ("rule", first)
    assert "takes over" in Event.objects.get(type="owner.assigned").data["why"]
    delivery = EventDelivery.objects.get(consumer="routing.takeover")
    assert delivery.status == WorkStatus.DONE


@time_machine.travel(TUESDAY_10, tick=False)
def test_a_change_that_does_not_meet_the_rule_or_is_already_theirs_stays(closer):
    sam = get_user_model().objects.create_user("sam")
    mql = Lead.objects.create(email="mql@analytical.example", owner=sam)
    theirs = Lead.objects.create(email="sql@analytical.example", owner=closer.user)
    core.move_stage(mql, "mql", by="sam", why="Asked for pricing")
    core.move_stage(theirs, "sql", by="clara", why="Qualified")

    reactions.deliver_due()

    assert EventDelivery.objects.filter(consumer="routing.takeover").count() == 2
    assert not Assignment.objects.exists()


@time_machine.travel(TUESDAY_10, tick=False)
def test_a_takeover_that_fails_is_retried_and_leaves_the_lead_as_it_was(closer):
    sam = get_user_model().objects.create_user("sam")
    lead = Lead.objects.create(email="ada@analytical.example", owner=sam)
    core.move_stage(lead, "sql", by="sam", why="Budget confirmed")
    closer.user.is_active = False  # the rule's rep cannot take it: it falls to nobody
    closer.user.save()
    AssignmentRule.objects.update(condition={"fact": "no_such_fact", "op": "filled"})

    reactions.deliver_due()

    delivery = EventDelivery.objects.get(consumer="routing.takeover")
    assert delivery.status == WorkStatus.PENDING
    assert "unknown fact" in delivery.last_error
    assert Lead.objects.get().owner == sam
