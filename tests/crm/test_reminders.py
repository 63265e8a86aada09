"""Task reminders, at a real SMTP server: a task due within 15 minutes (or late) emails its
owner once, with a link to the lead; a task further off waits its turn; done tasks and owners
without an email get nothing; the sweep is registered to run every 30 seconds."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model

from leadloop.core import durable, outbox
from leadloop.core.models import Message, Task
from leadloop.crm import reminders
from leadloop.crm.reminders import remind_due_tasks
from tests.mail_server import text_of

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_10, tick=False) as traveller:
        yield traveller


def sweep() -> int:
    reminded = remind_due_tasks()
    outbox.send_due()
    return reminded


def test_each_due_task_reminds_its_owner_once(clock, smtp, settings, person, make_lead):
    settings.SITE_URL = "https://crm.cleanpro.example"
    rita = person("rita")
    lena = make_lead(first_name="Lena", last_name="Lind", owner=rita)

    def task(title: str, minutes: float, **fields) -> Task:
        due = MONDAY_10 + timedelta(minutes=minutes)
        return Task.objects.create(lead=lena, owner=rita, title=title, due_at=due, **fields)

    soon, late = task("Call Lena back", 10), task("Send the quote", -90)
    later = task("Book the visit", 60)
    task("Already done", 5, done_at=MONDAY_10)
    silent = get_user_model().objects.create_user("nomail", "", "pw")
    Task.objects.create(lead=lena, owner=silent, title="No address", due_at=MONDAY_10)

    assert sweep() == 2
    assert sorted(email["Subject"] for email in smtp.messages) == [
        "Reminder: Call Lena back",
        "Reminder: Send the quote",
    ]
    [email] = smtp.to("rita@team.example")[:1]
    body = text_of(email)
    assert f"https://crm.cleanpro.example/app/leads/{lena.pk}/" in body
    assert "Lead: Lena Lind" in body
    assert {t.pk for t in Task.objects.filter(reminded_at=MONDAY_10)} == {soon.pk, late.pk}
    assert Message.objects.filter(kind="task.reminder", to_lead=False).count() == 2

    assert sweep() == 0
    assert len(smtp.messages) == 2

    clock.shift(timedelta(minutes=46))
    assert sweep() == 1
    assert smtp.messages[-1]["Subject"] == "Reminder: Book the visit"
    later.refresh_from_db()
    assert later.reminded_at is not None
    assert len(smtp.messages) == 3


def test_two_workers_claiming_one_task_remind_once(clock, smtp, person, make_lead):
    """Both saw the task due; the conditional UPDATE lets only the first claim it."""
    rita = person("rita")
    task = Task.objects.create(
        lead=make_lead(owner=rita), owner=rita, title="Call", due_at=MONDAY_10
    )

    assert [reminders._remind(task.pk, MONDAY_10) for _ in range(2)] == [1, 0]
    outbox.send_due()
    assert len(smtp.messages) == 1


def test_the_sweep_is_registered_every_30_seconds():
    registered = durable._sweeps["crm.task_reminders"]
    assert (registered.run, registered.every) == (remind_due_tasks, 30)
