"""Booking a meeting: the free slots a page offers (the host's hours in the host's time zone,
notice, buffer, time away, horizon, a team's union), a booking (the meeting on a deal, the
event, an .ics invitation to both by real SMTP), two people after one slot, the signed link,
a stranger captured as a lead, one reminder, a no-show starting a workflow, the link set when a
lead gets an owner, and the pages.

The cast:
- `rita`, a sales rep in New York (America/New_York, 09:00-17:00 every day), whose page is
  /book/rita/ (30-minute meetings, 10 minutes' buffer, 2 hours' notice, 14 days ahead);
- Lena, a lead (lena@customers.example) who books with her.
The clock stands at Monday 2 March 2026 10:00 UTC (05:00 in New York) unless a test moves it."""

import json
import re
import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db import connections
from django.urls import reverse

from leadloop import journey
from leadloop.capture.models import Submission, SubmissionStatus
from leadloop.core import outbox, reactions
from leadloop.core.keys import email_key
from leadloop.core.models import Event, Lead, Message
from leadloop.crm import booking
from leadloop.crm.access import Role
from leadloop.crm.models import BookingPage, Deal, Meeting, MeetingStatus
from leadloop.nurture import services as nurture
from leadloop.nurture.models import Enrollment, Workflow
from leadloop.routing import services as routing
from leadloop.routing.availability import is_working
from leadloop.routing.models import Membership, Rep, Team
from tests.crm.conftest import password_of

pytestmark = pytest.mark.django_db

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TUESDAY = date(2026, 3, 3)
NEW_YORK = ZoneInfo("America/New_York")
ALL_WEEK = "Mon,Tue,Wed,Thu,Fri,Sat,Sun"


def new_york(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK).astimezone(UTC)


def clock_times(slots: list[datetime], zone: ZoneInfo = NEW_YORK) -> list[str]:
    return [f"{slot.astimezone(zone):%H:%M}" for slot in slots]


def half_hours(start: str, last: str) -> list[str]:
    """ "09:00", "09:30", ... up to `last`."""
    (h, m), (lh, lm) = map(int, start.split(":")), map(int, last.split(":"))
    times, minutes = [], h * 60 + m
    while minutes <= lh * 60 + lm:
        times.append(f"{minutes // 60:02d}:{minutes % 60:02d}")
        minutes += 30
    return times


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_10, tick=False) as traveller:
        yield traveller


@pytest.fixture
def rita(person):
    user = person("rita", Role.REP, last_name="Reyes")
    Rep.objects.create(
        user=user,
        time_zone="America/New_York",
        work_days=ALL_WEEK,
        work_starts=time(9),
        work_ends=time(17),
    )
    return user


@pytest.fixture
def page(rita) -> BookingPage:
    return BookingPage.objects.create(
        slug="rita",
        title="Cleaning walkthrough",
        rep=rita.rep,
        meeting_minutes=30,
        buffer_minutes=10,
        notice_hours=2,
        horizon_days=14,
        location="Video call, link to follow",
    )


@pytest.fixture
def known(make_lead):
    """A lead as capture leaves one: with the normalised email key it is found by."""

    def make(email: str, **fields) -> Lead:
        return make_lead(email=email, email_key=email_key(email), **fields)

    return make


@pytest.fixture
def lena(known) -> Lead:
    return known("lena@customers.example", first_name="Lena", last_name="Lane")


def guest(email: str = "lena@customers.example", name: str = "Lena Lane", **fields):
    return booking.Guest(name=name, email=email, **fields)


def meeting_with(lead: Lead, host, starts_at: datetime, **fields) -> Meeting:
    return Meeting.objects.create(
        lead=lead,
        host=host,
        title="Walkthrough",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=30),
        **fields,
    )


# --- free slots ------------------------------------------------------------------------------


