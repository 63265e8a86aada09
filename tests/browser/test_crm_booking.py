"""The public booking page in a real browser: the times switch to the browser's own time zone,
a visitor picks another day (htmx swaps the times in), picks a time, leaves a name and an email
and lands on the confirmation; the meeting is then in the database, for a lead captured from
the booking. With LEADLOOP_SCREENSHOTS=1 it also writes docs/crm-booking.png.

Rita works in New York around the clock every day, so there are free times whatever the day
and hour the test runs; the browser reads times in Asia/Tokyo, which is never New York's."""

from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, expect

from leadloop.crm.models import BookingPage, Meeting
from leadloop.routing.models import Rep
from tests.browser.support import DOCS, SCREENSHOTS

pytestmark = pytest.mark.browser

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def tokyo_page(browser: Browser):
    """A visitor whose browser is set to Tokyo time."""
    context = browser.new_context(viewport={"width": 960, "height": 900}, timezone_id="Asia/Tokyo")
    context.set_default_timeout(5000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (errors.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()
    assert not errors, f"the page had errors or dialogs: {errors}"


@pytest.fixture
def rita_page(transactional_db) -> BookingPage:
    user = get_user_model().objects.create_user(
        "rita", "rita@team.example", None, first_name="Rita", last_name="Reyes"
    )
    rep = Rep.objects.create(
        user=user,
        time_zone="America/New_York",
        work_days="Mon,Tue,Wed,Thu,Fri,Sat,Sun",
        work_starts=time(0),
        work_ends=time(0),  # the same start and end: the whole day
    )
    return BookingPage.objects.create(
        slug="rita", title="Cleaning walkthrough", rep=rep, meeting_minutes=30, notice_hours=1
    )


def test_a_visitor_picks_a_day_and_a_time_and_is_booked(tokyo_page, live_server, rita_page):
    page = tokyo_page
    page.goto(f"{live_server.url}/book/rita/")
    expect(page.get_by_role("heading", name="Cleaning walkthrough")).to_be_visible()
    expect(page.locator("#picker")).to_contain_text("(Asia/Tokyo)")  # the browser's zone

    second_day = page.locator("nav.days a.day").nth(1)
    label = second_day.inner_text()
    second_day.click()
    expect(page.locator("nav.days a.chosen")).to_have_text(label)
    page.locator("label.slot", has_text="10:00").click()
    if SCREENSHOTS:
        page.screenshot(path=DOCS / "crm-booking.png", full_page=True)
    page.get_by_label("Your name").fill("Nova Neri")
    page.get_by_label("Email").fill("nova@newcomers.example")
    page.get_by_label("Anything we should know? (optional)").fill("Three floors, <b>weekly</b>")
    page.get_by_role("button", name="Book this time").click()

    expect(page.get_by_role("heading", name="You're booked")).to_be_visible()
    expect(page.locator(".when")).to_contain_text("10:00 to 10:30")
    expect(page.get_by_role("link", name="Add to calendar")).to_be_visible()
    meeting = Meeting.objects.select_related("lead").get()
    starts = meeting.starts_at.astimezone(TOKYO)
    assert (starts.hour, starts.minute) == (10, 0)
    assert starts.strftime("%a %-d %b") == label
    assert meeting.ends_at - meeting.starts_at == timedelta(minutes=30)
    assert meeting.lead.email == "nova@newcomers.example"
    assert meeting.guest_note == "Three floors, <b>weekly</b>"
