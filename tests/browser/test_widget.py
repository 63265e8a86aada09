"""The embeddable widget on somebody else's website, driven in Chromium."""

import json
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from leadloop.capture.models import Submission
from leadloop.compliance.models import Consent
from leadloop.core.models import CaptureState, Event, Lead
from tests.browser.support import DOCS, SCREENSHOTS, eventually, import_quote_form

pytestmark = pytest.mark.browser

CAMPAIGN = "utm_source=newsletter&utm_medium=email&utm_campaign=spring-offer"
HOSTILE = "<img src=x onerror=alert(1)>"


def fill_step_one(page, email: str = "ada@example.com", first_name: str = "Ada") -> None:
    page.get_by_role("textbox", name="Email", exact=True).fill(email)
    page.get_by_label("First name").fill(first_name)


def test_inline_funnel_saves_a_partial_lead_after_step_one_then_completes_it(page, embed):
    form = import_quote_form()
    url = embed(form.slug, CAMPAIGN, target="#quote")
    page.goto(url)
    widget = page.locator("#quote .ll-form-view")
    expect(widget.get_by_text("Step 1 of 2")).to_be_visible()
    expect(widget.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "1")
    expect(widget.get_by_label("Service")).to_be_hidden()

    widget.get_by_role("textbox", name="Email", exact=True).fill("ada@example.com")
    widget.get_by_label("First name").press_sequentially("Ada")
    widget.get_by_role("button", name="Next").click()
    expect(widget.get_by_text("Step 2 of 2")).to_be_visible()

    lead = Lead.objects.get(email="ada@example.com")
    assert lead.capture_state == CaptureState.PARTIAL
    assert lead.first_name == "Ada"
    partial = Submission.objects.get(lead=lead)
    assert partial.is_partial
    assert partial.channel == "widget"
    assert partial.origin == page.evaluate("location.origin")

    if SCREENSHOTS:
        widget.screenshot(path=str(DOCS / "widget.png"))

    widget.get_by_label("Service").select_option("office")
    widget.get_by_label("Floor area (sq ft)").fill("1200")
    widget.get_by_label("Company").fill("Analytical Engines Ltd")
    widget.get_by_label("Weekly").check()
    widget.get_by_label("Phone (for a quick call)").fill("+1 415 555 0134")
    widget.get_by_label("Anything else?").fill("Two floors, one dog.")
    widget.get_by_label("I agree that CleanPro may email me").check()
    widget.get_by_role("button", name="Get my quote").click()

    expect(widget.get_by_role("status")).to_have_text(
        "Thanks! Your quote is on its way, and we will call you within two hours."
    )
    lead.refresh_from_db()
    assert lead.capture_state == CaptureState.COMPLETE
    assert Lead.objects.count() == 1
    assert lead.phone == "+14155550134"
    assert lead.company.name == "Analytical Engines Ltd"
    assert lead.custom_fields == {
        "service": "office",
        "square_feet": "1200",
        "frequency": "Weekly",
        "notes": "Two floors, one dog.",
        "campaign_variant": "spring",
    }
    consent = Consent.objects.get(lead=lead)
    assert consent.channel == "email"
    assert consent.granted
    assert consent.wording.startswith("I agree that CleanPro may email me")
    assert consent.page_url == url
    for touch in (lead.first_touch, lead.last_touch):
        assert touch["utm_source"] == "newsletter"
        assert touch["utm_campaign"] == "spring-offer"
        assert touch["landing_page"] == url

    submissions = list(Submission.objects.filter(lead=lead).order_by("received_at", "id"))
    assert [s.is_partial for s in submissions] == [True, False]
    final = json.loads(submissions[-1].raw)
    assert final["step"] == 1
    assert final["visitor_id"] == page.evaluate("localStorage.getItem('ll_vid')")
    assert len(final["visitor_id"]) == 32
    # Interaction signals for bot scoring: a person typed, in order, and took some time.
    assert final["signals"]["keystrokes"] >= 3
    assert final["signals"]["pastes"] == 0
    assert final["signals"]["focus_order"][:2] == ["email", "first_name"]
    assert final["signals"]["ms_to_submit"] > 0

    viewed = eventually(lambda: list(Event.objects.filter(lead=lead, type="page.viewed")))
    assert [e.data["url"] for e in viewed] == [url]
    assert viewed[0].data["title"] == "Cleaning tips"