def test_slots_fill_the_hosts_working_hours_in_the_hosts_time_zone(clock, page):
    slots = booking.free_slots(page, TUESDAY, booking.timezone.now())

    assert clock_times(slots) == half_hours("09:00", "16:30")
    assert slots[0] == datetime(2026, 3, 3, 14, 0, tzinfo=UTC)  # 09:00 EST is 14:00 UTC
    assert all(slot.tzinfo == UTC for slot in slots)
    rep = page.rep
    assert all(is_working(rep, s) and is_working(rep, s + timedelta(minutes=29)) for s in slots)


def test_a_night_shift_offers_the_small_hours_after_its_working_day(clock, page):
    Rep.objects.filter(pk=page.rep_id).update(
        work_days="Mon", work_starts=time(22), work_ends=time(2)
    )
    page.refresh_from_db()

    assert clock_times(booking.free_slots(page, TUESDAY, booking.timezone.now())) == half_hours(
        "00:00", "01:30"
    )


def test_nothing_is_offered_sooner_than_the_notice(clock, page):
    page.notice_hours = 6  # from 16:00 UTC, 11:00 in New York

    slots = booking.free_slots(page, date(2026, 3, 2), booking.timezone.now())

    assert clock_times(slots) == half_hours("11:00", "16:30")


def test_a_booked_meeting_blocks_its_time_and_the_buffer_around_it(clock, page, lena, rita):
    meeting_with(lena, rita, new_york(TUESDAY, 10))
    meeting_with(lena, rita, new_york(TUESDAY, 14), status=MeetingStatus.CANCELLED)

    slots = clock_times(booking.free_slots(page, TUESDAY, booking.timezone.now()))

    # 09:30 would end at 10:00, inside the 10 minutes before; 10:30 starts inside the 10 after.
    assert "09:00" in slots and "11:00" in slots
    assert not {"09:30", "10:00", "10:30"} & set(slots)
    assert "14:00" in slots  # a cancelled meeting frees its time


def test_time_away_is_not_offered(clock, page):
    Rep.objects.filter(pk=page.rep_id).update(
        away_from=new_york(TUESDAY, 12), away_until=new_york(TUESDAY + timedelta(days=1), 0)
    )
    page.refresh_from_db()

    assert clock_times(booking.free_slots(page, TUESDAY, booking.timezone.now())) == half_hours(
        "09:00", "11:30"
    )


def test_nothing_is_offered_beyond_the_horizon(clock, page):
    page.horizon_days = 2
    now = booking.timezone.now()

    slots = booking.free_slots(page, (now, now + timedelta(days=30)), now)

    assert slots and max(slots) < now + timedelta(days=2)
    assert {slot.astimezone(NEW_YORK).date() for slot in slots} == {
        date(2026, 3, 2),
        date(2026, 3, 3),
    }


def test_a_team_page_offers_the_union_of_its_active_members_slots(clock, rita, person):
    tom = person("tom", Role.REP)
    Rep.objects.create(
        user=tom,
        time_zone="Europe/Berlin",
        work_days=ALL_WEEK,
        work_starts=time(9),
        work_ends=time(11),
    )
    away = person("ada", Role.REP)
    Rep.objects.create(
        user=away, work_days=ALL_WEEK, work_starts=time(0), work_ends=time(0), is_active=False
    )
    team = Team.objects.create(name="Walkthroughs")
    for position, user in enumerate([rita, tom, away]):
        Membership.objects.create(team=team, rep=user.rep, position=position)
    page = BookingPage.objects.create(slug="team", team=team, meeting_minutes=60, buffer_minutes=0)

    slots = booking.free_slots(
        page, (new_york(TUESDAY, 0), new_york(TUESDAY, 23)), booking.timezone.now()
    )

    # Tom: 09:00-11:00 Berlin is 08:00-10:00 UTC; Rita: 09:00-17:00 New York is 14:00-22:00 UTC.
    assert clock_times(slots, UTC) == ["08:00", "09:00", *[f"{h}:00" for h in range(14, 22)]]


# --- booking ---------------------------------------------------------------------------------


