"""How a team shares its leads: round robin in order, weighted round robin with even spacing,
and fewest open leads; a member who cannot take a lead now is passed over, not forgotten."""

import pytest

from leadloop.core.models import Lead, LifecycleStage
from leadloop.routing import services
from leadloop.routing.models import Rep
from tests.routing.conftest import a_lead, make_rule, make_team

pytestmark = pytest.mark.django_db


def route(count: int) -> list[str]:
    """Capture `count` leads and run the worker's assignment pass; who got each, in order."""
    leads = [a_lead(email=f"lead{n}@customers.example") for n in range(count)]
    services.request_assignment(leads, live=False)
    assert services.assign_due() == count
    return [Lead.objects.get(pk=lead.pk).owner.get_username() for lead in leads]


def away(rep: Rep, is_away: bool = True) -> None:
    rep.is_active = not is_away
    rep.save()


def test_round_robin_gives_each_member_a_turn_in_order(rep, boss, at_work):
    make_rule("All", make_team("Sales", rep("ann"), rep("bob"), rep("cat")))

    assert route(7) == ["ann", "bob", "cat", "ann", "bob", "cat", "ann"]


def test_round_robin_passes_over_an_unavailable_member_who_keeps_their_place(rep, boss, at_work):
    ann, bob, cat = rep("ann"), rep("bob"), rep("cat")
    make_rule("All", make_team("Sales", ann, bob, cat))

    assert route(2) == ["ann", "bob"]
    away(cat)
    assert route(2) == ["ann", "bob"]
    away(cat, False)
    assert route(3) == ["cat", "ann", "bob"]


def test_round_robin_goes_on_after_the_last_turn_when_members_are_reordered(rep, boss, at_work):
    ann, bob, cat = rep("ann"), rep("bob"), rep("cat")
    team = make_team("Sales", ann, bob, cat)
    make_rule("All", team)
    assert route(1) == ["ann"]

    team.memberships.filter(rep=cat).update(position=0)
    team.memberships.filter(rep=ann).update(position=1)
    team.memberships.filter(rep=bob).update(position=2)

    assert route(3) == ["bob", "cat", "ann"]


def test_weighted_three_to_one_spreads_the_second_members_leads_evenly(rep, boss, at_work):
    make_rule(
        "All", make_team("Sales", rep("ann"), rep("bob"), strategy="weighted", weights=[3, 1])
    )

    owners = route(8)

    assert owners == ["ann", "ann", "bob", "ann"] * 2
    assert (owners.count("ann"), owners.count("bob")) == (6, 2)


def test_weighted_a_member_back_from_leave_gets_no_burst_of_leads(rep, boss, at_work):
    ann, bob = rep("ann"), rep("bob")
    make_rule("All", make_team("Sales", ann, bob, strategy="weighted", weights=[1, 1]))
    away(bob)
    assert route(4) == ["ann"] * 4

    away(bob, False)

    assert route(4) == ["ann", "bob", "ann", "bob"]


def test_fewest_open_leads_takes_the_next_lead_and_closed_leads_do_not_count(rep, boss, at_work):
    ann, bob, cat = rep("ann"), rep("bob"), rep("cat")
    make_rule("All", make_team("Sales", ann, bob, cat, strategy="load_balanced"))
    for owner, stages in [
        (ann, ["lead", "mql", "opportunity"]),
        (bob, ["sql", "customer", "disqualified", "recycled"]),
        (cat, ["lead", "lead"]),
    ]:
        for n, stage in enumerate(stages):
            a_lead(email=f"{owner.user}{n}@old.example", owner=owner.user, lifecycle_stage=stage)

    assert route(1) == ["bob"]  # one open lead against three and two
    # Now bob and cat have two each: the tie goes round, after bob.
    assert route(1) == ["cat"]
    Lead.objects.filter(owner=ann.user).update(lifecycle_stage=LifecycleStage.CUSTOMER)
    assert route(2) == ["ann", "ann"]
