"""Booking a meeting with a rep, or with whoever of a team is free: the free slots of a booking
page, the booking itself (the meeting on the lead's deal, an event, an .ics invitation to both),
the reminder before it, what became of it (held, no-show, cancelled), and the signed link
nurture sends so a booking lands on the right lead.

Times are aware UTC throughout; a rep's working hours are read in the rep's own time zone and
a visitor sees the slots in theirs."""

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from leadloop.capture import services as capture
from leadloop.capture.models import CaptureChannel
from leadloop.core import outbox
from leadloop.core import services as core
from leadloop.core.keys import email_key
from leadloop.core.models import Channel, Event, Lead, MessageChannel, Source
from leadloop.crm import services
from leadloop.crm.models import BookingPage, Deal, Meeting, MeetingStatus, StageOutcome
from leadloop.routing.availability import local_day_start
from leadloop.routing.models import WEEKDAYS, Rep

logger = logging.getLogger(__name__)

LEAD_LINK_SALT = "crm.booking.lead"
UTC_ZONE = ZoneInfo("UTC")
BOOKING_SOURCE = "Booking page"
MEETING_BOOKED_STAGE = "Meeting booked"
# A meeting booked at least this far ahead is reminded a day before; one booked closer than
# this would get its "day before" reminder within two hours of booking, so it gets one an hour
# before instead.
EARLY_REMINDER = timedelta(hours=24)
LATE_REMINDER = timedelta(hours=1)
EARLY_REMINDER_NEEDS = timedelta(hours=26)
REMINDER_BATCH = 200
# What each outcome writes on the lead's timeline (no-show starts workflows).
MARK_EVENTS = {
    MeetingStatus.HELD: "meeting.held",
    MeetingStatus.NO_SHOW: "meeting.no_show",
    MeetingStatus.CANCELLED: "meeting.cancelled",
}
# The ends of time for an out-of-office window open on one side.
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


class BookingError(ValueError):
    """A booking or a change that cannot be done as asked; the message is for the person."""


class SlotTaken(BookingError):
    """The time is no longer free (someone else took it, or it is no longer offered)."""


# --- free slots ------------------------------------------------------------------------------


def hosts_of(page: BookingPage) -> list[Rep]:
    """The active reps a page books with: its rep, or its team's members in team order."""
    if page.rep_id:
        rep = page.rep
        return [rep] if rep.is_active else []
    memberships = page.team.memberships.select_related("rep__user").filter(rep__is_active=True)
    return [membership.rep for membership in memberships]


def zone_of_page(page: BookingPage) -> ZoneInfo:
    """The time zone a page shows times in until the visitor picks theirs: its host's (a
    team's first member's)."""
    hosts = hosts_of(page)
    return ZoneInfo(hosts[0].time_zone) if hosts else UTC_ZONE


def zone_named(name: str, default: ZoneInfo) -> ZoneInfo:
    """The time zone a visitor asked for, or `default` when the name is not one."""
    try:
        return ZoneInfo(name) if name else default
    except (ZoneInfoNotFoundError, ValueError):
        return default


