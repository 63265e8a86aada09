"""Routing's cast and its peers: reps and teams made in one line, a real SMTP server (aiosmtpd)
on loopback that keeps every message it receives, and a fixed working morning to route in.

The people, by role:
- `boss`: the first superuser, who takes what no rule places (the fallback owner);
- reps made by `rep("rita")`: a user rita@reps.example with a Rep, 09:00-17:00 UTC, Mon-Fri;
- a team's manager, alerted when a lead waits past its SLA."""

import email
import email.policy
import socket
from datetime import UTC, datetime, time

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.contrib.auth import get_user_model

from leadloop.core.models import Lead
from leadloop.routing.models import AssignmentRule, Membership, Rep, Team

# A Monday morning, in working hours for a rep on UTC's 09:00-17:00.
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ALL_WEEK = "Mon,Tue,Wed,Thu,Fri,Sat,Sun"
ALL_DAY = {"work_days": ALL_WEEK, "work_starts": time(0), "work_ends": time(23, 59, 59, 999999)}


def free_port() -> int:
    """A port nothing listens on (once the probe socket is closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """What the SMTP server received, each an email.message.EmailMessage."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.port = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        raw = envelope.original_content or envelope.content
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


def text_of(message: email.message.EmailMessage, subtype: str = "plain") -> str:
    return message.get_body(preferencelist=(subtype,)).get_content()


def serve_smtp(port: int) -> tuple[Inbox, Controller]:
    """A real SMTP server on 127.0.0.1:`port`, started; stop its controller when done."""
    inbox = Inbox()
    inbox.port = port
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return inbox, controller


def point_email_at(settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a free loopback port, and Django's SMTP backend pointed at it."""
    inbox, controller = serve_smtp(free_port())
    point_email_at(settings, inbox.port)
    yield inbox
    controller.stop()


@pytest.fixture
def smtp_down(settings) -> int:
    """Django's SMTP backend pointed at a loopback port where nothing listens (yet)."""
    port = free_port()
    point_email_at(settings, port)
    return port


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