def attachment_of(message) -> str:
    [part] = [p for p in message.iter_attachments() if p.get_filename() == "invite.ics"]
    assert part.get_content_type() == "text/calendar"
    return part.get_payload(decode=True).decode()


def read_ics(text: str) -> dict[str, str]:
    """A small RFC 5545 reader: unfold continuation lines, then NAME(;params):value, with
    TEXT escapes undone."""
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    values = {}
    for line in unfolded.splitlines():
        name_and_params, _, value = line.partition(":")
        name = name_and_params.split(";")[0]
        unescaped = re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], value)
        values.setdefault(name, unescaped)
        values.setdefault(f"{name}+", name_and_params)
    return values


def test_a_booking_puts_the_meeting_on_a_deal_records_it_and_invites_both(
    clock, page, lena, rita, pipeline, smtp
):
    starts = new_york(TUESDAY, 10)
    note = "Offices, 3 floors; we need it weekly, please call first.\nThanks!"

    meeting = booking.book(page, starts, guest(note=note, zone=ZoneInfo("Europe/London")))

    assert meeting.lead == lena and meeting.host == rita
    assert (meeting.starts_at, meeting.ends_at) == (starts, starts + timedelta(minutes=30))
    deal = Deal.objects.get(lead=lena)
    assert meeting.deal == deal and deal.stage.name == "Meeting booked" and deal.owner == rita
    event = Event.objects.get(lead=lena, type="meeting.booked")
    assert event.data == {
        "meeting": meeting.pk,
        "starts_at": starts.isoformat(),
        "host": "rita",
        "zone": "Europe/London",
        "email": "lena@customers.example",
    }

    assert outbox.send_due() == 2
    [to_lena], [to_rita] = smtp.to("lena@customers.example"), smtp.to("rita@team.example")
    assert "15:00 (Europe/London)" in to_lena.get_body(("plain",)).get_content()
    assert "10:00 (America/New_York)" in to_rita.get_body(("plain",)).get_content()
    raw = attachment_of(to_lena)
    assert all(len(line.encode()) <= 75 for line in raw.split("\r\n"))
    ics = read_ics(raw)
    assert ics["METHOD"] == "REQUEST" and ics["BEGIN"] == "VCALENDAR"
    assert ics["UID"] == f"{meeting.uid}@leadloop"
    assert (ics["DTSTART"], ics["DTEND"]) == ("20260303T150000Z", "20260303T153000Z")
    assert ics["DESCRIPTION"] == note
    assert ics["LOCATION"] == "Video call, link to follow"
    assert ics["ORGANIZER"] == "mailto:rita@team.example"
    assert ics["ATTENDEE"] == "mailto:lena@customers.example"
    assert 'CN="Lena Lane"' in ics["ATTENDEE+"]
    assert attachment_of(to_rita).count("BEGIN:VEVENT") == 1


def test_the_ics_text_folds_long_lines_and_escapes_text(clock, page, lena, rita):
    meeting = meeting_with(
        lena, rita, new_york(TUESDAY, 10), location="Unit 4, Dock Rd; ground floor\\back"
    )
    meeting.guest_note = "Zoë " * 40

    text = booking.ics(meeting)

    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert "LOCATION:Unit 4\\, Dock Rd\\; ground floor\\\\back\r\n" in text
    assert read_ics(text)["DESCRIPTION"] == meeting.guest_note


