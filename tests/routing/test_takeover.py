"""Reassignment by rule: a lead that already has an owner moves to a takeover rule's owner when
its stage changes and it meets that rule; each change is looked at once."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model

from leadloop.core import services as core
from leadloop.core.models import Event, Lead
from leadloop.routing import services
from leadloop.routing.models import Assignment, AssignmentRule, Rep, RoutingSettings

pytestmark = pytest.mark.django_db

TUESDAY_10 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
LAG = services.TAKEOVER_LAG + timedelta(seconds=1)


def a_rep(name: str) -> Rep:
    user = get_user_model().objects.create_user(name, f"{name}@example.com")
    return Rep.objects.create(user=user, work_starts=time(0), work_ends=time(23, 59))


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


def test_a_lead_that_becomes_an_sql_goes_to_the_takeover_rules_owner(closer):
    with time_machine.travel(TUESDAY_10, tick=False) as traveller:
        RoutingSettings.current()
        first = get_user_model().objects.create_user("sam")
        lead = Lead.objects.create(email="ada@analytical.example", owner=first)
        core.move_stage(lead, "sql", by="sam", why="Budget confirmed")

        assert services.take_over_changed() == 0  # not before every earlier write committed
        traveller.shift(LAG)
        assert services.take_over_changed() == 1
        assert services.take_over_changed() == 0

    lead.refresh_from_db()
    assert lead.owner == closer.user
    assignment = Assignment.objects.get()
    assert (assignment.by, assignment.previous_owner) == ("rule", first)
    assert "takes over" in Event.objects.get(type="owner.assigned").data["why"]


def test_a_change_that_does_not_meet_the_rule_or_is_already_theirs_stays(closer):
    with time_machine.travel(TUESDAY_10, tick=False) as traveller:
        RoutingSettings.current()
        sam = get_user_model().objects.create_user("sam")
        mql = Lead.objects.create(email="mql@analytical.example", owner=sam)
        theirs = Lead.objects.create(email="sql@analytical.example", owner=closer.user)
        core.move_stage(mql, "mql", by="sam", why="Asked for pricing")
        core.move_stage(theirs, "sql", by="clara", why="Qualified")
        traveller.shift(LAG)

        assert services.take_over_changed() == 0

    assert not Assignment.objects.exists()


def test_changes_from_before_routing_was_set_up_are_history():
    with time_machine.travel(TUESDAY_10, tick=False) as traveller:
        sam = get_user_model().objects.create_user("sam")
        lead = Lead.objects.create(email="ada@analytical.example", owner=sam)
        core.move_stage(lead, "sql", by="sam", why="Budget confirmed")
        traveller.shift(timedelta(minutes=5))
        RoutingSettings.current()
        rep = a_rep("clara")
        AssignmentRule.objects.create(name="SQLs", condition={}, rep=rep, takes_over=True)
        traveller.shift(LAG)

        assert services.take_over_changed() == 0

    assert Lead.objects.get().owner == sam