def day_range(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """A calendar day in `zone`, as the UTC moments it starts and ends."""
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def free_slots(
    page: BookingPage, day_or_range: date | tuple[datetime, datetime], now: datetime
) -> list[datetime]:
    """The starts (aware UTC, sorted) of the page's free slots in a day (a date, read in the
    page's time zone) or between two moments. A team page offers the union of its members'."""
    window = day_or_range
    if isinstance(day_or_range, date):
        window = day_range(day_or_range, zone_of_page(page))
    return sorted({start for rep in hosts_of(page) for start in _free_for(page, rep, window, now)})


def _free_for(
    page: BookingPage, rep: Rep, window: tuple[datetime, datetime], now: datetime
) -> list[datetime]:
    """1. Narrow the window to what the page offers: from `notice_hours` ahead to
    `horizon_days` ahead. 2. Cut each of the rep's shifts in the window into meetings of the
    page's length, stepping by that length from the shift's start. 3. Keep those that fit the
    shift and the window, clear of the rep's time away and of the rep's meetings widened by
    the buffer."""
    length = timedelta(minutes=page.meeting_minutes)
    earliest = max(window[0], now + timedelta(hours=page.notice_hours))
    latest = min(window[1], now + timedelta(days=page.horizon_days))
    if earliest >= latest:
        return []
    busy = _busy(page, rep, earliest, latest)
    free = []
    for shift_start, shift_end in _shifts(rep, earliest, latest):
        start = shift_start
        while start + length <= shift_end:
            end = start + length
            if start >= earliest and end <= latest and not _clashes(rep, start, end, busy):
                free.append(start)
            start = end
    return free


def _shifts(rep: Rep, earliest: datetime, latest: datetime) -> list[tuple[datetime, datetime]]:
    """The rep's working stretches (UTC start, end) that may touch [earliest, latest), read as
    routing.availability.is_working reads them: a night shift (ends before it starts) runs into
    the next day, and the same start and end is the whole day. Each end is converted from the
    local clock on its own, so a shift over a daylight-saving change is an hour shorter or
    longer, as the rep's day is."""
    zone = ZoneInfo(rep.time_zone)
    days = {d.strip() for d in rep.work_days.split(",")}
    day = earliest.astimezone(zone).date() - timedelta(days=1)  # yesterday's night shift
    last = latest.astimezone(zone).date()
    shifts = []
    while day <= last:
        if WEEKDAYS[day.weekday()] in days:
            starts, ends = rep.work_starts, rep.work_ends
            if starts == ends:
                starts, ends = time(), time()
            end_day = day if starts < ends else day + timedelta(days=1)
            shifts.append(
                (
                    datetime.combine(day, starts, tzinfo=zone).astimezone(UTC),
                    datetime.combine(end_day, ends, tzinfo=zone).astimezone(UTC),
                )
            )
        day += timedelta(days=1)
    return shifts


def _busy(
    page: BookingPage, rep: Rep, earliest: datetime, latest: datetime
) -> list[tuple[datetime, datetime]]:
    """The rep's meetings near the window, each widened by the page's buffer on both sides."""
    buffer = timedelta(minutes=page.buffer_minutes)
    meetings = Meeting.objects.filter(
        host_id=rep.user_id,
        starts_at__lt=latest + buffer,
        ends_at__gt=earliest - buffer,
    ).exclude(status=MeetingStatus.CANCELLED)
    return [
        (start - buffer, end + buffer)
        for start, end in meetings.values_list("starts_at", "ends_at")
    ]


def _clashes(
    rep: Rep, start: datetime, end: datetime, busy: list[tuple[datetime, datetime]]
) -> bool:
    away = (rep.away_from or EARLIEST, rep.away_until or LATEST)
    has_away = rep.away_from is not None or rep.away_until is not None
    taken = [*busy, away] if has_away else busy
    return any(start < taken_end and end > taken_start for taken_start, taken_end in taken)


# --- booking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Guest:
    """The person booking, as typed on the page, and the time zone they read times in."""

    name: str
    email: str
    phone: str = ""
    note: str = ""
    zone: ZoneInfo = UTC_ZONE


def book(
    page: BookingPage,
    starts_at: datetime,
    guest: Guest,
    *,
    token: str = "",
    meta: capture.RequestMeta | None = None,
) -> Meeting:
    """1. Refuse a time the page does not offer now (before any lead is made for it).
    2. Find the lead: the signed token of the link, else the lead with this email, else a new
    one captured through the capture layer (its raw submission committed first).
    3. In one transaction, lock the hosts' Rep rows (in pk order, so two bookings never wait on
    each other crosswise), check the time again, and give it to the free host with the fewest
    meetings that day. 4. Write the meeting, put it on the lead's open deal (or a new one) and
    move that deal to "Meeting booked" if it is not past it, record "meeting.booked", and queue
    the invitation with its .ics to the guest and to the host."""
    starts_at = starts_at.astimezone(UTC)
    if starts_at not in free_slots(
        page, (starts_at, starts_at + timedelta(minutes=page.meeting_minutes)), timezone.now()
    ):
        raise SlotTaken("That time is no longer free. Please pick another.")
    lead = _lead_for(token, guest, meta or capture.RequestMeta())
    with transaction.atomic():
        hosts = list(
            Rep.objects.select_for_update()
            .select_related("user")
            .filter(pk__in=[rep.pk for rep in hosts_of(page)])
            .order_by("pk")
        )
        host = _least_busy(page, _free_at(page, hosts, starts_at), starts_at)
        meeting = Meeting.objects.create(
            lead=lead,
            deal=_deal_for(lead, host.user),
            host=host.user,
            booking_page=page,
            title=f"{page.title}: {guest.name}"[:200],
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=page.meeting_minutes),
            location=page.location,
            guest_note=guest.note,
        )
        if meeting.deal:
            _advance(meeting.deal)
        core.record_event(
            lead,
            "meeting.booked",
            {
                "meeting": meeting.pk,
                "starts_at": starts_at.isoformat(),
                "host": host.user.get_username(),
                "zone": guest.zone.key,
                "email": guest.email,
            },
            actor=f"booking:{page.slug}",
        )
        _invite(meeting, guest, ZoneInfo(host.time_zone))
    return meeting