def test_conditional_fields_follow_the_service_answer(page, embed):
    form = import_quote_form()
    page.goto(embed(form.slug))
    fill_step_one(page, email="grace@example.com", first_name="Grace")
    page.get_by_role("button", name="Next").click()

    service = page.get_by_label("Service")
    company = page.get_by_label("Company")
    area = page.get_by_label("Floor area (sq ft)")
    expect(company).to_be_hidden()
    expect(area).to_be_hidden()

    service.select_option("office")
    expect(company).to_be_visible()
    expect(area).to_be_visible()
    company.fill("Navy Labs")
    area.fill("5000")

    service.select_option("deep")
    expect(company).to_be_hidden()
    expect(area).to_be_visible()

    service.select_option("regular")
    expect(company).to_be_hidden()
    expect(area).to_be_hidden()

    page.get_by_label("I agree that CleanPro may email me").check()
    page.get_by_role("button", name="Get my quote").click()
    expect(page.get_by_role("status")).to_be_visible()

    # What the visitor typed into questions they then hid is neither sent nor kept.
    lead = Lead.objects.get(email="grace@example.com")
    assert lead.company is None
    assert "square_feet" not in lead.custom_fields
    final = json.loads(Submission.objects.filter(lead=lead, is_partial=False).get().raw)
    assert "company" not in final["answers"]
    assert "square_feet" not in final["answers"]


