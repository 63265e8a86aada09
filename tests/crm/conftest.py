"""The sales workspace's cast: people in each role, the "Sales" pipeline the migrations make,
and leads and deals made in one line.

- `person("rita", Role.REP)`: a user rita (rita@team.example, password "pw-rita-2026") in a role;
- `team_of(manager, *reps)`: a routing team the manager runs, with those reps as members;
- `pipeline`: "Sales" (New 10%, Qualified 25%, Meeting booked 40%, Proposal sent 60%,
  Negotiation 80%, Won, Lost) with the "New customer" onboarding tasks;
- `make_lead(**fields)` and `make_deal(lead=None, stage="New", **fields)`."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from leadloop.core.models import Lead
from leadloop.crm.access import Role
from leadloop.crm.models import Deal, Pipeline
from leadloop.routing.models import Membership, Rep, Team


def password_of(username: str) -> str:
    return f"pw-{username}-2026"


@pytest.fixture
def person(db):
    def make(username: str, role: str = Role.REP, **fields):
        user = get_user_model().objects.create_user(
            username,
            f"{username}@team.example",
            password_of(username),
            first_name=fields.pop("first_name", username.title()),
            **fields,
        )
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def team_of(db):
    def make(manager, *reps, name: str = "Closers") -> Team:
        team = Team.objects.create(name=name, manager=manager)
        for position, user in enumerate(reps):
            rep, _ = Rep.objects.get_or_create(user=user)
            Membership.objects.create(team=team, rep=rep, position=position)
        return team

    return make


@pytest.fixture
def pipeline(db) -> Pipeline:
    return Pipeline.objects.get(name="Sales")


@pytest.fixture
def make_lead(db):
    def make(**fields) -> Lead:
        values = {"email": "lena@customers.example", "first_name": "Lena", **fields}
        return Lead.objects.create(**values)

    return make


@pytest.fixture
def make_deal(pipeline, make_lead):
    def make(lead: Lead | None = None, stage: str = "New", **fields) -> Deal:
        lead = lead or make_lead()
        values = {
            "title": f"Deal for {lead.first_name}",
            "value": Decimal("1000.00"),
            "owner": lead.owner,
            **fields,
        }
        return Deal.objects.create(
            lead=lead, pipeline=pipeline, stage=pipeline.stages.get(name=stage), **values
        )

    return make
