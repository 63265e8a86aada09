"""Routing's cast and its peers: reps and teams made in one line, and a fixed working morning
to route in (the SMTP server is tests/mail_server.py's).

The people, by role:
- `boss`: the first superuser, who takes what no rule places (the fallback owner);
- reps made by `rep("rita")`: a user rita@reps.example with a Rep, 09:00-17:00 UTC, Mon-Fri;
- a team's manager, alerted when a lead waits past its SLA."""

from datetime import UTC, datetime, time

import pytest
import time_machine
from django.contrib.auth import get_user_model

from leadloop.core.models import Lead
from leadloop.routing.models import AssignmentRule, Membership, Rep, Team

# A Monday morning, in working hours for a rep on UTC's 09:00-17:00.
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ALL_WEEK = "Mon,Tue,Wed,Thu,Fri,Sat,Sun"
ALL_DAY = {"work_days": ALL_WEEK, "work_starts": time(0), "work_ends": time(23, 59, 59, 999999)}


@pytest.fixture
def at_work():
    """Monday 10:00 UTC, the clock running from there."""
    with time_machine.travel(MONDAY_10, tick=True) as traveller:
        yield traveller


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create_superuser(
        "boss", "boss@leadloop.example", None, first_name="Bo", last_name="Boss"
    )


def make_rep(username: str, **fields) -> Rep:
    """A user `username` (username@reps.example) who is a rep; `fields` set the Rep's."""
    user = get_user_model().objects.create_user(
        username, f"{username}@reps.example", None, first_name=username.title()
    )
    return Rep.objects.create(user=user, **fields)


@pytest.fixture
def rep(db):
    return make_rep


def make_team(name: str, *reps: Rep, strategy: str = "round_robin", weights=(), **fields) -> Team:
    """A team of `reps` in that order (weights, if given, one per rep)."""
    team = Team.objects.create(name=name, strategy=strategy, **fields)
    for position, member in enumerate(reps):
        weight = weights[position] if weights else 1
        Membership.objects.create(team=team, rep=member, position=position, weight=weight)
    return team


def make_rule(name: str, to: Team | Rep, condition: dict | None = None, **fields):
    """A rule sending leads that meet `condition` ({} is every lead) to a team or a rep; rules
    are ordered as they are made unless `position` says otherwise."""
    target = {"team": to} if isinstance(to, Team) else {"rep": to}
    fields.setdefault("position", AssignmentRule.objects.count())
    return AssignmentRule.objects.create(name=name, condition=condition or {}, **target, **fields)


def a_lead(**fields) -> Lead:
    values = {"email": "lena@customers.example", "first_name": "Lena", **fields}
    return Lead.objects.create(**values)