def test_server_field_errors_are_shown_next_to_the_field_and_nothing_typed_is_lost(page, embed):
    form = import_quote_form()
    page.goto(embed(form.slug))
    # The browser accepts this address; the server does not (no dot in the domain).
    fill_step_one(page, email="ada@invalid")
    page.get_by_role("button", name="Next").click()
    email_error = page.locator(
        ".ll-field", has=page.get_by_role("textbox", name="Email", exact=True)
    ).locator(".ll-error")
    expect(email_error).to_contain_text("Enter a valid email address")
    expect(page.get_by_role("textbox", name="Email", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(page.get_by_text("Step 1 of 2")).to_be_visible()
    assert not Lead.objects.exists()

    page.get_by_role("textbox", name="Email", exact=True).fill("ada@example.com")
    expect(email_error).to_be_hidden()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Service").select_option("regular")
    page.get_by_label("Phone (for a quick call)").fill("123")
    page.get_by_label("Anything else?").fill("Keys under the mat.")
    page.get_by_role("button", name="Get my quote").click()

    # Client-side check first: the required consent box, with no round trip.
    consent_box = page.get_by_label("I agree that CleanPro may email me")
    consent_error = page.locator(".ll-field", has=consent_box).locator(".ll-error")
    expect(consent_error).to_have_text("Please tick this box to continue.")
    consent_box.check()
    page.get_by_role("button", name="Get my quote").click()

    phone = page.get_by_label("Phone (for a quick call)")
    phone_error = page.locator(".ll-field", has=phone).locator(".ll-error")
    expect(phone_error).to_have_text(
        "This phone number is not valid: check the digits and country code."
    )
    expect(phone).to_have_attribute("aria-invalid", "true")
    assert phone.get_attribute("aria-describedby") == phone_error.get_attribute("id")
    expect(page.get_by_label("Anything else?")).to_have_value("Keys under the mat.")
    assert Lead.objects.get().capture_state == CaptureState.PARTIAL

    phone.fill("(212) 555-0199")
    page.get_by_role("button", name="Get my quote").click()
    expect(page.get_by_role("status")).to_be_visible()
    lead = Lead.objects.get()
    assert (lead.capture_state, lead.phone) == (CaptureState.COMPLETE, "+12125550199")


def test_a_failed_send_says_so_and_keeps_the_answers(page, embed):
    form = import_quote_form()
    page.goto(embed(form.slug))
    fill_step_one(page)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Service").select_option("deep")
    page.get_by_label("Anything else?").fill("Oven too, please.")
    page.get_by_label("I agree that CleanPro may email me").check()

    # The form is switched off while the visitor is on it: the server refuses, not with 422.
    form.is_active = False
    form.save()
    page.get_by_role("button", name="Get my quote").click()
    expect(page.locator(".ll-message")).to_have_text(
        "Sorry, we could not send that. Please check your connection and try again."
    )
    expect(page.get_by_label("Anything else?")).to_have_value("Oven too, please.")
    expect(page.get_by_label("Service")).to_have_value("deep")

    form.is_active = True
    form.save()
    page.get_by_role("button", name="Get my quote").click()
    expect(page.get_by_role("status")).to_be_visible()
    assert Lead.objects.get().custom_fields["notes"] == "Oven too, please."


def exit_intent(page) -> None:
    """The pointer leaves the page through the top edge, towards the tabs."""
    page.mouse.move(480, 300)
    page.mouse.move(480, -10, steps=3)


def wait_until_armed(page) -> None:
    # The stylesheet goes in just before the popup trigger is armed, in the same task.
    page.wait_for_selector("style[data-leadloop]", state="attached")


def test_exit_intent_popup_opens_once_then_respects_the_frequency_cap(page, embed):
    form = import_quote_form()
    url = embed(form.slug, CAMPAIGN, mode="popup", title="Spring offer")
    page.goto(url)
    wait_until_armed(page)
    dialog = page.get_by_role("dialog")

    # Moving about the page, or leaving it through the side, is not exit intent.
    page.mouse.move(100, 100)
    page.mouse.move(700, 500, steps=5)
    page.mouse.move(-10, 400, steps=3)
    page.wait_for_timeout(100)
    expect(dialog).to_have_count(0)

    exit_intent(page)
    expect(dialog).to_be_visible()
    expect(dialog).to_have_attribute("aria-modal", "true")
    expect(dialog).to_have_accessible_name("Get your free cleaning quote")
    expect(page.get_by_role("textbox", name="Email", exact=True)).to_be_focused()
    if SCREENSHOTS:
        page.screenshot(path=str(DOCS / "widget-popup.png"))

    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    # Once shown, the popup does not come back on its own, even within the same page view.
    exit_intent(page)
    page.wait_for_timeout(200)
    expect(dialog).to_have_count(0)

    # Opening it on purpose is always allowed, and what was typed is still there.
    page.evaluate("slug => leadloop.open(slug)", form.slug)
    expect(dialog).to_be_visible()
    fill_step_one(page, email="lin@example.com", first_name="Lin")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Service").select_option("regular")
    page.get_by_label("I agree that CleanPro may email me").check()
    page.get_by_role("button", name="Get my quote").click()
    expect(dialog.get_by_role("status")).to_contain_text("Your quote is on its way")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)

    lead = Lead.objects.get(email="lin@example.com")
    assert lead.capture_state == CaptureState.COMPLETE
    assert set(Submission.objects.filter(lead=lead).values_list("channel", flat=True)) == {"popup"}

    page.reload()
    wait_until_armed(page)
    exit_intent(page)
    page.wait_for_timeout(300)
    expect(dialog).to_have_count(0)

    # Proof that the cap is what holds it back: forget when it was shown, and it shows again.
    page.evaluate("slug => localStorage.removeItem('ll_popup_' + slug)", form.slug)
    page.reload()
    wait_until_armed(page)
    exit_intent(page)
    expect(dialog).to_be_visible()


def test_popup_with_no_frequency_cap_shows_on_every_page_load(page, embed):
    form = import_quote_form(popup={"trigger": "exit_intent", "frequency_days": 0})
    page.goto(embed(form.slug, mode="popup"))
    for _ in range(2):
        wait_until_armed(page)
        exit_intent(page)
        expect(page.get_by_role("dialog")).to_be_visible()
        page.get_by_role("button", name="Close").click()
        page.reload()


def test_scroll_trigger_opens_the_popup_past_the_scroll_depth(page, embed):
    form = import_quote_form(popup={"trigger": "scroll", "scroll_percent": 60})
    page.goto(embed(form.slug, mode="popup", spacer='<div style="height:4000px"></div>'))
    wait_until_armed(page)
    page.mouse.wheel(0, 600)
    page.wait_for_timeout(200)
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.mouse.wheel(0, 3000)
    expect(page.get_by_role("dialog")).to_be_visible()


def test_delay_trigger_from_the_script_tag_opens_the_popup(page, embed):
    form = import_quote_form()
    page.goto(embed(form.slug, mode="popup", trigger="delay", delay="0"))
    expect(page.get_by_role("dialog")).to_be_visible()


def test_widget_on_a_site_the_form_does_not_allow_gets_no_form(page, embed, live_server):
    form = import_quote_form(allowed_domains=["shop.example"])
    url = embed(form.slug)
    with page.expect_event(
        "console", lambda message: "could not be loaded" in message.text
    ) as warning:
        page.goto(url)
    assert form.slug in warning.value.text
    expect(page.locator(".ll-root")).to_have_count(0)
    expect(page.get_by_role("textbox", name="Email", exact=True)).to_have_count(0)

    origin = page.evaluate("location.origin")
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/forms/{form.slug}", headers={"Origin": origin}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 403
    assert "access-control-allow-origin" not in {k.lower() for k in refused.value.headers}
    assert json.loads(refused.value.read())["errors"][0]["message"] == (
        f"This form does not accept requests from {origin}."
    )


def test_chat_asks_one_question_at_a_time_and_follows_the_conditions(page, embed):
    form = import_quote_form()
    page.goto(embed(form.slug, "utm_source=chatbot", mode="chat", target="#quote"))
    chat = page.locator(".ll-chat")
    answer = chat.locator(".ll-composer input")
    bubbles = chat.locator(".ll-bubble")

    expect(chat.locator(".ll-bot").last).to_have_text("Email")
    expect(answer).to_have_count(1)
    expect(answer).to_be_focused()
    answer.press("Enter")
    expect(chat.locator(".ll-bot").last).to_have_text("This field is required.")

    # The server refuses this address once step 1 is complete: the bot asks for it again.
    answer.fill("ada@invalid")
    answer.press("Enter")
    expect(chat.locator(".ll-bot").last).to_have_text("First name")
    answer.fill(HOSTILE)
    answer.press("Enter")
    expect(chat.locator(".ll-bot-error").last).to_contain_text("Enter a valid email address")
    expect(chat.locator(".ll-bot").last).to_have_text("Email")
    expect(answer).to_have_value("ada@invalid")
    answer.fill("ada@example.com")
    answer.press("Enter")

    expect(chat.locator(".ll-bot").last).to_have_text("Service")
    lead = Lead.objects.get(email="ada@example.com")
    assert lead.capture_state == CaptureState.PARTIAL
    assert lead.first_name == HOSTILE
    # The visitor's words come back as text, never as markup.
    expect(chat.locator(".ll-visitor", has_text=HOSTILE)).to_have_count(1)
    expect(page.locator("img[src=x]")).to_have_count(0)

    chat.get_by_role("button", name="Deep clean").click()
    # Deep clean asks for the floor area but not the company (that is for office cleaning).
    expect(chat.locator(".ll-bot").last).to_have_text("Floor area (sq ft)")
    answer.fill("900")
    answer.press("Enter")
    expect(chat.locator(".ll-bot").last).to_have_text("How often?")
    chat.get_by_role("button", name="Monthly").click()
    expect(chat.locator(".ll-bot").last).to_have_text("Phone (for a quick call)")
    chat.get_by_role("button", name="Skip").click()
    expect(chat.locator(".ll-bot").last).to_have_text("Anything else?")
    chat.locator(".ll-composer textarea").fill("Please bring ladders.")
    chat.locator(".ll-composer textarea").press("Enter")
    expect(chat.locator(".ll-bot").last).to_contain_text("I agree that CleanPro may email me")
    chat.get_by_role("button", name="No, thanks").click()
    expect(chat.locator(".ll-bot").last).to_have_text("We need your agreement to continue.")
    chat.get_by_role("button", name="I agree").click()

    expect(chat.get_by_role("status")).to_have_text(
        "Thanks! Your quote is on its way, and we will call you within two hours."
    )
    asked = [t for t in bubbles.all_inner_texts() if t]
    assert "Company" not in asked
    lead.refresh_from_db()
    assert lead.capture_state == CaptureState.COMPLETE
    assert lead.company is None
    assert lead.custom_fields == {
        "service": "deep",
        "square_feet": "900",
        "frequency": "Monthly",
        "notes": "Please bring ladders.",
        "campaign_variant": "spring",
    }
    assert lead.first_touch["utm_source"] == "chatbot"
    assert Consent.objects.get(lead=lead).granted
    channels = set(Submission.objects.filter(lead=lead).values_list("channel", flat=True))
    assert channels == {"chat"}
