"""Quiet hours across time zones: an SMS waits for 08:00 where the number is when it falls due
at night there, goes at once where it is day, and a number spanning several zones waits until
it is day in all of them."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from leadloop.core.models import Message, MessageStatus
from leadloop.nurture import quiet, services
from tests.nurture.conftest import a_lead, grant_sms, make_workflow, settle

pytestmark = pytest.mark.django_db

LOS_ANGELES, BERLIN = ZoneInfo("America/Los_Angeles"), ZoneInfo("Europe/Berlin")
# 23:00 on Monday in Los Angeles (PST) is 08:00 on Tuesday in Berlin (CET).
LA_23 = datetime(2026, 3, 2, 23, 0, tzinfo=LOS_ANGELES)
AUSTRALIAN_MOBILE = "+61412345678"  # a mobile range: every Australian zone, Cocos to Lord Howe


def text_everyone(*leads) -> None:
    for lead in leads:
        grant_sms(lead)
    workflow = make_workflow([{"do": "send_sms", "text": "Hi {{ lead.first_name }}"}])
    services.enroll(workflow, leads)


def test_an_sms_due_at_night_in_los_angeles_waits_for_morning_there_while_berlin_gets_it(sms):
    with time_machine.travel(LA_23, tick=False) as clock:
        la = a_lead(email="la@customers.example", phone="+14155550123")
        berlin = a_lead(email="berlin@customers.example", phone="+493012345678")
        text_everyone(la, berlin)
        settle()

        assert [s["to"] for s in sms()] == ["+493012345678"]
        waiting = Message.objects.get(to="+14155550123")
        assert waiting.status == MessageStatus.PENDING
        morning = datetime(2026, 3, 3, 8, 0, tzinfo=LOS_ANGELES)
        assert waiting.next_attempt_at == morning
        assert waiting.next_attempt_at == datetime(2026, 3, 3, 16, 0, tzinfo=UTC)

        clock.shift(morning - LA_23 - timedelta(minutes=1))
        settle()
        assert len(sms()) == 1

        clock.shift(timedelta(minutes=1))
        settle()
        assert [s["to"] for s in sms()] == ["+493012345678", "+14155550123"]
        waiting.refresh_from_db()
        assert waiting.status == MessageStatus.SENT


def test_a_number_spanning_several_zones_waits_until_it_is_day_in_all(sms):
    zones = quiet.time_zones(AUSTRALIAN_MOBILE)
    cocos = ZoneInfo("Indian/Cocos")
    assert ZoneInfo("Australia/Sydney") in zones and cocos in zones
    # 10:00 in Sydney, but 05:30 on the Cocos Islands.
    now = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    with time_machine.travel(now, tick=False) as clock:
        text_everyone(a_lead(phone=AUSTRALIAN_MOBILE))
        settle()

        assert sms() == []
        message = Message.objects.get()
        cocos_morning = datetime(2026, 3, 3, 8, 0, tzinfo=cocos)
        assert message.next_attempt_at == cocos_morning
        for zone in zones:
            local = message.next_attempt_at.astimezone(zone).time()
            assert quiet.DAY_STARTS <= local < quiet.DAY_ENDS, zone

        clock.move_to(cocos_morning)
        settle()
        assert [s["to"] for s in sms()] == [AUSTRALIAN_MOBILE]
