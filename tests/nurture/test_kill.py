"""The proof of durability: a real worker process walking 30 leads through three emails each is
killed (SIGKILL) while it hands them to a real SMTP server; a new worker finishes the job.
Every message reaches the server at most once, and every one reaches it except the one the
dead worker was handing over at the moment it died, which the outbox reports as failed
("may have been sent") for a person to check, never sends again."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from leadloop.core.models import Message, MessageStatus
from leadloop.nurture import services
from leadloop.nurture.models import Enrollment, EnrollmentStatus
from tests.mail_server import Inbox, free_port
from tests.nurture.conftest import a_lead, make_workflow, message_ids
from tests.routing.test_restart import database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LEADS, EMAILS = 30, 3
# The server takes its time over each recipient, so the worker spends most of its run waiting
# between two messages (not in the middle of handing one over) when it is killed.
RCPT_SECONDS = 0.05
KILL_AFTER = 40
DEADLINE_SECONDS = 60


class SlowInbox(Inbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        await asyncio.sleep(RCPT_SECONDS)
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def slow_smtp():
    from aiosmtpd.controller import Controller

    inbox = SlowInbox()
    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture
def start_worker(tmp_path, slow_smtp):
    """Start `leadloop worker` (the long-running one) on the test database and mail server."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "LEADLOOP_HOME": str(tmp_path / "home"),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(slow_smtp.port),
    }
    started: list[subprocess.Popen] = []

    def start(name: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "leadloop.cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"{name}.log").open("w"),
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def test_a_worker_killed_mid_run_leaves_every_message_sent_at_most_once(slow_smtp, start_worker):
    workflow = make_workflow(
        [
            {"do": "send_email", "subject": f"Email {n}", "text": f"Number {n}"}
            for n in range(1, EMAILS + 1)
        ]
    )
    leads = [a_lead(email=f"lead{n}@customers.example") for n in range(LEADS)]
    services.enroll(workflow, leads)

    first = start_worker("first")
    wait_until(lambda: len(slow_smtp.messages) >= KILL_AFTER, f"{KILL_AFTER} messages")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    received_before = len(slow_smtp.messages)
    assert received_before < LEADS * EMAILS, "the worker finished before it was killed"

    # The leases of what the dead worker held run out (2 minutes; here, at once).
    now = timezone.now()
    lost = Message.objects.filter(status=MessageStatus.SENDING)
    in_hand = set(lost.values_list("key", flat=True))
    lost.update(next_attempt_at=now - timedelta(seconds=1))
    Enrollment.objects.filter(status=EnrollmentStatus.ACTIVE).update(due_at=now)

    second = start_worker("second")
    wait_until(
        lambda: (
            not Message.objects.filter(
                status__in=[MessageStatus.PENDING, MessageStatus.SENDING]
            ).exists()
            and not Enrollment.objects.filter(status=EnrollmentStatus.ACTIVE).exists()
        ),
        "the second worker to finish",
    )
    time.sleep(0.5)  # anything sent twice would arrive now
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=10)

    messages = {m.key: m for m in Message.objects.all()}
    assert len(messages) == LEADS * EMAILS
    assert Enrollment.objects.filter(status=EnrollmentStatus.COMPLETED).count() == LEADS
    received = Counter(message_ids(slow_smtp))
    assert [key for key, times in received.items() if times > 1] == [], "sent twice"
    assert set(received) <= set(messages)
    failed = {key for key, m in messages.items() if m.status == MessageStatus.FAILED}
    sent = {key for key, m in messages.items() if m.status == MessageStatus.SENT}
    assert sent | failed == set(messages)
    assert sent <= set(received)
    for key in failed:
        assert "may have been sent" in messages[key].last_error
    # Only what the dead worker had in hand can be in doubt: one message, handed over one at
    # a time. Everything else reached the server exactly once.
    assert failed == in_hand
    assert len(in_hand) <= 1, (
        f"{len(in_hand)} messages were left 'sending' by the killed worker and are now "
        f"failed, though only {received_before} of {LEADS * EMAILS} had reached the server"
    )
    assert set(received) | failed == set(messages)
