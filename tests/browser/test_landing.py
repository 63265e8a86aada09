"""The hosted landing page (/p/<slug>) with and without JavaScript, and the lead in the admin."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from leadloop.capture.models import Submission
from leadloop.core.models import CaptureState, Event, Lead
from tests.browser.support import PageProblems, eventually

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=alert(1)>"
SEARCH_ENGINE = "https://search.example/?q=cleaning"


def field(page, name: str):
    return page.locator(f"[data-ll-field={name}]")


def test_landing_page_goes_step_by_step_to_the_thank_you_page_and_the_admin(
    page, live_server, quote_form
):
    get_user_model().objects.create_superuser("boss", "boss@example.com", "a long passphrase")
    url = f"{live_server.url}/p/{quote_form.slug}?utm_source=google&utm_medium=cpc"
    page.goto(url, referer=SEARCH_ENGINE)
    steps = page.locator("[data-ll-step]")
    progress = page.get_by_role("progressbar")
    next_button = page.get_by_role("button", name="Next")
    submit = page.get_by_role("button", name="Get my quote")

    expect(steps.nth(0)).to_be_visible()
    expect(steps.nth(1)).to_be_hidden()
    expect(progress).to_have_attribute("aria-valuenow", "1")
    expect(page.get_by_role("button", name="Back")).to_be_hidden()
    expect(submit).to_be_hidden()
    expect(page.locator("input[name=_referrer]")).to_have_value(SEARCH_ENGINE)

    # Required fields are checked in the browser before the visitor moves on.
    next_button.click()
    expect(field(page, "email").locator(".error")).to_have_text("This field is required.")
    expect(page.locator("#ll-email")).to_be_focused()
    expect(page.locator("#ll-email")).to_have_attribute("aria-invalid", "true")
    expect(steps.nth(1)).to_be_hidden()

    page.locator("#ll-email").fill("ada@example.com")
    page.get_by_label("First name").fill(HOSTILE)
    next_button.click()
    expect(steps.nth(0)).to_be_hidden()
    expect(steps.nth(1)).to_be_visible()
    expect(progress).to_have_attribute("aria-valuenow", "2")
    expect(progress.locator("div")).to_have_attribute("style", re.compile(r"width:\s*100%"))
    expect(next_button).to_be_hidden()
    expect(submit).to_be_visible()

    company = page.get_by_label("Company")
    expect(company).to_be_hidden()
    page.get_by_label("Service").select_option("office")
    expect(company).to_be_visible()
    company.fill("Analytical Engines Ltd")
    page.get_by_label("Fortnightly").check()

    submit.click()
    expect(field(page, "email_consent").locator(".error")).to_have_text(
        "Please tick this box to continue."
    )
    assert not Lead.objects.exists()
    page.get_by_label("I agree that CleanPro may email me").check()
    submit.click()

    expect(page).to_have_url(re.compile(r"/p/cleanpro-quote/thanks\?t="))
    expect(page.get_by_role("status")).to_contain_text("Your quote is on its way")
    lead = Lead.objects.get(email="ada@example.com")
    assert lead.capture_state == CaptureState.COMPLETE
    assert lead.first_name == HOSTILE
    assert lead.company.name == "Analytical Engines Ltd"
    assert lead.custom_fields["frequency"] == "Fortnightly"
    assert lead.last_touch["referrer"] == SEARCH_ENGINE
    assert lead.first_touch["utm_source"] == "google"
    assert Submission.objects.get(lead=lead).channel == "landing_page"
    viewed = eventually(lambda: list(Event.objects.filter(lead=lead, type="page.viewed")))
    assert [e.data["url"] for e in viewed] == [url]
    assert viewed[0].data["referrer"] == SEARCH_ENGINE

    page.goto(f"{live_server.url}/admin/core/lead/")
    page.locator("#id_username").fill("boss")
    page.locator("#id_password").fill("a long passphrase")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/core/lead/$"))
    results = page.locator("#result_list")
    expect(results.get_by_text("ada@example.com")).to_be_visible()
    # The hostile name is shown as the text it is, and nothing in it runs.
    expect(results.get_by_role("link", name=HOSTILE)).to_be_visible()
    expect(page.locator("img[src=x]")).to_have_count(0)


def test_landing_page_reopens_the_step_the_server_refused(page, live_server, quote_form):
    page.goto(f"{live_server.url}/p/{quote_form.slug}")
    page.locator("#ll-email").fill("ada@example.com")
    page.get_by_label("First name").fill("Ada")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Service").select_option("regular")
    page.get_by_label("Phone (for a quick call)").fill("123")
    page.get_by_label("I agree that CleanPro may email me").check()
    page.get_by_role("button", name="Get my quote").click()

    expect(field(page, "phone").locator(".error")).to_have_text(
        "This phone number is not valid: check the digits and country code."
    )
    expect(page.locator("[data-ll-step='1']")).to_be_visible()
    expect(page.locator("[data-ll-step='0']")).to_be_hidden()
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "2")
    expect(page.locator("#ll-email")).to_have_value("ada@example.com")
    assert not Lead.objects.exists()


def test_landing_page_works_without_javascript(browser, live_server, quote_form):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    problems = PageProblems(page)
    try:
        page.goto(f"{live_server.url}/p/{quote_form.slug}")
        # Every step and every conditional field is on the page; the server sorts them out.
        expect(page.locator("[data-ll-step]").nth(1)).to_be_visible()
        expect(page.get_by_label("Company")).to_be_visible()
        expect(page.get_by_role("button", name="Next")).to_be_hidden()
        expect(page.get_by_role("progressbar")).to_be_hidden()
        page.locator("#ll-email").fill("nojs@example.com")
        page.get_by_label("First name").fill("Noam")
        page.get_by_label("Service").select_option("regular")
        page.get_by_label("Company").fill("Should Not Count Ltd")
        page.get_by_label("I agree that CleanPro may email me").check()
        page.get_by_role("button", name="Get my quote").click()
        expect(page).to_have_url(re.compile(r"/thanks\?t="))
    finally:
        context.close()
    assert not problems.errors
    lead = Lead.objects.get(email="nojs@example.com")
    assert lead.company is None
    assert lead.custom_fields["service"] == "regular"


def test_hosted_chat_page_asks_the_first_question(page, live_server, quote_form):
    page.goto(f"{live_server.url}/p/{quote_form.slug}/chat")
    chat = page.locator(".ll-chat")
    expect(chat.locator(".ll-bot").last).to_have_text("Email")
    chat.locator(".ll-composer input").fill("chat@example.com")
    chat.locator(".ll-composer input").press("Enter")
    expect(chat.locator(".ll-visitor")).to_have_text("chat@example.com")
    expect(chat.locator(".ll-bot").last).to_have_text("First name")