def test_a_slot_cannot_be_booked_twice(clock, page, lena, known):
    known("max@customers.example", first_name="Max")
    starts = new_york(TUESDAY, 10)
    booking.book(page, starts, guest())

    with pytest.raises(booking.SlotTaken):
        booking.book(page, starts, guest("max@customers.example", "Max Mint"))
    with pytest.raises(booking.SlotTaken):  # inside the buffer of the first
        booking.book(page, new_york(TUESDAY, 10, 30), guest("max@customers.example", "Max Mint"))
    with pytest.raises(booking.SlotTaken):  # not a slot at all
        booking.book(page, new_york(TUESDAY, 10, 7), guest("max@customers.example", "Max Mint"))
    assert Meeting.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_people_after_one_slot_at_the_same_moment_get_it_once(page, known):
    emails = [f"guest{n}@customers.example" for n in range(4)]
    for email in emails:
        known(email)
    starts = new_york(date.today() + timedelta(days=2), 11)
    start = threading.Barrier(len(emails))
    outcomes = []

    def take(email: str) -> None:
        try:
            start.wait(timeout=30)
            booking.book(page, starts, guest(email, "Guest"))
            outcomes.append("booked")
        except booking.SlotTaken:
            outcomes.append("taken")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=take, args=(email,)) for email in emails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["booked", "taken", "taken", "taken"]
    assert Meeting.objects.filter(starts_at=starts).count() == 1


def test_a_team_booking_goes_to_the_free_member_with_the_fewest_meetings_that_day(
    clock, rita, person, lena
):
    tom = person("tom", Role.REP)
    Rep.objects.create(
        user=tom,
        time_zone="America/New_York",
        work_days=ALL_WEEK,
        work_starts=time(9),
        work_ends=time(17),
    )
    team = Team.objects.create(name="Walkthroughs")
    Membership.objects.create(team=team, rep=rita.rep, position=0)
    Membership.objects.create(team=team, rep=tom.rep, position=1)
    page = BookingPage.objects.create(slug="team", team=team)
    meeting_with(lena, rita, new_york(TUESDAY, 15))

    first = booking.book(page, new_york(TUESDAY, 10), guest())
    second = booking.book(page, new_york(TUESDAY, 10), guest())

    assert (first.host, second.host) == (tom, rita)
    with pytest.raises(booking.SlotTaken):
        booking.book(page, new_york(TUESDAY, 10), guest())


def test_the_signed_link_books_for_the_lead_it_names(clock, page, lena, known):
    max_ = known("max@customers.example", first_name="Max")
    link = booking.booking_link(page, max_)
    token = link.split("?lead=")[1]
    assert link.startswith(f"{settings.SITE_URL}/book/rita/?lead=")

    meeting = booking.book(page, new_york(TUESDAY, 10), guest(), token=token)

    assert meeting.lead == max_
    assert booking.lead_of_token(token[:-2] + "xx") is None


def test_an_unknown_guest_becomes_a_lead_through_capture(clock, page):
    meeting = booking.book(
        page,
        new_york(TUESDAY, 10),
        guest("nova@newcomers.example", "Nova Neri", phone="+1 212 555 0134"),
    )

    lead = meeting.lead
    assert (lead.first_name, lead.last_name, lead.email) == (
        "Nova",
        "Neri",
        "nova@newcomers.example",
    )
    assert lead.source.name == "Booking page" and lead.source.channel == "direct"
    submission = Submission.objects.get(lead=lead)
    assert submission.status == SubmissionStatus.ACCEPTED
    assert json.loads(submission.raw)["email"] == "nova@newcomers.example"

    again = booking.book(page, new_york(TUESDAY, 11), guest("Nova@Newcomers.example", "Nova Neri"))
    assert again.lead == lead and Submission.objects.count() == 1


def test_a_meeting_is_reminded_once_a_day_before(clock, page, lena):
    meeting = booking.book(page, new_york(date(2026, 3, 5), 10), guest())
    sent_before = Message.objects.count()

    clock.move_to(meeting.starts_at - timedelta(hours=25))
    assert booking.remind_due_meetings() == 0
    clock.move_to(meeting.starts_at - timedelta(hours=23))
    assert booking.remind_due_meetings() == 1
    assert booking.remind_due_meetings() == 0

    reminders = Message.objects.filter(kind="meeting.reminder")
    assert Message.objects.count() == sent_before + 2
    assert sorted(reminders.values_list("to", flat=True)) == [
        "lena@customers.example",
        "rita@team.example",
    ]
    meeting.refresh_from_db()
    assert meeting.reminded_at is not None


