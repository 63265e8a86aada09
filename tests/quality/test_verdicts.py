"""Every lead gets a verdict with its reasons, through the real entry points: the lead-source API
and the form API. Invalid leads are kept and quarantined; a person can release them."""

import json

import pytest
from django.test import Client

from leadloop.core.models import Event, Lead
from leadloop.quality import services as quality

pytestmark = pytest.mark.django_db

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
ADA = {
    "email": "ada@analytical-engines.example",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company": "Analytical Engines",
}
# How our widget reports a person filling the form in: time taken, typing and field focus.
TYPED = {"ms_to_submit": 9000, "keystrokes": 42, "pastes": 0, "focus_order": ["email", "name"]}
QUOTE = {
    "email": "linus@cleaners.example",
    "first_name": "Linus",
    "service": "regular",
    "email_consent": True,
}


def codes(lead: Lead) -> list[str]:
    return [reason["code"] for reason in lead.quality_reasons]


def submit_form(body: dict, slug: str = "cleanpro-quote", **extra):
    return Client().post(
        f"/api/v1/forms/{slug}/submissions",
        json.dumps(body),
        content_type="application/json",
        HTTP_ORIGIN="http://localhost:8001",
        HTTP_USER_AGENT=CHROME,
        **extra,
    )


def test_a_clean_lead_is_valid_and_workable(api):
    response = api(ADA)

    assert response.status_code == 201
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.quality == "valid"
    assert [r for r in lead.quality_reasons if r["severity"] != "info"] == []
    assert lead.quality_signals["email"]["deliverability"] == "deliverable"
    assert list(Lead.objects.workable()) == [lead]
    assert not Lead.objects.quarantined().exists()
    captured = lead.events.get(type="lead.captured")
    assert captured.data["quality"] == {"verdict": "valid", "reasons": codes(lead)}


def test_a_disposable_email_is_kept_but_quarantined_with_its_reasons(api):
    response = api({**ADA, "email": "ada@mailinator.com"})

    assert response.status_code == 201  # kept, never lost: the source is not told
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.quality == "invalid"
    assert "email_disposable" in codes(lead)
    reason = next(r for r in lead.quality_reasons if r["code"] == "email_disposable")
    assert reason["severity"] == "invalid"
    assert "mailinator.com" in reason["message"]
    assert lead.quality_signals["email"]["domain"] == "mailinator.com"
    assert list(Lead.objects.quarantined()) == [lead]
    assert not Lead.objects.workable().exists()
    # A throwaway domain is not a company.
    assert "company_domain" not in lead.enrichment


@pytest.mark.parametrize(
    ("first_name", "last_name", "email"),
    [
        ("Test", "Test", "someone@analytical-engines.example"),
        ("John", "Doe", "jd@analytical-engines.example"),
        ("Ada", "Lovelace", "test@analytical-engines.example"),
        ("asdf", "qwerty", "ada@analytical-engines.example"),
    ],
)
def test_test_data_is_invalid(api, first_name, last_name, email):
    response = api({**ADA, "first_name": first_name, "last_name": last_name, "email": email})

    assert response.status_code == 201
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.quality == "invalid"
    assert codes(lead)[0] == "test_data"  # the worst reason first
    assert lead in Lead.objects.quarantined()


def test_an_undeliverable_domain_with_a_phone_is_only_suspect(api):
    response = api({**ADA, "email": "ada@nxdomain.example", "phone": "+14155550134"})

    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.quality == "suspect"
    assert "email_undeliverable" in codes(lead)
    assert lead.quality_signals["email"]["deliverability"] == "undeliverable"
    assert lead.quality_signals["phone"]["region"] == "US"
    assert lead in Lead.objects.workable()  # suspect leads are worked, with care


def test_an_undeliverable_domain_without_a_phone_is_invalid(api):
    response = api({**ADA, "email": "ada@nxdomain.example"})

    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.quality == "invalid"
    assert "email_undeliverable" in codes(lead)


def test_a_honeypot_bot_gets_the_answer_a_person_gets_and_its_lead_is_marked(quote_form):
    human = submit_form({"answers": QUOTE, "signals": TYPED})
    bot = submit_form(
        {
            "answers": {**QUOTE, "email": "bot@cleaners.example", "first_name": "Bob"},
            "signals": TYPED,
            "honeypot": "https://cheap-pills.example",
        }
    )

    assert human.status_code == bot.status_code == 201
    assert human.json().keys() == bot.json().keys()
    assert bot.json()["status"] == human.json()["status"] == "accepted"
    assert bot.content.count(b"bot") == 0 and b"honeypot" not in bot.content
    person = Lead.objects.get(pk=human.json()["id"])
    assert person.quality == "valid", person.quality_reasons
    marked = Lead.objects.get(pk=bot.json()["id"])
    assert marked.quality == "invalid"
    assert "bot_honeypot" in codes(marked)
    assert list(Lead.objects.quarantined()) == [marked]


