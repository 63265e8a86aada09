"""Shared fixtures. Tests run against the real database the settings point at (SQLite by default,
PostgreSQL when DATABASE_URL says so) and real servers on loopback."""

import json
import os
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from leadloop.capture import services as capture
from leadloop.capture.models import Form
from leadloop.core import services as core
from tests import dns_server
from tests.mail_server import free_port, point_email_at, serve_smtp

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


@pytest.fixture(scope="session", autouse=True)
def loopback_dns():
    """Every test checks email domains against a real DNS server on loopback; servers the tests
    start in other processes inherit it through the environment."""
    server, zone, address = dns_server.start()
    settings.LEADLOOP_DNS = os.environ["LEADLOOP_DNS"] = address
    settings.LEADLOOP_DNS_TIMEOUT_MS = 500
    os.environ["LEADLOOP_DNS_TIMEOUT_MS"] = "500"
    yield zone
    server.stop()


# What data migrations write (the roles, the first pipeline). A test on a real transaction ends
# by emptying every table, and pytest-django runs those tests last, so only they can find it
# gone: each puts it back first (nothing wraps them in a transaction to undo it).
DATA_MIGRATIONS = ["leadloop.crm.migrations.0002_roles_and_first_pipeline"]


@pytest.fixture(autouse=True)
def migration_data_before_a_transactional_test(request, django_db_blocker):
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or (
        marker is not None and marker.kwargs.get("transaction")
    )
    if transactional:
        request.getfixturevalue("django_db_setup")
        with django_db_blocker.unblock():
            for migration in DATA_MIGRATIONS:
                import_module(migration).forwards(apps, None)


@pytest.fixture(autouse=True)
def fresh_rate_counts():
    """Rate limits count in the cache: each test starts from zero."""
    cache.clear()


@pytest.fixture
def quote_form(db) -> Form:
    """CleanPro's two-step quote funnel (docs/examples/cleanpro-quote.json)."""
    return capture.import_form(json.loads((EXAMPLES / "cleanpro-quote.json").read_text()))


@pytest.fixture
def source_key(db) -> str:
    """The API key of a lead source named 'Partner feed'."""
    _, key = core.create_source("Partner feed", channel="affiliate")
    return key


@pytest.fixture
def api(source_key: str):
    """POST a JSON body (dict or raw string) to /api/v1/leads with the source's key."""
    client = Client()

    def post(body, key: str | None = source_key, **headers):
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
        return client.post(
            "/api/v1/leads", data=data, content_type="application/json", **auth, **headers
        )

    return post


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
