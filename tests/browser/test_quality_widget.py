"""The quality layer as visitors meet it, in Chromium: the "Did you mean …?" hint under an email
address, the proof-of-work solved in the background, the honeypot nobody sees, and a headless
browser answered like a person while its lead is marked invalid."""

import json
import re

import pytest
from playwright.sync_api import expect

from leadloop.capture import services as capture
from leadloop.capture.models import Form, Submission
from leadloop.core.models import Lead
from tests.browser.support import import_quote_form

pytestmark = pytest.mark.browser

THANKS = "Thanks, you are on the list."
BOT_REASONS = {"bot_no_proof_of_work", "bot_proof_of_work_failed", "bot_honeypot"}


def newsletter_form(**settings) -> Form:
    """One step: email and first name; min_seconds is 1 so a test need not wait 3 s."""
    return capture.import_form(
        {
            "slug": "newsletter",
            "name": "Newsletter sign-up",
            "definition": {
                "title": "Join the newsletter",
                "steps": [
                    {
                        "fields": [
                            {"name": "email", "type": "email", "label": "Email", "required": True},
                            {"name": "first_name", "type": "text", "label": "First name"},
                        ]
                    }
                ],
                "settings": {
                    "allowed_domains": ["localhost", "127.0.0.1"],
                    "submit_label": "Sign up",
                    "thank_you": {"message": THANKS},
                    "min_seconds": 1,
                    **settings,
                },
            },
        }
    )


def codes(lead: Lead) -> set[str]:
    return {reason["code"] for reason in lead.quality_reasons}


def type_in(page, email: str, first_name: str = "Ada") -> None:
    """Type as a person does: key by key, moving from field to field (which blurs the email)."""
    page.get_by_role("textbox", name="Email", exact=True).press_sequentially(email, delay=10)
    page.get_by_label("First name").press_sequentially(first_name, delay=10)


def test_widget_suggests_the_address_meant_and_the_lead_gets_it(page, embed):
    form = newsletter_form()
    page.goto(embed(form.slug, target="#quote"))
    email = page.get_by_role("textbox", name="Email", exact=True)
    type_in(page, "ada@gmial.com")

    hint = page.locator(".ll-field", has=email).locator(".ll-hint")
    expect(hint).to_have_text("Did you mean ada@gmail.com?")
    # The address is shown as text in a button, never parsed as markup.
    hint.get_by_role("button", name="ada@gmail.com").click()
    expect(email).to_have_value("ada@gmail.com")
    expect(hint).to_be_hidden()

    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("status")).to_have_text(THANKS)
    assert Lead.objects.get().email == "ada@gmail.com"


def test_widget_says_nothing_about_an_address_without_a_likely_typo(page, embed):
    form = newsletter_form()
    page.goto(embed(form.slug))
    # The check runs once the email box is left; wait for its answer, then for what it shows.
    with page.expect_response(re.compile(r"/validate\?email=grace")):
        type_in(page, "grace@example.com")
    page.wait_for_timeout(200)
    expect(page.locator(".ll-hint")).to_be_hidden()


def test_landing_page_suggests_the_address_meant_and_the_lead_gets_it(page, live_server):
    form = newsletter_form()
    page.goto(f"{live_server.url}/p/{form.slug}")
    email = page.locator("#ll-email")
    type_in(page, "ada@gmial.com")

    hint = page.locator("[data-ll-field=email] .ll-hint")
    expect(hint).to_have_text("Did you mean ada@gmail.com?")
    hint.get_by_role("button", name="ada@gmail.com").click()
    expect(email).to_have_value("ada@gmail.com")
    expect(hint).to_be_hidden()

    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/p/newsletter/thanks\?t="))
    assert Lead.objects.get().email == "ada@gmail.com"


def test_chat_offers_the_address_meant_before_taking_it(page, embed):
    form = newsletter_form(proof_of_work=True)
    page.goto(embed(form.slug, mode="chat", target="#quote"))
    chat = page.locator(".ll-chat")
    answer = chat.locator(".ll-composer input")
    expect(chat.locator(".ll-bot").last).to_have_text("Email")
    answer.press_sequentially("ada@gmial.com", delay=10)
    answer.press("Enter")

    hint = chat.locator(".ll-hint")
    expect(hint).to_have_text("Did you mean ada@gmail.com?")
    expect(chat.locator(".ll-bot").last).to_have_text("Email")
    hint.get_by_role("button", name="ada@gmail.com").click()
    answer.press("Enter")
    expect(chat.locator(".ll-bot").last).to_have_text("First name")
    answer.press_sequentially("Ada", delay=10)
    answer.press("Enter")
    expect(chat.get_by_role("status")).to_have_text(THANKS)

    lead = Lead.objects.get()
    assert lead.email == "ada@gmail.com"
    assert lead.quality_signals["proof_of_work"] is True
    assert not codes(lead) & BOT_REASONS


