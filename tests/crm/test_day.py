"""My day: open tasks in three buckets by the rep's own clock, leads waiting for a first contact
with their SLA time, meetings today and stalled deals; a manager looks at a team rep's day.
Tasks that rules make land there too: the SLA's "call now" and a workflow's create_task step.

The people: rita (a rep in New York) and bob are reps of max's team; sam is a rep of none."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from leadloop.core import outbox
from leadloop.core.models import Task
from leadloop.crm.access import Role
from leadloop.crm.models import Meeting, MeetingStatus
from leadloop.nurture import engine
from leadloop.nurture import services as nurture
from leadloop.routing import services as routing
from leadloop.routing.models import Rep, Team
from tests.nurture.conftest import make_workflow, settle

# 14:00 UTC is 09:00 in New York (EST, UTC-5, before the March change).
MONDAY_14 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_14, tick=False) as traveller:
        yield traveller


@pytest.fixture
def cast(person, team_of):
    rita, bob, max_ = person("rita"), person("bob"), person("max", Role.MANAGER)
    team_of(max_, rita, bob)
    Rep.objects.filter(user=rita).update(time_zone="America/New_York")
    return {"rita": rita, "bob": bob, "max": max_, "sam": person("sam")}


def task(lead, owner, title: str, due: datetime, **fields) -> Task:
    return Task.objects.create(lead=lead, owner=owner, title=title, due_at=due, **fields)


def titles(tasks) -> list[str]:
    return [t.title for t in tasks]


def test_tasks_fall_into_overdue_today_and_upcoming_by_the_reps_own_clock(
    client, clock, cast, make_lead
):
    rita = cast["rita"]
    lead = make_lead(owner=rita)
    task(lead, rita, "Yesterday's call", datetime(2026, 3, 1, 20, 0, tzinfo=UTC))
    task(lead, rita, "Early call", MONDAY_14 - timedelta(minutes=30))
    task(lead, rita, "Evening email", datetime(2026, 3, 3, 3, 0, tzinfo=UTC))  # 22:00 in New York
    task(lead, rita, "Tuesday visit", datetime(2026, 3, 3, 6, 0, tzinfo=UTC))  # 01:00 Tuesday
    task(lead, rita, "Already done", MONDAY_14 - timedelta(hours=1), done_at=MONDAY_14)
    task(lead, cast["bob"], "Bob's call", MONDAY_14 + timedelta(hours=1))

    client.force_login(rita)
    response = client.get(reverse("crm:day"))
    day = response.context["day"]
    assert titles(day.overdue) == ["Yesterday's call", "Early call"]
    assert titles(day.today) == ["Evening email"]
    assert titles(day.upcoming) == ["Tuesday visit"]
    html = response.content.decode()
    assert "America/New_York" in html and "<strong>22:00</strong> Evening email" in html
    assert "Already done" not in html and "Bob's call" not in html


def test_waiting_leads_meetings_today_and_stalled_deals(client, clock, cast, make_lead, make_deal):
    rita = cast["rita"]
    waiting = make_lead(first_name="Wanda", owner=rita)
    routing.assign(waiting, routing.Decision(rita, "by hand"), by="max")  # SLA 5 minutes
    make_lead(email="c@customers.example", first_name="Carl", owner=rita, first_contact_at=MONDAY_14)  # fmt: skip
    lead = make_lead(email="m@customers.example", first_name="Mona", owner=rita)
    Meeting.objects.create(lead=lead, host=rita, title="Walkthrough", starts_at=MONDAY_14 + timedelta(hours=2), ends_at=MONDAY_14 + timedelta(hours=3))  # fmt: skip
    Meeting.objects.create(lead=lead, host=rita, title="Called off", status=MeetingStatus.CANCELLED, starts_at=MONDAY_14 + timedelta(hours=4), ends_at=MONDAY_14 + timedelta(hours=5))  # fmt: skip
    Meeting.objects.create(lead=lead, host=rita, title="Next week", starts_at=MONDAY_14 + timedelta(days=7), ends_at=MONDAY_14 + timedelta(days=7, hours=1))  # fmt: skip
    make_deal(lead=lead, owner=rita, last_activity_at=MONDAY_14 - timedelta(days=30))
    make_deal(lead=lead, owner=rita, last_activity_at=MONDAY_14 - timedelta(days=1))

    client.force_login(rita)
    response = client.get(reverse("crm:day"))
    day = response.context["day"]
    assert [lead.first_name for lead in day.waiting] == ["Wanda", "Mona"]
    assert day.waiting[0].sla_due_at == MONDAY_14 + timedelta(minutes=5)
    assert [m.title for m in day.meetings] == ["Walkthrough"]
    assert day.stalled_count == 1
    html = response.content.decode()
    assert "call by 09:05" in html and "<strong>11:00</strong> Walkthrough" in html
    assert f'href="{reverse("crm:stalled")}">1 stalled deal<' in html


def test_a_manager_switches_to_a_team_reps_day_and_no_one_else_does(client, clock, cast, make_lead):
    rita, bob = cast["rita"], cast["bob"]
    task(make_lead(owner=bob), bob, "Bob's call", MONDAY_14 + timedelta(hours=1))

    client.force_login(cast["max"])
    response = client.get(reverse("crm:day"), {"rep": bob.pk})
    assert titles(response.context["day"].today) == ["Bob's call"]
    assert "Bob's day" in response.content.decode()
    assert client.get(reverse("crm:day"), {"rep": cast["sam"].pk}).status_code == 404

    client.force_login(rita)
    assert client.get(reverse("crm:day"), {"rep": bob.pk}).status_code == 404
    assert client.get(reverse("crm:day"), {"rep": rita.pk}).status_code == 200


def test_a_missed_first_contact_sla_gives_the_owner_a_call_now_task(client, clock, cast, make_lead):
    rita = cast["rita"]
    closers = Team.objects.get(name="Closers")  # max, its manager, is alerted
    lead = make_lead(first_name="Lena", last_name="Lind", owner=rita)
    routing.assign(lead, routing.Decision(rita, "by hand", team=closers), by="max")
    already = make_lead(email="o@customers.example", first_name="Olga", owner=rita)
    routing.assign(already, routing.Decision(rita, "by hand", team=closers), by="max")
    task(already, rita, "Call Olga now: first contact overdue", MONDAY_14, origin="sla")

    clock.shift(timedelta(minutes=6))
    assert routing.fire_due_timers() == 2
    outbox.send_due()

    call = Task.objects.get(lead=lead)
    assert (call.title, call.owner, call.origin) == ("Call Lena Lind now: first contact overdue", rita, "sla")  # fmt: skip
    assert Task.objects.filter(lead=already).count() == 1
    client.force_login(rita)
    overdue = client.get(reverse("crm:day")).context["day"].overdue
    assert "Call Lena Lind now: first contact overdue" in titles(overdue)


def test_a_workflows_create_task_step_shows_in_the_owners_day(client, clock, cast, make_lead):
    engine._parsed.clear()  # versions are cached by id, and ids repeat across rolled-back tests
    nurture.forget_watched_types()
    rita = cast["rita"]
    lead = make_lead(owner=rita, first_contact_at=MONDAY_14)
    workflow = make_workflow(
        [{"do": "create_task", "title": "Demo: call {{ lead.first_name }}", "due_in": {"hours": 1}}]
    )
    nurture.enroll(workflow, [lead], why="by hand")
    settle()

    client.force_login(rita)
    day = client.get(reverse("crm:day")).context["day"]
    assert titles(day.today) == ["Demo: call Lena"]
    assert day.today[0].origin.startswith("workflow:")
