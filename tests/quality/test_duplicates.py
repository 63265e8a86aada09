"""Duplicates, through the real entry points: one mailbox written many ways meets one lead; the
duplicate policy of a form or a source decides what a repeat does (update, link, reject); a likely
same person at the same company is flagged, not merged. (Concurrent repeats: tests/capture.)"""

import json

import pytest
from django.test import Client

from leadloop.capture.models import Form, Submission, SubmissionStatus
from leadloop.core.models import Event, Lead, Source

pytestmark = pytest.mark.django_db

CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
TYPED = {"ms_to_submit": 9000, "keystrokes": 42, "pastes": 0, "focus_order": ["email", "name"]}
ADA = {
    "email": "ada@analytical-engines.example",
    "phone": "+14155550134",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company": "Analytical Engines",
}
QUOTE = {
    "email": "linus@cleaners.example",
    "first_name": "Linus",
    "service": "regular",
    "email_consent": True,
}


def submit_form(body: dict, slug: str = "cleanpro-quote"):
    return Client().post(
        f"/api/v1/forms/{slug}/submissions",
        json.dumps({"answers": body, "signals": TYPED}),
        content_type="application/json",
        HTTP_ORIGIN="http://localhost:8001",
        HTTP_USER_AGENT=CHROME,
    )


def set_source_policy(policy: str, name: str = "Partner feed") -> Source:
    source = Source.objects.get(name=name)
    source.duplicate_policy = policy
    source.save(update_fields=["duplicate_policy"])
    return source


def set_form_policy(form: Form, policy: str | None) -> None:
    form.definition["settings"]["duplicate_policy"] = policy
    form.save()


def snapshot(lead: Lead) -> dict:
    lead.refresh_from_db()
    return {
        name: getattr(lead, name)
        for name in (
            "first_name",
            "last_name",
            "email",
            "phone",
            "company_id",
            "custom_fields",
            "quality",
            "updated_at",
        )
    }


# Email keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "again",
    [
        "adalovelace@gmail.com",
        "ADA.LOVELACE@GMAIL.COM",
        "a.d.a.l.o.v.e.l.a.c.e@gmail.com",
        "ada.lovelace+quotes@gmail.com",
        "ada.lovelace@googlemail.com",
        "Ada.Love.Lace+news@GoogleMail.com",
    ],
)
def test_one_gmail_mailbox_written_many_ways_is_one_lead(api, again):
    first = api({**ADA, "email": "Ada.Lovelace@gmail.com"})

    repeat = api({**ADA, "email": again, "phone": ""})

    assert first.status_code == 201
    assert repeat.status_code == 200
    assert repeat.json()["id"] == first.json()["id"]
    lead = Lead.objects.get()
    assert lead.email_key == "adalovelace@gmail.com"


def test_tags_and_case_meet_one_lead_on_any_domain_but_dots_only_matter_outside_gmail(api):
    first = api(ADA).json()

    assert (
        api({**ADA, "email": "ADA+spring@Analytical-Engines.example"}).json()["id"] == first["id"]
    )
    dotted = api({**ADA, "email": "a.da@analytical-engines.example", "phone": ""})

    assert dotted.status_code == 201  # a company mailbox with a dot is another mailbox
    assert Lead.objects.filter(duplicate_of__isnull=True).count() == 2


# Policy: update -----------------------------------------------------------------------------


def test_update_merges_the_repeat_and_keeps_the_previous_values_in_the_timeline(api):
    first = api({**ADA, "fields": {"rooms": 3}}).json()

    again = api(
        {
            **ADA,
            "email": "ADA@analytical-engines.example",
            "phone": "+14155550199",
            "last_name": "King",
            "fields": {"rooms": 5, "pets": "cat"},
        }
    )

    assert again.status_code == 200
    assert again.json()["status"] == "merged"
    lead = Lead.objects.get()
    assert lead.pk == first["id"]
    assert (lead.last_name, lead.phone) == ("King", "+14155550199")
    assert lead.custom_fields == {"rooms": 5, "pets": "cat"}
    changes = lead.events.get(type="lead.updated").data["changes"]
    assert changes == {
        "last_name": ["Lovelace", "King"],
        "phone": ["+14155550134", "+14155550199"],
        "fields.rooms": [3, 5],
        "fields.pets": [None, "cat"],
    }
    assert Submission.objects.order_by("id").last().status == SubmissionStatus.MERGED


# Policy: link -------------------------------------------------------------------------------


def test_link_creates_a_new_lead_linked_to_the_primary_and_later_ones_meet_the_primary(api):
    primary = api(ADA).json()["id"]
    set_source_policy("link")

    second = api({**ADA, "last_name": "King"})
    third = api({**ADA, "email": "ADA+again@Analytical-Engines.example"})

    assert second.status_code == third.status_code == 201
    linked = Lead.objects.filter(duplicate_of_id=primary)
    assert sorted(linked.values_list("pk", flat=True)) == sorted(
        [second.json()["id"], third.json()["id"]]
    )
    assert Lead.objects.get(pk=primary).last_name == "Lovelace"  # a link rewrites nothing
    assert Lead.objects.get(pk=second.json()["id"]).last_name == "King"
    captured = Event.objects.get(lead_id=second.json()["id"], type="lead.captured")
    assert captured.data["duplicate_of"] == primary

    set_source_policy("update")
    merged = api({**ADA, "first_name": "Augusta"})

    assert merged.status_code == 200
    assert merged.json()["id"] == primary
    assert Lead.objects.get(pk=primary).first_name == "Augusta"