def test_widget_solves_a_fresh_proof_of_work_for_each_step_it_saves(page, embed):
    form = import_quote_form(proof_of_work=True, min_seconds=1)
    page.goto(embed(form.slug, target="#quote"))
    type_in(page, "ada@example.com")
    page.get_by_role("button", name="Next").click()  # saves a partial lead: one solution
    page.get_by_label("Service").select_option("regular")
    page.get_by_label("I agree that CleanPro may email me").check()
    page.get_by_role("button", name="Get my quote").click()  # completes it: another
    expect(page.get_by_role("status")).to_contain_text("Your quote is on its way")

    lead = Lead.objects.get()  # a reused solution would fail, and stay apart as another lead
    assert lead.quality_signals["proof_of_work"] is True
    assert not codes(lead) & BOT_REASONS
    proofs = [
        json.loads(s.raw)["proof_of_work"]
        for s in Submission.objects.filter(lead=lead).order_by("received_at", "id")
    ]
    assert len(proofs) == 2
    assert all(proofs)
    assert proofs[0] != proofs[1]


def test_landing_page_solves_the_proof_of_work_before_it_submits(page, live_server):
    form = newsletter_form(proof_of_work=True)
    page.goto(f"{live_server.url}/p/{form.slug}")
    expect(page.locator("form[data-ll-proof]")).to_have_count(1)
    type_in(page, "lin@example.com", "Lin")
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/thanks\?t="))

    lead = Lead.objects.get()
    assert lead.quality_signals["proof_of_work"] is True
    assert not codes(lead) & BOT_REASONS
    raw = json.loads(Submission.objects.get(lead=lead).raw)
    assert raw["proof_of_work"]


def test_a_person_typing_in_the_widget_makes_a_valid_lead(page, embed):
    form = newsletter_form()
    page.goto(embed(form.slug, target="#quote"))
    honeypot = page.locator("#quote .ll-hp input")
    expect(honeypot).to_have_count(1)
    assert not honeypot.is_visible()
    type_in(page, "ada@gmail.com", "Ada")
    page.wait_for_timeout(1100)  # past the form's min_seconds
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("status")).to_have_text(THANKS)

    lead = Lead.objects.get()
    assert lead.quality == "valid", lead.quality_reasons
    assert lead.quality_signals["human_likeness"] == 1.0
    raw = json.loads(Submission.objects.get(lead=lead).raw)
    assert raw["honeypot"] == ""
    assert raw["opened"]
    assert raw["signals"]["focus_order"] == ["email", "first_name"]


def test_a_person_typing_on_the_landing_page_makes_a_valid_lead(page, live_server):
    form = newsletter_form()
    page.goto(f"{live_server.url}/p/{form.slug}")
    honeypot = page.locator("input[name=ll_website]")
    expect(honeypot).to_have_count(1)
    assert not honeypot.is_visible()
    type_in(page, "ada@gmail.com", "Ada")
    page.wait_for_timeout(1100)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/thanks\?t="))

    lead = Lead.objects.get()
    assert lead.quality == "valid", lead.quality_reasons
    assert lead.quality_signals["human_likeness"] == 1.0
    assert json.loads(Submission.objects.get(lead=lead).raw)["honeypot"] == ""


def test_a_bot_filling_the_honeypot_is_thanked_and_its_lead_is_invalid(page, embed):
    form = newsletter_form()
    page.goto(embed(form.slug))
    type_in(page, "ada@gmail.com")
    # A form-filling bot fills in every text box it finds, seen or not.
    page.locator(".ll-hp input").evaluate("input => { input.value = 'https://spam.example' }")
    page.wait_for_timeout(1100)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("status")).to_have_text(THANKS)
    lead = Lead.objects.get()
    assert lead.quality == "invalid"
    assert "bot_honeypot" in codes(lead)


def test_headless_chrome_is_thanked_like_a_person_and_its_lead_is_invalid(headless_page, embed):
    page = headless_page
    assert "HeadlessChrome" in page.evaluate("navigator.userAgent")
    form = newsletter_form()
    page.goto(embed(form.slug))
    type_in(page, "ada@gmail.com")
    page.wait_for_timeout(1100)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("status")).to_have_text(THANKS)

    lead = Lead.objects.get()
    assert lead.email == "ada@gmail.com"
    assert lead.quality == "invalid"
    assert "bot_user_agent" in codes(lead)
