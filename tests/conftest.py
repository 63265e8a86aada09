"""Shared fixtures. Tests run against the real database the settings point at (SQLite by default,
PostgreSQL when DATABASE_URL says so) and real servers on loopback."""

import json
from pathlib import Path

import pytest
from django.test import Client

from leadloop.capture import services as capture
from leadloop.capture.models import Form
from leadloop.core import services as core

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


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