def _free_at(page: BookingPage, hosts: list[Rep], starts_at: datetime) -> list[Rep]:
    window = (starts_at, starts_at + timedelta(minutes=page.meeting_minutes))
    now = timezone.now()
    free = [rep for rep in hosts if starts_at in _free_for(page, rep, window, now)]
    if not free:
        raise SlotTaken("Someone has just taken that time. Please pick another.")
    return free


def _least_busy(page: BookingPage, free: list[Rep], starts_at: datetime) -> Rep:
    """The free host with the fewest meetings on that day (their own calendar day); the first in
    team order on a tie."""

    def meetings_that_day(rep: Rep) -> int:
        day_start = local_day_start(rep, starts_at)
        return (
            Meeting.objects.filter(
                host_id=rep.user_id,
                starts_at__gte=day_start,
                starts_at__lt=day_start + timedelta(days=1),
            )
            .exclude(status=MeetingStatus.CANCELLED)
            .count()
        )

    order = {rep.pk: position for position, rep in enumerate(hosts_of(page))}
    return min(free, key=lambda rep: (meetings_that_day(rep), order.get(rep.pk, 0)))


def _lead_for(token: str, guest: Guest, meta: capture.RequestMeta) -> Lead:
    lead = lead_of_token(token) if token else None
    if lead is None:
        lead = (
            Lead.objects.filter(
                email_key=email_key(guest.email), duplicate_of__isnull=True, merged_at__isnull=True
            )
            .order_by("pk")
            .first()
        )
    return lead or _captured(guest, meta)


def _captured(guest: Guest, meta: capture.RequestMeta) -> Lead:
    """A new lead through the capture layer, as a lead source would post it: the raw body is
    stored first, then validated, deduplicated, scored and routed like any other lead."""
    first_name, _, last_name = guest.name.strip().partition(" ")
    body = {"first_name": first_name, "last_name": last_name, "email": guest.email}
    if guest.phone:
        body["phone"] = guest.phone
    if guest.note:
        body["fields"] = {"booking_note": guest.note}
    outcome = capture.capture(CaptureChannel.API, json.dumps(body), meta, source=booking_source())
    if outcome.errors:
        raise BookingError(" ".join(error["message"] for error in outcome.errors))
    if outcome.lead is None:
        raise BookingError("We could not take your details just now. Please try again.")
    return outcome.lead


def booking_source() -> Source:
    """The lead source of leads first met on a booking page."""
    return Source.objects.get_or_create(name=BOOKING_SOURCE, defaults={"channel": Channel.DIRECT})[
        0
    ]