# Policy: reject -----------------------------------------------------------------------------


def test_reject_answers_409_keeps_the_submission_and_leaves_the_lead_alone(api):
    first = api(ADA).json()
    lead = Lead.objects.get()
    before = snapshot(lead)
    set_source_policy("reject")

    again = api({**ADA, "first_name": "Augusta", "phone": "+14155550199"})

    assert again.status_code == 409
    assert again.json() == {
        "errors": [{"field": "email", "message": "This person is already a lead."}]
    }
    assert Lead.objects.count() == 1
    assert snapshot(lead) == before
    submission = Submission.objects.order_by("id").last()
    assert submission.status == SubmissionStatus.DUPLICATE
    assert submission.lead_id == first["id"]
    assert json.loads(submission.raw)["first_name"] == "Augusta"  # what arrived is kept
    rejected = lead.events.get(type="lead.duplicate_rejected")
    assert rejected.data["submission_id"] == submission.pk
    assert not lead.events.filter(type="lead.updated").exists()


def test_reject_lets_a_new_person_through(api):
    set_source_policy("reject")

    assert api(ADA).status_code == 201
    assert api({**ADA, "email": "grace@analytical-engines.example", "phone": ""}).status_code == 201


def test_reject_on_a_form_answers_the_visitor_as_if_it_worked(quote_form):
    set_form_policy(quote_form, "reject")
    first = submit_form(QUOTE)
    lead = Lead.objects.get()
    before = snapshot(lead)

    again = submit_form({**QUOTE, "first_name": "Linnea"})

    assert first.status_code == 201
    # A visitor is not told who else is a lead: the form thanks them like anyone else.
    assert again.status_code in (200, 201), again.content
    assert Lead.objects.count() == 1
    assert snapshot(lead) == before
    assert Submission.objects.order_by("id").last().status == SubmissionStatus.DUPLICATE


# Where the policy is set ----------------------------------------------------------------------


def test_a_forms_source_policy_applies_when_the_form_sets_none(quote_form):
    source = Source.objects.create(name="Spring flyers", duplicate_policy="link")
    quote_form.source = source
    quote_form.save()

    first = submit_form(QUOTE).json()["id"]
    again = submit_form({**QUOTE, "first_name": "Linnea"})

    assert again.status_code == 201
    assert Lead.objects.get(pk=again.json()["id"]).duplicate_of_id == first


def test_the_forms_own_policy_wins_over_its_sources(quote_form):
    source = Source.objects.create(name="Spring flyers", duplicate_policy="reject")
    quote_form.source = source
    quote_form.save()
    set_form_policy(quote_form, "link")

    first = submit_form(QUOTE).json()["id"]
    again = submit_form({**QUOTE, "first_name": "Linnea"})

    assert again.status_code == 201
    assert Lead.objects.get(pk=again.json()["id"]).duplicate_of_id == first
    assert not Submission.objects.filter(status=SubmissionStatus.DUPLICATE).exists()

    set_form_policy(quote_form, "update")
    merged = submit_form({**QUOTE, "first_name": "Linnea"})

    assert merged.status_code == 200
    assert merged.json()["id"] == first
    assert Lead.objects.get(pk=first).first_name == "Linnea"


def test_a_source_without_a_form_uses_its_own_policy(api):
    set_source_policy("link")
    primary = api(ADA).json()["id"]

    again = api(ADA)

    assert again.status_code == 201
    assert Lead.objects.get(pk=again.json()["id"]).duplicate_of_id == primary


# Fuzzy: likely the same person ---------------------------------------------------------------


def test_the_same_name_at_the_same_company_is_flagged_as_a_possible_duplicate(api):
    first = api(
        {
            "email": "ada@analytical-engines.example",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company": "Analytical Engines Ltd",
        }
    ).json()["id"]

    again = api(
        {
            "email": "countess@lovelace-home.example",
            "first_name": "A.",
            "last_name": "lovelace",
            "company": "ANALYTICAL ENGINES",
        }
    )

    assert again.status_code == 201  # not merged: likely, not surely, one person
    lead = Lead.objects.get(pk=again.json()["id"])
    assert lead.duplicate_of is None
    assert lead.quality_signals["possible_duplicate_of"] == first
    assert lead.name_key == Lead.objects.get(pk=first).name_key == "a:lovelace:analyticalengines"
    assert "possible_duplicate_of" not in Lead.objects.get(pk=first).quality_signals


def test_a_name_alone_is_not_a_possible_duplicate(api):
    api({**ADA, "phone": ""})

    again = api(
        {"email": "ada@elsewhere.example", "first_name": "Ada", "last_name": "Lovelace"}
    ).json()

    assert "possible_duplicate_of" not in Lead.objects.get(pk=again["id"]).quality_signals


def test_a_possible_duplicate_flag_survives_a_later_submission_of_that_lead(api):
    first = api({**ADA, "phone": ""}).json()["id"]
    flagged = api(
        {**ADA, "email": "countess@lovelace-home.example", "phone": "", "first_name": "A."}
    ).json()["id"]

    again = api({**ADA, "email": "countess@lovelace-home.example", "phone": "+14155550199"})

    assert again.json()["id"] == flagged
    assert Lead.objects.get(pk=flagged).quality_signals["possible_duplicate_of"] == first
