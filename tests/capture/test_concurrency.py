"""The burst guarantee, against the real server: `leadloop serve --no-worker` (gunicorn, several
processes, several threads each) on the test database, hit by many clients at once.

On SQLite every writer queues for one write lock, so this is where "database is locked" would
show; on PostgreSQL (DATABASE_URL set) it is where two transactions race for one new email.
"""

import json
import os
import threading
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from django.db import connection

from leadloop.bench.server import Server
from leadloop.capture.models import Submission, SubmissionStatus
from leadloop.core import services as core
from leadloop.core.models import Event, Lead

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SUBMITTERS = 64
REQUESTS_EACH = 4
SHARED_EMAILS = 16  # every submitter also posts some of these: duplicates racing each other
REQUEST_TIMEOUT = 60.0
JOIN_TIMEOUT = 180.0


def database_url() -> str:
    """The test database (pytest-django's test_<name>, or the test SQLite file) as a URL, so the
    server subprocess writes where this test reads."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return (
        f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


@pytest.fixture
def server(transactional_db, tmp_path):
    env = {
        **os.environ,
        "LEADLOOP_HOME": str(tmp_path / "home"),
        "DATABASE_URL": database_url(),
        "LEADLOOP_ADMIN_PASSWORD": uuid.uuid4().hex,
    }
    with Server(env, tmp_path / "serve.log") as running:
        yield running
    log = running.log_text()
    assert "database is locked" not in log, log[-5000:]
    assert "Traceback" not in log, log[-5000:]


@pytest.fixture
def key(transactional_db) -> str:
    return core.create_source("Burst feed", channel="affiliate")[1]


def lead(email: str, n: int) -> dict:
    return {
        "email": email,
        "first_name": f"Person{n}",
        "last_name": "Burst",
        "company": f"Company {n % 7}",
        "fields": {"service": "deep clean", "n": n},
        "consent": {"email": {"granted": True, "wording": "I agree to receive emails."}},
        "tracking": {"utm_source": "google", "utm_medium": "cpc", "gclid": f"g{n}"},
    }


def fire(url: str, plans: list[list[tuple[dict, dict]]]) -> list[httpx.Response | BaseException]:
    """One thread per plan, all released at once by a barrier; each thread sends its requests
    in order over one keep-alive connection. Returns every answer (or the exception)."""
    answers: list[httpx.Response | BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(len(plans))

    def submitter(plan: list[tuple[dict, dict]]) -> None:
        with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT) as client:
            start.wait(timeout=JOIN_TIMEOUT)
            for body, headers in plan:
                try:
                    answer = client.post("/api/v1/leads", json=body, headers=headers)
                except httpx.HTTPError as error:
                    answer = error
                with lock:
                    answers.append(answer)

    threads = [threading.Thread(target=submitter, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a submitter never finished"
    return answers


def test_a_burst_of_new_and_duplicate_leads_is_all_stored_once_and_settled(server, key):
    auth = {"Authorization": f"Bearer {key}"}
    plans = []
    for submitter in range(SUBMITTERS):
        plan = []
        for request in range(REQUESTS_EACH):
            n = submitter * REQUESTS_EACH + request
            # Half new people, half one of a few shared emails posted by many submitters at
            # once (the race for "is this email new?").
            email = (
                f"new-{n}@burst.example"
                if request % 2 == 0
                else f"shared-{n % SHARED_EMAILS}@burst.example"
            )
            plan.append((lead(email, n), auth))
        plans.append(plan)
    emails = {body["email"] for plan in plans for body, _ in plan}

    answers = fire(server.url, plans)

    failures = [a for a in answers if isinstance(a, BaseException) or a.status_code >= 300]
    assert not failures, [repr(a) if isinstance(a, BaseException) else a.text for a in failures]
    assert len(answers) == SUBMITTERS * REQUESTS_EACH
    statuses = Counter(answer.status_code for answer in answers)
    assert set(statuses) <= {200, 201}
    # Each email became one lead, created by exactly one submission; the others merged into it.
    assert Lead.objects.count() == len(emails)
    assert statuses[201] == len(emails)
    assert Event.objects.filter(type="lead.captured").count() == len(emails)
    assert Submission.objects.count() == len(answers)
    unsettled = Submission.objects.exclude(
        status__in=[SubmissionStatus.ACCEPTED, SubmissionStatus.MERGED]
    )
    assert not unsettled.exists(), list(unsettled.values("id", "status", "last_error"))
    # And every answer names the lead its email belongs to.
    by_email = dict(Lead.objects.values_list("email", "pk"))
    for answer in answers:
        assert answer.json()["id"] == by_email[json.loads(answer.request.content)["email"]]


def test_one_idempotency_key_sent_eight_times_at_once_makes_one_lead(server, key):
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "order-7731"}
    body = lead("once@burst.example", 1)

    answers = fire(server.url, [[(body, headers)] for _ in range(8)])

    failures = [a for a in answers if isinstance(a, BaseException) or a.status_code >= 300]
    assert not failures, [repr(a) if isinstance(a, BaseException) else a.text for a in failures]
    assert {(answer.status_code, answer.text) for answer in answers} == {
        (answers[0].status_code, answers[0].text)
    }, [answer.text for answer in answers]
    assert answers[0].status_code == 201
    assert Lead.objects.count() == 1
    assert Submission.objects.count() == 1
    lead_id = Lead.objects.get().pk
    assert answers[0].json()["id"] == lead_id
    # Processed once: one capture event and one consent record, not one per repeat.
    assert list(Event.objects.values_list("type", flat=True)) == ["lead.captured"]
    assert Lead.objects.get().consents.count() == 1