def _deal_for(lead: Lead, host: AbstractBaseUser) -> Deal | None:
    """The lead's open deal, or a new one owned by the host; none when there is no pipeline to
    open it in (a meeting is still booked)."""
    deal = Deal.objects.filter(lead=lead, stage__outcome=StageOutcome.OPEN).order_by("-pk").first()
    if deal is not None:
        return deal
    try:
        return services.open_deal(lead, owner=lead.owner or host)
    except services.DealError:
        return None


def _advance(deal: Deal) -> None:
    stage = deal.pipeline.stages.filter(
        name=MEETING_BOOKED_STAGE, outcome=StageOutcome.OPEN
    ).first()
    if stage is not None and stage.position > deal.stage.position:
        services.move_deal(deal, stage, by=None)


# --- messages --------------------------------------------------------------------------------


def _invite(meeting: Meeting, guest: Guest, host_zone: ZoneInfo) -> None:
    attachment = {
        "filename": "invite.ics",
        "content": ics(meeting, guest_name=guest.name, guest_email=guest.email),
        "mimetype": "text/calendar; method=REQUEST",
    }
    subject = f"Invitation: {meeting.title}"
    _email_both(meeting, guest, host_zone, subject, "meeting.invitation", "", [attachment])


def _email_both(
    meeting: Meeting,
    guest: Guest,
    host_zone: ZoneInfo,
    subject: str,
    kind: str,
    key_part: str,
    attachments: list[dict] | None = None,
) -> None:
    """The same news to the guest (their time zone) and to the host (theirs), each keyed by the
    meeting so a retried caller queues it once."""
    payload = {"attachments": attachments} if attachments else None
    host = meeting.host
    host_name = host.get_full_name() or host.get_username()
    recipients = [
        (guest.email, guest.zone, True, f"with {host_name}", "lead"),
        (host.email, host_zone, False, f"with {guest.name}", "host"),
    ]
    for address, zone, to_lead, with_whom, who in recipients:
        if not address:
            continue
        outbox.queue(
            meeting.lead,
            MessageChannel.EMAIL,
            address,
            _body(meeting, zone, with_whom),
            subject=subject,
            kind=kind,
            to_lead=to_lead,
            payload=payload,
            origin=f"meeting {meeting.pk}",
            key=f"meeting-{meeting.uid}{key_part}-{who}",
        )


def _body(meeting: Meeting, zone: ZoneInfo, with_whom: str) -> str:
    starts = meeting.starts_at.astimezone(zone)
    lines = [
        f"{meeting.title} ({with_whom})",
        "",
        f"When: {starts:%A %d %B %Y, %H:%M} ({zone.key}), {meeting_minutes(meeting)} minutes",
    ]
    if meeting.location:
        lines.append(f"Where: {meeting.location}")
    if meeting.guest_note:
        lines += ["", f"Note: {meeting.guest_note}"]
    lines += ["", f"Add it to your calendar: {calendar_url(meeting)}"]
    return "\n".join(lines) + "\n"


