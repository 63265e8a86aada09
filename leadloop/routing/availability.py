"""Whether a rep can take a new lead now: at work in their own time zone, not out of office,
and under their daily capacity (counted over their own calendar day)."""

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from leadloop.routing.models import WEEKDAYS, Assignment, Rep


def is_working(rep: Rep, at: datetime) -> bool:
    """Within the rep's hours on one of their days. A night shift (ends before it starts) that
    began yesterday still counts: Monday 22:00 to 06:00 covers Tuesday 03:00. The same start
    and end (00:00 to 00:00) is the whole day."""
    local = at.astimezone(ZoneInfo(rep.time_zone))
    days = {d.strip() for d in rep.work_days.split(",")}
    clock = local.time()
    if rep.work_starts == rep.work_ends:  # 00:00 to 00:00: the whole day
        return _day(local) in days
    if rep.work_starts < rep.work_ends:
        return _day(local) in days and rep.work_starts <= clock < rep.work_ends
    evening = _day(local) in days and clock >= rep.work_starts
    after_midnight = _day(local - timedelta(days=1)) in days and clock < rep.work_ends
    return evening or after_midnight


def is_away(rep: Rep, at: datetime) -> bool:
    started = rep.away_from is None or rep.away_from <= at
    not_back = rep.away_until is None or at < rep.away_until
    return (rep.away_from is not None or rep.away_until is not None) and started and not_back


def local_day_start(rep: Rep, at: datetime) -> datetime:
    zone = ZoneInfo(rep.time_zone)
    return datetime.combine(at.astimezone(zone).date(), time(), tzinfo=zone)


def full_today(reps: Iterable[Rep], at: datetime) -> set[int]:
    """The pks of reps with a daily capacity who have taken that many leads today."""
    limited = [rep for rep in reps if rep.daily_capacity]
    return {
        rep.pk
        for rep in limited
        if Assignment.objects.filter(
            owner_id=rep.user_id, assigned_at__gte=local_day_start(rep, at)
        ).count()
        >= rep.daily_capacity
    }


def available(reps: Iterable[Rep], at: datetime) -> list[Rep]:
    """The reps who can take a lead at `at`, in the order given."""
    candidates = [
        rep for rep in reps if rep.is_active and is_working(rep, at) and not is_away(rep, at)
    ]
    full = full_today(candidates, at)
    return [rep for rep in candidates if rep.pk not in full]


def _day(moment: datetime) -> str:
    return WEEKDAYS[moment.weekday()]
