"""Whether a rep can take a lead now: at work by their own clock and calendar (night shifts
and daylight saving included), not out of office, and under the day's capacity, where "the
day" is the rep's own, resetting at their midnight."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine

from leadloop.routing import availability, services
from leadloop.routing.models import Rep
from tests.routing.conftest import ALL_WEEK, a_lead, make_rule

pytestmark = pytest.mark.django_db


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def free(rep: Rep, at: datetime) -> bool:
    return availability.available([rep], at) == [rep]


def test_working_hours_are_read_in_the_reps_time_zone(rep):
    tokyo = rep("taro", time_zone="Asia/Tokyo")  # 09:00-17:00 JST, Mon-Fri

    assert free(tokyo, utc(2026, 3, 2, 1, 0))  # Monday 10:00 in Tokyo
    assert not free(tokyo, utc(2026, 3, 2, 12, 0))  # Monday 21:00 in Tokyo
    # Sunday 23:30 UTC is Monday 08:30 in Tokyo: not yet; 00:00 UTC is 09:00: at work.
    assert not free(tokyo, utc(2026, 3, 1, 23, 30))
    assert free(tokyo, utc(2026, 3, 2, 0, 0))
    # Friday 23:00 UTC is Saturday in Tokyo.
    assert not free(tokyo, utc(2026, 3, 6, 23, 0))


def test_the_end_of_the_working_day_is_not_in_it(rep):
    berlin = rep("bernd", time_zone="Europe/Berlin")

    assert free(berlin, utc(2026, 3, 2, 15, 59))  # 16:59 in Berlin
    assert not free(berlin, utc(2026, 3, 2, 16, 0))  # 17:00


def test_daylight_saving_moves_the_working_day_in_utc(rep):
    new_york = rep("nina", time_zone="America/New_York")

    assert not free(new_york, utc(2026, 3, 6, 13, 30))  # Friday 08:30 EST
    assert free(new_york, utc(2026, 3, 9, 13, 30))  # Monday 09:30 EDT


def test_a_night_shift_runs_past_midnight_from_its_own_working_days(rep):
    night = rep("nick", work_starts=time(22), work_ends=time(6))  # UTC, Mon-Fri

    assert free(night, utc(2026, 3, 2, 23, 0))  # Monday night
    assert free(night, utc(2026, 3, 3, 3, 0))  # Tuesday 03:00, Monday's shift
    assert free(night, utc(2026, 3, 7, 5, 59))  # Saturday 05:59, Friday's shift
    assert not free(night, utc(2026, 3, 7, 23, 0))  # Saturday night: off
    assert not free(night, utc(2026, 3, 2, 3, 0))  # Monday 03:00: Sunday had no shift
    assert not free(night, utc(2026, 3, 3, 12, 0))  # Tuesday noon


def test_the_same_start_and_end_is_a_whole_day_desk(rep):
    desk = rep("dora", work_starts=time(0), work_ends=time(0))  # UTC, Mon-Fri

    assert free(desk, utc(2026, 3, 2, 0, 0))
    assert free(desk, utc(2026, 3, 2, 23, 59))
    assert not free(desk, utc(2026, 3, 7, 12, 0))  # Saturday


def test_weekends_are_off_unless_they_are_working_days(rep):
    weekday, weekend = rep("wes"), rep("sat", work_days="Sat,Sun")
    saturday = utc(2026, 3, 7, 10, 0)

    assert not free(weekday, saturday)
    assert free(weekend, saturday)
    assert not free(weekend, utc(2026, 3, 2, 10, 0))


def test_out_of_office_covers_its_window_and_no_more(rep):
    leave = rep("lou", away_from=utc(2026, 3, 2, 12), away_until=utc(2026, 3, 4, 12))
    open_ended = rep("opal", away_from=utc(2026, 3, 2, 12))

    assert free(leave, utc(2026, 3, 2, 11, 59))
    assert not free(leave, utc(2026, 3, 2, 12, 0))
    assert not free(leave, utc(2026, 3, 3, 10, 0))
    assert free(leave, utc(2026, 3, 4, 12, 0))
    assert not free(open_ended, utc(2026, 3, 30, 10, 0))  # gone until someone says otherwise


def test_an_inactive_rep_takes_nothing(rep):
    gone = rep("gus", is_active=False)

    assert not free(gone, utc(2026, 3, 2, 10, 0))


def assign_one_at(moment: datetime) -> str:
    with time_machine.travel(moment, tick=False):
        lead = a_lead(email=f"{moment:%d%H%M}@customers.example")
        decision = services.decide(lead)
        services.assign(lead, decision, by="routing", live=False)
        return decision.owner.get_username()


def test_daily_capacity_counts_the_reps_own_day_and_resets_at_their_midnight(rep, boss):
    tokyo = rep(
        "taro",
        time_zone="Asia/Tokyo",
        work_days=ALL_WEEK,
        work_starts=time(0),
        work_ends=time(23, 59),
        daily_capacity=2,
    )
    make_rule("Tokyo", tokyo)

    # Monday 23:00 and 23:30 in Tokyo (14:00 and 14:30 UTC): two leads, the day is full.
    assert assign_one_at(utc(2026, 3, 2, 14, 0)) == "taro"
    assert assign_one_at(utc(2026, 3, 2, 14, 30)) == "taro"
    assert not free(tokyo, utc(2026, 3, 2, 14, 45))
    assert assign_one_at(utc(2026, 3, 2, 14, 50)) == "boss"
    # Tuesday 00:30 in Tokyo, still Monday in UTC: a new day for taro.
    assert free(tokyo, utc(2026, 3, 2, 15, 30))
    assert assign_one_at(utc(2026, 3, 2, 15, 30)) == "taro"
    assert assign_one_at(utc(2026, 3, 2, 16, 0)) == "taro"
    # Midnight UTC passes, Tokyo's Tuesday goes on: still full.
    assert not free(tokyo, utc(2026, 3, 3, 0, 30))


def test_a_rep_without_a_capacity_takes_any_number(rep, boss):
    make_rule("All", rep("una", work_days=ALL_WEEK, work_starts=time(0), work_ends=time(23, 59)))

    owners = {assign_one_at(utc(2026, 3, 2, 10) + timedelta(minutes=n)) for n in range(12)}

    assert owners == {"una"}