def meeting_minutes(meeting: Meeting) -> int:
    return int((meeting.ends_at - meeting.starts_at).total_seconds() // 60)


def calendar_url(meeting: Meeting) -> str:
    return settings.SITE_URL + reverse("crm:meeting_ics", args=[meeting.uid])


# --- iCalendar (RFC 5545) --------------------------------------------------------------------


def ics(
    meeting: Meeting, *, guest_name: str = "", guest_email: str = "", method: str = "REQUEST"
) -> str:
    """The meeting as an iCalendar object: CRLF line ends, text escaped, lines folded at 75
    octets. The guest defaults to the lead's name and address."""
    lead = meeting.lead
    guest_name = guest_name or lead.full_name or lead.email
    guest_email = guest_email or lead.email
    host = meeting.host
    host_name = host.get_full_name() or host.get_username()
    cancelled = meeting.status == MeetingStatus.CANCELLED
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//leadloop//booking//EN",
        "CALSCALE:GREGORIAN",
        f"METHOD:{method}",
        "BEGIN:VEVENT",
        f"UID:{meeting.uid}@leadloop",
        f"DTSTAMP:{_utc(timezone.now())}",
        f"DTSTART:{_utc(meeting.starts_at)}",
        f"DTEND:{_utc(meeting.ends_at)}",
        f"SUMMARY:{_text(meeting.title)}",
        f"LOCATION:{_text(meeting.location)}",
        f"DESCRIPTION:{_text(meeting.guest_note)}",
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
        # A cancellation must outrank the invitation it withdraws (RFC 5546).
        f"SEQUENCE:{1 if cancelled else 0}",
        f"ORGANIZER;CN={_param(host_name)}:mailto:{host.email}",
        f"ATTENDEE;CN={_param(guest_name)};ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;"
        f"RSVP=TRUE:mailto:{guest_email}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(_fold(line) + "\r\n" for line in lines)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _text(value: str) -> str:
    """A TEXT value: backslash, semicolon and comma escaped, each line break as \\n."""
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return escaped.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def _param(value: str) -> str:
    """A parameter value, quoted (it may hold , ; :); a double quote cannot be in one at all,
    and neither can a control character."""
    cleaned = "".join(c for c in value if c != '"' and (c == "\t" or ord(c) >= 32))
    return f'"{cleaned}"'


def _fold(line: str) -> str:
    """Lines over 75 octets go on in continuation lines that start with a space; a UTF-8
    character is never split."""
    parts, current, size = [], "", 0
    for char in line:
        width = len(char.encode())
        limit = 75 if not parts else 74  # the continuation's leading space counts
        if size + width > limit:
            parts.append(current)
            current, size = "", 0
        current += char
        size += width
    parts.append(current)
    return "\r\n ".join(parts)


# --- reminders -------------------------------------------------------------------------------


def remind_due_meetings() -> int:
    """The sweep (every minute): 1. Find booked meetings not yet reminded whose reminder is due:
    a day before, or an hour before one booked less than 26 hours ahead. 2. Claim each with a
    conditional UPDATE of reminded_at, so of two workers only one wins. 3. The winner queues
    the reminders in the claim's transaction, keyed by the meeting, so a crash between them
    loses neither and a retry sends nothing twice."""
    now = timezone.now()
    booked_early = Q(created_at__lte=F("starts_at") - EARLY_REMINDER_NEEDS)
    due = (
        Meeting.objects.filter(
            status=MeetingStatus.BOOKED, reminded_at__isnull=True, starts_at__gt=now
        )
        .filter(
            (booked_early & Q(starts_at__lte=now + EARLY_REMINDER))
            | (~booked_early & Q(starts_at__lte=now + LATE_REMINDER))
        )
        .order_by("starts_at")
        .values_list("pk", flat=True)
    )
    reminded = 0
    for meeting_id in list(due[:REMINDER_BATCH]):
        try:
            reminded += _remind(meeting_id, now)
        except Exception:
            logger.exception("reminding of meeting %s failed; it stays due", meeting_id)
    return reminded


def _remind(meeting_id: int, now: datetime) -> int:
    with transaction.atomic():
        won = Meeting.objects.filter(
            pk=meeting_id, status=MeetingStatus.BOOKED, reminded_at__isnull=True
        ).update(reminded_at=now)
        if not won:
            return 0
        meeting = Meeting.objects.select_related("lead", "host").get(pk=meeting_id)
        subject = f"Reminder: {meeting.title}"
        _email_both(
            meeting,
            _guest_of(meeting),
            _host_zone(meeting),
            subject,
            "meeting.reminder",
            "-reminder",
        )
        return 1


def _host_zone(meeting: Meeting) -> ZoneInfo:
    name = Rep.objects.filter(user_id=meeting.host_id).values_list("time_zone", flat=True).first()
    return zone_named(name or "", UTC_ZONE)


def _guest_of(meeting: Meeting) -> Guest:
    """The guest as they booked (the address and time zone kept on the booking event), else
    the lead's address in UTC."""
    lead = meeting.lead
    booked = (
        Event.objects.filter(lead_id=lead.pk, type="meeting.booked", data__meeting=meeting.pk)
        .order_by("-pk")
        .first()
    )
    data = booked.data if booked else {}
    return Guest(
        name=lead.full_name or lead.email,
        email=data.get("email") or lead.email,
        zone=zone_named(data.get("zone", ""), UTC_ZONE),
    )


# --- what became of it -----------------------------------------------------------------------


def mark(meeting: Meeting, status: str, *, by: AbstractBaseUser | None) -> Meeting:
    """Held, no-show or cancelled, with its event on the lead's timeline (a no-show can start a
    workflow); a cancellation is sent to both as an iCalendar CANCEL, which takes the meeting
    out of their calendars. Held and no-show are for a meeting that has started; marking a
    meeting what it already is changes nothing and writes nothing."""
    if status not in MARK_EVENTS:
        raise BookingError("A meeting can be marked held, no-show or cancelled.")
    with transaction.atomic():
        meeting = (
            Meeting.objects.select_for_update().select_related("lead", "host").get(pk=meeting.pk)
        )
        if meeting.status == status:
            return meeting
        if status != MeetingStatus.CANCELLED and meeting.starts_at > timezone.now():
            raise BookingError("A meeting can be marked held or no-show once it has started.")
        meeting.status = status
        meeting.save(update_fields=["status"])
        core.record_event(
            meeting.lead,
            MARK_EVENTS[status],
            {"meeting": meeting.pk, "starts_at": meeting.starts_at.isoformat()},
            actor=services.actor_name(by),
        )
        if status == MeetingStatus.CANCELLED:
            _send_cancellation(meeting)
    return meeting


def _send_cancellation(meeting: Meeting) -> None:
    guest = _guest_of(meeting)
    attachment = {
        "filename": "cancel.ics",
        "content": ics(meeting, guest_name=guest.name, guest_email=guest.email, method="CANCEL"),
        "mimetype": "text/calendar; method=CANCEL",
    }
    subject = f"Cancelled: {meeting.title}"
    _email_both(
        meeting, guest, _host_zone(meeting), subject, "meeting.cancelled", "-cancel", [attachment]
    )


# --- the link nurture sends ------------------------------------------------------------------


def booking_link(page: BookingPage, lead: Lead | None = None) -> str:
    """The page's absolute address; with a lead, signed so the booking lands on that lead."""
    url = settings.SITE_URL + reverse("crm:book", args=[page.slug])
    return f"{url}?lead={signing.dumps(lead.pk, salt=LEAD_LINK_SALT)}" if lead else url


def lead_of_token(token: str) -> Lead | None:
    """The lead a signed link names (the lead it was merged into, if it was); None for a token
    that was tampered with or names no lead."""
    try:
        pk = signing.loads(token, salt=LEAD_LINK_SALT)
    except signing.BadSignature:
        return None
    lead = Lead.objects.filter(pk=pk).select_related("duplicate_of").first()
    if lead is not None and lead.merged_at and lead.duplicate_of_id:
        return lead.duplicate_of
    return lead


def page_for(user: AbstractBaseUser) -> BookingPage | None:
    """The booking page that books with this person: their own, else one of a team of theirs."""
    pages = BookingPage.objects.filter(is_active=True).order_by("pk")
    return (
        pages.filter(rep__user=user, rep__is_active=True).first()
        or pages.filter(team__memberships__rep__user=user).first()
    )


def set_booking_links(events: list[Event]) -> None:
    """A lead given an owner gets the owner's booking link in custom_fields["booking_url"] (what
    `{{ lead.booking_url }}` in nurture's messages reads); an owner with no page leaves it."""
    for lead_id in {event.lead_id for event in events}:
        lead = (
            Lead.objects.select_for_update(of=("self",))
            .select_related("owner")
            .filter(pk=lead_id)
            .first()
        )
        page = page_for(lead.owner) if lead and lead.owner else None
        if page is None:
            continue
        lead.custom_fields = {**lead.custom_fields, "booking_url": booking_link(page, lead)}
        Lead.objects.filter(pk=lead.pk).update(custom_fields=lead.custom_fields)
