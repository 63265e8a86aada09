"""Nurture's cast and its peers: workflows made and published in one line, leads, a real SMTP
server (aiosmtpd) on loopback with Django's SMTP backend pointed at it, SMS written to a file
the test reads, and a clock that stands still until the test moves it.

The people, by role:
- `owner` (Olive Owner, olive@cleanpro.example): the rep who owns the leads, who gets the
  tasks and notices workflows make;
- leads made by `a_lead(...)`: Lena by default, who agreed to nothing but email."""

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import time_machine

from leadloop import journey
from leadloop.compliance.models import Consent, ConsentChannel
from leadloop.core.models import Lead
from leadloop.nurture import engine, services
from leadloop.nurture.models import Workflow
from tests.mail_server import text_of

# A Monday morning in March, before any daylight-saving change on either side of the Atlantic.
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
PASSES = 20


@pytest.fixture(autouse=True)
def fresh_caches():
    """The engine keeps parsed steps by version id and the watched event types for a few
    seconds; a test database rolled back between tests reuses ids (SQLite resets its
    sequences), so each test starts with both forgotten."""
    engine._parsed.clear()
    services.forget_watched_types()


@pytest.fixture
def sms(settings, tmp_path) -> Callable[[], list[dict]]:
    """SMS go to a file (SMS_BACKEND=file); calling the fixture reads what was sent."""
    path = tmp_path / "sms.jsonl"
    settings.SMS_BACKEND, settings.SMS_FILE = "file", str(path)

    def sent() -> list[dict]:
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    return sent


@pytest.fixture
def clock():
    """Monday 10:00 UTC, standing still until the test shifts it (`clock.shift(delta)`)."""
    with time_machine.travel(MONDAY_10, tick=False) as traveller:
        yield traveller


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user(
        "olive", "olive@cleanpro.example", None, first_name="Olive", last_name="Owner"
    )


def make_workflow(steps: list, trigger: dict | None = None, **fields) -> Workflow:
    """An active workflow with `steps`, published as v1; by default started by hand only (a
    trigger on a tag no test adds)."""
    fields.setdefault("name", f"Workflow {Workflow.objects.count() + 1}")
    workflow = Workflow.objects.create(
        trigger=trigger or {"on": "tag_added", "tag": "never-added"},
        steps=steps,
        is_active=True,
        **fields,
    )
    services.publish(workflow)
    return workflow


def a_lead(**fields) -> Lead:
    values = {"email": "lena@customers.example", "first_name": "Lena", **fields}
    return Lead.objects.create(**values)


def grant_sms(lead: Lead) -> Consent:
    return Consent.objects.create(
        lead=lead, channel=ConsentChannel.SMS, granted=True, wording="Texts about my quote: yes"
    )


def settle() -> int:
    """Run the worker's pass until it finds nothing more to do; how much it did."""
    total = 0
    for _ in range(PASSES):
        done = journey.follow_up()
        if not done:
            return total
        total += done
    raise AssertionError(f"the worker still had work after {PASSES} passes")


def path_of(url: str) -> str:
    """A link from an email as the test client takes it (path and query)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def links_in(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="([^"]+)"', html)


def pixel_of(message) -> str:
    [pixel] = [link for link in links_in(text_of(message, "html")) if "/n/o/" in link]
    return pixel


def click_links_of(message) -> list[str]:
    return [link for link in links_in(text_of(message, "html")) if "/n/c/" in link]


def unsubscribe_link_of(message) -> str:
    return re.search(r"https?://\S+/n/u/\S+", text_of(message)).group(0)


def message_ids(inbox) -> list[str]:
    return [m["Message-ID"].strip("<>").removesuffix("@leadloop") for m in inbox.messages]