def test_a_meeting_booked_the_day_before_is_reminded_an_hour_before(clock, page, lena):
    meeting = booking.book(page, new_york(date(2026, 3, 2), 15), guest())  # 5 hours ahead

    clock.move_to(meeting.starts_at - timedelta(hours=2))
    assert booking.remind_due_meetings() == 0
    clock.move_to(meeting.starts_at - timedelta(minutes=50))
    assert booking.remind_due_meetings() == 1
    assert Message.objects.filter(kind="meeting.reminder").count() == 2


def test_a_no_show_starts_a_workflow_that_waits_for_one(clock, page, lena, rita):
    workflow = Workflow.objects.create(
        name="No-show follow-up",
        trigger={"on": "event", "event": "meeting.no_show"},
        steps=[{"do": "tag", "add": ["missed-meeting"]}],
        is_active=True,
    )
    nurture.publish(workflow)
    nurture.forget_watched_types()
    meeting = booking.book(page, new_york(TUESDAY, 10), guest())

    with pytest.raises(booking.BookingError):
        booking.mark(meeting, MeetingStatus.NO_SHOW, by=rita)  # it has not started yet
    clock.move_to(meeting.starts_at + timedelta(minutes=20))
    booking.mark(meeting, MeetingStatus.NO_SHOW, by=rita)
    booking.mark(meeting, MeetingStatus.NO_SHOW, by=rita)
    journey.follow_up()

    assert Event.objects.filter(lead=lena, type="meeting.no_show").count() == 1
    assert Enrollment.objects.filter(workflow=workflow, lead=lena).exists()
    meeting.refresh_from_db()
    assert meeting.status == MeetingStatus.NO_SHOW


def test_a_cancelled_meeting_is_withdrawn_from_both_calendars_and_its_time_is_free_again(
    clock, page, lena, rita, smtp
):
    meeting = booking.book(page, new_york(TUESDAY, 10), guest(zone=ZoneInfo("Europe/London")))
    outbox.send_due()

    booking.mark(meeting, MeetingStatus.CANCELLED, by=rita)
    outbox.send_due()

    cancellations = [m for m in smtp.messages if m["Subject"].startswith("Cancelled:")]
    assert sorted(str(m["To"]) for m in cancellations) == [
        "lena@customers.example",
        "rita@team.example",
    ]
    [part] = list(cancellations[0].iter_attachments())
    ics = read_ics(part.get_payload(decode=True).decode())
    assert (ics["METHOD"], ics["STATUS"], ics["SEQUENCE"]) == ("CANCEL", "CANCELLED", "1")
    assert ics["UID"] == f"{meeting.uid}@leadloop"
    assert Event.objects.filter(lead=lena, type="meeting.cancelled").count() == 1
    assert new_york(TUESDAY, 10) in booking.free_slots(page, TUESDAY, booking.timezone.now())


def test_a_lead_given_an_owner_gets_the_owners_booking_link(clock, page, lena, rita, person):
    routing.reassign(lena, rita, by="manager", why="Knows the area")
    reactions.deliver_due()

    lena.refresh_from_db()
    url = lena.custom_fields["booking_url"]
    assert url.startswith(f"{settings.SITE_URL}/book/rita/?lead=")
    assert booking.lead_of_token(url.split("?lead=")[1]) == lena

    nobody = person("nina", Role.REP)
    routing.reassign(lena, nobody, by="manager", why="Covering")
    reactions.deliver_due()
    lena.refresh_from_db()
    assert lena.custom_fields["booking_url"] == url  # no page of hers: the link is left


# --- the pages -------------------------------------------------------------------------------