def test_an_invalid_submission_never_rewrites_a_valid_lead(api):
    first = api({**ADA, "phone": "+14155550134"}).json()
    later = api({**ADA, "first_name": "Test", "last_name": "Test", "phone": "+14155550199"})

    assert later.status_code == 201
    primary = Lead.objects.get(pk=first["id"])
    assert (primary.first_name, primary.phone, primary.quality) == ("Ada", "+14155550134", "valid")
    assert not primary.events.filter(type="lead.updated").exists()
    apart = Lead.objects.get(pk=later.json()["id"])
    assert apart.pk != primary.pk
    assert apart.duplicate_of == primary
    assert apart.quality == "invalid"
    assert apart.first_name == "Test"
    assert list(Lead.objects.quarantined()) == [apart]
    assert apart.events.get(type="lead.captured").data["duplicate_of"] == primary.pk


def test_a_later_valid_submission_clears_an_earlier_doubt(api):
    doubtful = api({**ADA, "first_name": "12345"}).json()
    lead = Lead.objects.get(pk=doubtful["id"])
    assert lead.quality == "suspect"
    assert codes(lead) == ["name_digits"]

    again = api(ADA)

    assert again.status_code == 200
    assert again.json()["id"] == lead.pk
    lead.refresh_from_db()
    assert lead.first_name == "Ada"
    assert lead.quality == "valid"
    assert "name_digits" not in codes(lead)
    updated = lead.events.get(type="lead.updated")
    assert updated.data["changes"]["quality"] == ["suspect", "valid"]


def test_an_equally_doubtful_repeat_merges_and_brings_its_own_reasons(api):
    """A suspect repeat of a suspect lead merges (only an invalid one is kept apart)."""
    first = api({**ADA, "email": "info@analytical-engines.example"}).json()
    lead = Lead.objects.get(pk=first["id"])
    assert (lead.quality, codes(lead)) == ("suspect", ["email_role_account"])

    again = api({**ADA, "email": "info@analytical-engines.example", "first_name": "12345"})

    assert again.status_code == 200
    lead.refresh_from_db()
    assert lead.quality == "suspect"
    assert sorted(codes(lead)) == ["email_role_account", "name_digits"]


def test_a_person_releases_a_quarantined_lead_and_the_timeline_says_who_and_why(api):
    lead = Lead.objects.get(pk=api({**ADA, "email": "ada@mailinator.com"}).json()["id"])

    quality.release(lead, by="grace@cleanpro.example", why="  Called her: she is real.  ")

    lead.refresh_from_db()
    assert lead.quality == "valid"
    assert lead in Lead.objects.workable()
    assert not Lead.objects.quarantined().exists()
    event = lead.events.get(type="lead.released")
    assert event.actor == "grace@cleanpro.example"
    assert event.data["why"] == "Called her: she is real."
    assert event.data["from"] == "invalid"
    assert [r["code"] for r in event.data["reasons"]] == codes(lead)  # what was overruled


@pytest.mark.parametrize("why", ["", "   "])
def test_a_release_without_a_reason_is_refused(api, why):
    lead = Lead.objects.get(pk=api({**ADA, "email": "ada@mailinator.com"}).json()["id"])

    with pytest.raises(ValueError, match="why"):
        quality.release(lead, by="grace@cleanpro.example", why=why)

    lead.refresh_from_db()
    assert lead.quality == "invalid"
    assert not Event.objects.filter(type="lead.released").exists()


def test_a_doubtful_repeat_merges_into_a_valid_lead_without_spoiling_it(api):
    lead = Lead.objects.get(pk=api(ADA).json()["id"])

    again = api({**ADA, "first_name": "12345", "phone": "+14155550134"})

    assert again.status_code == 200
    lead.refresh_from_db()
    assert lead.quality == "valid"
    assert "name_digits" not in codes(lead)
    assert lead.enrichment["time_zone"]["value"] == "America/Los_Angeles"  # what it taught us
    assert again.json()["id"] == lead.pk
    assert lead.events.get(type="lead.updated").data["quality"]["verdict"] == "suspect"
