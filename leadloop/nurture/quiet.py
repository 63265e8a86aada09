"""Quiet hours: an SMS goes out only between 08:00 and 21:00 where the recipient is, read from
the phone number's time zone(s). A number whose region spans several zones (most US numbers)
waits until it is daytime in every one of them."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as number_zones

DAY_STARTS, DAY_ENDS = time(8), time(21)
UNKNOWN = "Etc/Unknown"


def time_zones(phone: str) -> list[ZoneInfo]:
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return []
    names = [n for n in number_zones.time_zones_for_number(number) if n != UNKNOWN]
    return [ZoneInfo(name) for name in names]


def next_allowed(phone: str, now: datetime) -> datetime:
    """`now` if it is daytime in all the number's zones, else the first moment it is. A number
    with no known zone is sent at once (nothing says where it is)."""
    zones = time_zones(phone)
    candidates = [now] + [_next_morning(now, zone) for zone in zones]
    for moment in sorted(candidates):
        if all(_daytime(moment, zone) for zone in zones):
            return moment
    return max(candidates)


def _daytime(moment: datetime, zone: ZoneInfo) -> bool:
    clock = moment.astimezone(zone).time()
    return DAY_STARTS <= clock < DAY_ENDS


def _next_morning(moment: datetime, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    morning = datetime.combine(local.date(), DAY_STARTS, tzinfo=zone)
    return morning if morning >= local else morning + timedelta(days=1)
