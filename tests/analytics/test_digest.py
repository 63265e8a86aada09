"""The weekly digest: on Monday from 07:00 UTC each active admin and sales manager with an email
gets last week against the week before, once, through the outbox and a real SMTP server.

The business: Google Ads brought 3 leads in the week of 9-15 March 2026 (Ann at SQL, Bob at
MQL, Cy at Lead, assigned on the 12th and never contacted: stuck past the 5-minute SLA) and 1
in the week before (Dee, on 3 March). So leads 3 against 1 (+200%), MQL to SQL 1 of 2 = 50%,
1 lead stuck past SLA. Two open deals: one idle for 30 days (stalled: the pipeline allows 14),
one touched yesterday."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model

from leadloop.analytics import digest, rollups
from leadloop.core import outbox
from leadloop.core.models import Channel, Lead, Message, Source
from leadloop.crm.access import Role
from leadloop.crm.models import Deal, Pipeline
from tests.crm.conftest import person  # noqa: F401 - a fixture
from tests.mail_server import text_of

MONDAY = datetime(2026, 3, 16, 7, 30, tzinfo=UTC)


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


@pytest.fixture
def team(person):  # noqa: F811 - the fixture imported above
    retired = person("old", Role.MANAGER)
    retired.is_active = False
    retired.save()
    silent = person("quiet", Role.MANAGER)
    silent.email = ""
    silent.save()
    return {
        "ada": person("ada", Role.ADMIN),
        "mia": person("mia", Role.MANAGER, first_name="<b>Mia</b>"),
        "mark": person("mark", Role.MARKETER),
        "rita": person("rita", Role.REP),
    }


@pytest.fixture
def week(team):
    google = Source.objects.create(
        name="Google Ads", slug="google", channel=Channel.PAID_SEARCH, campaign="search"
    )
    leads = [
        ("Ann", "sql", at(9), {"first_contact_at": at(9, 11)}),
        ("Bob", "mql", at(10), {"first_contact_at": at(10, 11)}),
        ("Cy", "lead", at(12), {"assigned_at": at(12) + timedelta(minutes=1)}),
        ("Dee", "lead", at(3), {"first_contact_at": at(3, 11)}),
    ]
    for name, stage, captured, fields in leads:
        Lead.objects.create(
            first_name=name,
            email=f"{name.lower()}@customers.example",
            source=google,
            owner=team["rita"],
            lifecycle_stage=stage,
            captured_at=captured,
            **fields,
        )
    pipeline = Pipeline.objects.get(name="Sales")
    ann, bob = Lead.objects.get(first_name="Ann"), Lead.objects.get(first_name="Bob")
    for lead, idle_days in ((ann, 30), (bob, 1)):
        Deal.objects.create(
            lead=lead,
            pipeline=pipeline,
            stage=pipeline.stages.get(name="New"),
            title=f"Deal for {lead.first_name}",
            owner=team["rita"],
            last_activity_at=MONDAY - timedelta(days=idle_days),
        )
    with time_machine.travel(MONDAY, tick=False):
        rollups.rebuild()
    return google


def test_on_monday_morning_admins_and_managers_get_last_week_by_email(week, smtp):
    with time_machine.travel(MONDAY, tick=False):
        queued = digest.send_weekly_digest()
        outbox.send_due()

    assert queued == 2
    assert sorted(str(m["To"]) for m in smtp.messages) == ["ada@team.example", "mia@team.example"]
    [email] = smtp.to("ada@team.example")
    assert email["Subject"] == "Your week in leads: Mar 9 to Mar 15"
    text = text_of(email)
    assert "Mon Mar 9 to Sun Mar 15 against the week before" in text
    assert "- Leads: 3 (+200% on 1), no target" in text
    assert "MQL to SQL: 50%" in text
    assert "Leads stuck past their first-contact deadline: 1" in text
    assert "Stalled deals: 1" in text
    assert f"{settings.SITE_URL}/app/measure/" in text
    html = text_of(email, "html")
    assert f'<a href="{settings.SITE_URL}/app/measure/">' in html


def test_a_name_is_escaped_in_the_html_email(week, smtp):
    with time_machine.travel(MONDAY, tick=False):
        digest.send_weekly_digest()
        outbox.send_due()

    [email] = smtp.to("mia@team.example")
    assert "Hello &lt;b&gt;Mia&lt;/b&gt;," in text_of(email, "html")


def test_a_week_is_sent_once_however_often_the_sweep_runs(week, smtp):
    with time_machine.travel(MONDAY, tick=False):
        digest.send_weekly_digest()
    with time_machine.travel(MONDAY + timedelta(hours=5), tick=False):
        again = digest.send_weekly_digest()
        outbox.send_due()

    assert again == 0
    assert len(smtp.messages) == 2
    assert Message.objects.filter(kind=digest.KIND).count() == 2


def test_nothing_is_sent_before_monday_seven_or_on_other_days(week):
    for moment in (MONDAY.replace(hour=6, minute=59), MONDAY - timedelta(days=1)):
        with time_machine.travel(moment, tick=False):
            assert digest.send_weekly_digest() == 0

    assert not Message.objects.filter(kind=digest.KIND).exists()


def test_the_next_monday_brings_the_next_week(week):
    with time_machine.travel(MONDAY, tick=False):
        digest.send_weekly_digest()
    with time_machine.travel(MONDAY + timedelta(days=7), tick=False):
        assert digest.send_weekly_digest() == 2

    keys = sorted(Message.objects.filter(kind=digest.KIND).values_list("key", flat=True))
    assert [key.rsplit("-", 1)[0] for key in keys] == ["digest-2026-W11"] * 2 + [
        "digest-2026-W12"
    ] * 2


def test_the_weekday_and_hour_are_settings(week, settings):
    settings.LEADLOOP_DIGEST_WEEKDAY = 4  # Friday
    settings.LEADLOOP_DIGEST_HOUR = 16
    friday = datetime(2026, 3, 20, 16, 5, tzinfo=UTC)

    with time_machine.travel(MONDAY, tick=False):
        assert digest.send_weekly_digest() == 0
    with time_machine.travel(friday, tick=False):
        assert digest.send_weekly_digest() == 2


def test_only_active_admins_and_managers_with_an_email_are_sent_it(week):
    users = get_user_model().objects

    assert [u.username for u in digest.recipients()] == ["ada", "mia"]
    users.filter(username="ada").update(is_active=False)
    assert [u.username for u in digest.recipients()] == ["mia"]