def test_the_public_page_shows_the_days_and_the_times_in_the_visitors_zone(clock, client, page):
    response = client.get("/book/rita/?tz=Europe/London&day=2026-03-03")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Cleaning walkthrough" in html and "Rita Reyes" in html and "30 minutes" in html
    assert 'value="2026-03-03T14:00:00+00:00"' in html and "> 14:00</label>" in html
    assert "Log out" not in html

    fragment = client.get("/book/rita/slots?day=2026-03-03&tz=America/New_York").content.decode()
    assert "> 09:00</label>" in fragment and "<html" not in fragment


def test_an_inactive_or_unknown_page_is_not_found(clock, client, page):
    page.is_active = False
    page.save()
    assert client.get("/book/rita/").status_code == 404
    assert client.get("/book/nobody/").status_code == 404


def test_booking_on_the_page_confirms_in_the_visitors_zone(clock, client, page, lena):
    starts = new_york(TUESDAY, 10)
    form = {
        "starts_at": starts.isoformat(),
        "name": "Lena <b>Lane</b>",
        "email": "lena@customers.example",
        "tz": "Europe/London",
        "day": "2026-03-03",
    }

    response = client.post("/book/rita/", form)

    meeting = Meeting.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/book/meeting/{meeting.uid}/?tz=Europe%2FLondon"
    confirmation = client.get(response["Location"]).content.decode()
    assert "15:00 to 15:30" in confirmation and "Europe/London" in confirmation
    ics = client.get(reverse("crm:meeting_ics", args=[meeting.uid]))
    assert ics["Content-Type"].startswith("text/calendar")
    assert read_ics(ics.content.decode())["DTSTART"] == "20260303T150000Z"

    again = client.post("/book/rita/", form | {"email": "max@customers.example"})
    assert again.status_code == 409
    assert "Someone has just taken that time" in again.content.decode() or "no longer free" in (
        again.content.decode()
    )
    assert 'value="2026-03-03T15:00:00+00:00"' not in again.content.decode()


def test_bad_input_on_the_page_is_answered_with_errors(clock, client, page):
    response = client.post(
        "/book/rita/", {"starts_at": "soon", "name": "", "email": "not-an-email", "tz": "Mars/Base"}
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert "Enter a valid email address." in html and "This field is required." in html
    assert Meeting.objects.count() == 0


def test_a_rep_saves_availability_and_gets_a_page_and_marks_meetings(clock, client, person, lena):
    bob = person("bob", Role.REP, first_name="Bob", last_name="Baker")
    client.login(username="bob", password=password_of("bob"))

    response = client.post(
        "/app/booking/",
        {
            "time_zone": "Europe/Paris",
            "work_days": ["Mon", "Tue"],
            "work_starts": "08:00",
            "work_ends": "12:00",
            "meeting_minutes": "45",
            "buffer_minutes": "5",
        },
    )

    assert response.status_code == 302
    rep = Rep.objects.get(user=bob)
    assert (rep.time_zone, rep.work_days, rep.work_starts) == ("Europe/Paris", "Mon,Tue", time(8))
    page = BookingPage.objects.get(rep=rep)
    assert (page.slug, page.meeting_minutes, page.buffer_minutes) == ("bob", 45, 5)
    meeting = meeting_with(lena, bob, MONDAY_10 - timedelta(hours=1))
    mine = client.get("/app/booking/").content.decode()
    assert f"{settings.SITE_URL}/book/bob/" in mine and "Lena Lane" in mine

    client.post(f"/app/meetings/{meeting.pk}/mark", {"status": "held"})
    meeting.refresh_from_db()
    assert meeting.status == MeetingStatus.HELD
    assert Event.objects.filter(lead=lena, type="meeting.held").exists()


def test_nobody_else_can_mark_a_meeting(clock, client, person, lena, rita):
    meeting = meeting_with(lena, rita, MONDAY_10 - timedelta(hours=1))
    person("eve", Role.REP)
    client.login(username="eve", password=password_of("eve"))

    assert client.post(f"/app/meetings/{meeting.pk}/mark", {"status": "held"}).status_code == 404
    meeting.refresh_from_db()
    assert meeting.status == MeetingStatus.BOOKED
