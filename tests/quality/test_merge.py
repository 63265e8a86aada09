"""Merging two leads that are one person: a person picks each field, everything that hangs off the
other lead moves to the one kept, and the other lead stays, marked as merged into it."""

import pytest
from django.db import IntegrityError, transaction

from leadloop.capture.models import Submission
from leadloop.compliance.models import Consent
from leadloop.core.models import Event, Lead, Source, Visitor
from leadloop.quality.merging import MergeRefused, differing_fields, merge_leads

pytestmark = pytest.mark.django_db

ADA = {
    "email": "ada@analytical-engines.example",
    "phone": "+14155550134",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company": "Analytical Engines",
    "fields": {"rooms": 4},
    "consent": {"email": {"granted": True, "wording": "Email me my quote."}},
    "visitor_id": "visitor-ada-work",
}
COUNTESS = {
    "email": "countess@lovelace-home.example",
    "phone": "+14155550199",
    "first_name": "Augusta Ada",
    "last_name": "King",
    "company": "Lovelace Household",
    "fields": {"rooms": 9, "pets": "cat"},
    "consent": {"sms": {"granted": True, "wording": "Text me."}},
    "visitor_id": "visitor-ada-home",
}


@pytest.fixture
def two_leads(api) -> tuple[Lead, Lead]:
    kept = Lead.objects.get(pk=api(ADA).json()["id"])
    other = Lead.objects.get(pk=api(COUNTESS).json()["id"])
    api({**COUNTESS, "visitor_id": "visitor-ada-phone"})  # a second submission, another browser
    return kept, other


def test_everything_that_hangs_off_the_other_lead_moves_to_the_kept_one(two_leads):
    kept, other = two_leads
    assert Submission.objects.filter(lead=other).count() == 2

    merge_leads(kept, other, set(), by="grace@cleanpro.example")

    assert not Submission.objects.filter(lead=other).exists()
    assert Submission.objects.filter(lead=kept).count() == 3
    # Each submission's consent is its own record, with its own evidence: all three move.
    assert sorted(Consent.objects.filter(lead=kept).values_list("channel", flat=True)) == [
        "email",
        "sms",
        "sms",
    ]
    assert not Consent.objects.filter(lead=other).exists()
    assert set(Visitor.objects.filter(lead=kept).values_list("key", flat=True)) == {
        "visitor-ada-work",
        "visitor-ada-home",
        "visitor-ada-phone",
    }
    assert sorted(kept.events.values_list("type", flat=True)) == [
        "lead.captured",
        "lead.captured",
        "lead.merged",
        "lead.updated",
    ]
    assert list(other.events.values_list("type", flat=True)) == ["lead.merged_into"]


def test_the_kept_lead_takes_the_chosen_fields_and_keeps_the_rest(two_leads):
    kept, other = two_leads
    assert set(differing_fields(kept, other)) == {
        "first_name",
        "last_name",
        "email",
        "phone",
        "company",
    }

    merged = merge_leads(kept, other, {"last_name", "phone", "company"}, by="grace")

    merged.refresh_from_db()
    assert (merged.first_name, merged.last_name) == ("Ada", "King")
    assert (merged.email, merged.phone) == ("ada@analytical-engines.example", "+14155550199")
    assert merged.company.name == "Lovelace Household"
    assert merged.name_key == "a:king:lovelacehousehold"
    assert merged.email_key == "ada@analytical-engines.example"
    # Answers: the kept lead's own win; the ones it lacked come from the other.
    assert merged.custom_fields == {"rooms": 4, "pets": "cat"}


def test_the_other_lead_is_kept_marked_as_merged_and_out_of_the_loop(two_leads):
    kept, other = two_leads

    merge_leads(kept, other, set(), by="grace")

    other.refresh_from_db()
    assert other.merged_at is not None
    assert other.duplicate_of_id == kept.pk
    assert other.email == "countess@lovelace-home.example"  # nothing deleted
    assert list(Lead.objects.workable()) == [kept]
    assert not Lead.objects.quarantined().exists()
    assert other.events.get(type="lead.merged_into").data == {"lead": kept.pk}


def test_the_merge_event_says_who_what_was_taken_and_what_moved(two_leads):
    kept, other = two_leads

    merge_leads(kept, other, {"first_name", "phone"}, by="grace@cleanpro.example")

    event = kept.events.get(type="lead.merged")
    assert event.actor == "grace@cleanpro.example"
    assert event.data["merged_lead"] == other.pk
    assert event.data["taken"] == {
        "first_name": ["Ada", "Augusta Ada"],
        "phone": ["+14155550134", "+14155550199"],
    }
    assert event.data["moved"]["capture.submission"] == 2
    assert event.data["moved"]["compliance.consent"] == 2
    assert event.data["moved"]["core.visitor"] == 2
    assert event.data["moved"]["core.event"] == 2  # captured, updated


def test_the_kept_lead_can_take_the_other_leads_email(two_leads, api):
    kept, other = two_leads

    merge_leads(kept, other, {"email"}, by="grace")

    kept.refresh_from_db()
    assert kept.email == "countess@lovelace-home.example"
    assert kept.email_key == "countess@lovelace-home.example"
    # Still one primary per mailbox: the next submission for it meets the kept lead ...
    again = api({"email": "Countess+x@Lovelace-Home.example", "first_name": "Ada"})
    assert again.status_code == 200
    assert again.json()["id"] == kept.pk
    # ... and the database refuses a second primary for it.
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.create(email="countess@lovelace-home.example", email_key=kept.email_key)


def test_the_older_capture_becomes_the_first_touch(api):
    older = Lead.objects.get(
        pk=api({**COUNTESS, "tracking": {"utm_source": "newsletter"}}).json()["id"]
    )
    newer = Lead.objects.get(pk=api({**ADA, "tracking": {"utm_source": "google"}}).json()["id"])

    merge_leads(newer, older, set(), by="grace")

    newer.refresh_from_db()
    assert newer.captured_at == older.captured_at
    assert newer.first_touch["utm_source"] == "newsletter"


def test_linked_duplicates_of_the_other_lead_follow_it(api):
    kept = Lead.objects.get(pk=api(ADA).json()["id"])
    other = Lead.objects.get(pk=api(COUNTESS).json()["id"])
    Source.objects.filter(name="Partner feed").update(duplicate_policy="link")
    linked = Lead.objects.get(pk=api({**COUNTESS, "first_name": "Augusta"}).json()["id"])
    assert linked.duplicate_of_id == other.pk

    merge_leads(kept, other, set(), by="grace")

    linked.refresh_from_db()
    assert linked.duplicate_of_id == kept.pk


def test_a_lead_cannot_be_merged_into_itself(two_leads):
    kept, _ = two_leads

    with pytest.raises(MergeRefused, match="itself"):
        merge_leads(kept, kept, set(), by="grace")

    assert not Event.objects.filter(type="lead.merged").exists()


def test_a_merge_is_not_done_twice(two_leads, api):
    kept, other = two_leads
    merge_leads(kept, other, set(), by="grace")
    third = Lead.objects.get(
        pk=api({**ADA, "email": "ada@third.example", "phone": ""}).json()["id"]
    )

    with pytest.raises(MergeRefused, match="already merged"):
        merge_leads(kept, other, set(), by="grace")
    with pytest.raises(MergeRefused, match="already merged"):
        merge_leads(third, other, set(), by="grace")
    with pytest.raises(MergeRefused, match="already merged"):
        merge_leads(other, third, set(), by="grace")

    assert Event.objects.filter(type="lead.merged").count() == 1
    third.refresh_from_db()
    assert third.merged_at is None and third.duplicate_of is None


def test_an_unknown_field_is_refused(two_leads):
    kept, other = two_leads

    with pytest.raises(MergeRefused, match="quality"):
        merge_leads(kept, other, {"quality"}, by="grace")

    other.refresh_from_db()
    assert other.merged_at is None


def test_a_linked_duplicate_merges_into_its_primary(api):
    primary = Lead.objects.get(pk=api(ADA).json()["id"])
    Source.objects.filter(name="Partner feed").update(duplicate_policy="link")
    linked = Lead.objects.get(pk=api({**ADA, "first_name": "Augusta"}).json()["id"])

    merge_leads(primary, linked, {"first_name"}, by="grace")

    primary.refresh_from_db()
    linked.refresh_from_db()
    assert primary.first_name == "Augusta"
    assert primary.duplicate_of is None
    assert (linked.duplicate_of_id, linked.merged_at is not None) == (primary.pk, True)


def test_a_primary_merges_into_its_linked_duplicate(api):
    primary = Lead.objects.get(pk=api(ADA).json()["id"])
    Source.objects.filter(name="Partner feed").update(duplicate_policy="link")
    linked = Lead.objects.get(pk=api({**ADA, "first_name": "Augusta"}).json()["id"])

    merge_leads(linked, primary, set(), by="grace")

    linked.refresh_from_db()
    assert linked.duplicate_of is None  # the kept one is now the primary for the mailbox
    Source.objects.filter(name="Partner feed").update(duplicate_policy="update")
    assert api(ADA).json()["id"] == linked.pk


def test_a_third_lead_merges_into_a_linked_duplicate(api):
    primary = Lead.objects.get(pk=api(ADA).json()["id"])
    Source.objects.filter(name="Partner feed").update(duplicate_policy="link")
    linked = Lead.objects.get(pk=api({**ADA, "first_name": "Augusta"}).json()["id"])
    other = Lead.objects.get(pk=api(COUNTESS).json()["id"])

    merge_leads(linked, other, set(), by="grace")

    linked.refresh_from_db()
    assert linked.duplicate_of_id == primary.pk


def test_a_linked_duplicate_that_takes_another_mailbox_becomes_its_primary(api):
    api(ADA)
    Source.objects.filter(name="Partner feed").update(duplicate_policy="link")
    linked = Lead.objects.get(pk=api({**ADA, "first_name": "Augusta"}).json()["id"])
    other = Lead.objects.get(pk=api(COUNTESS).json()["id"])

    merge_leads(linked, other, {"email"}, by="grace")

    linked.refresh_from_db()
    assert linked.duplicate_of is None
    assert linked.email_key == "countess@lovelace-home.example"


def test_two_linked_duplicates_merged_stay_linked_to_their_primary(api):
    primary = Lead.objects.get(pk=api(ADA).json()["id"])
    Source.objects.filter(name="Partner feed").update(duplicate_policy="link")
    first = Lead.objects.get(pk=api({**ADA, "first_name": "Augusta"}).json()["id"])
    second = Lead.objects.get(pk=api({**ADA, "first_name": "Countess"}).json()["id"])

    merge_leads(first, second, {"first_name"}, by="grace")

    first.refresh_from_db()
    assert (first.first_name, first.duplicate_of_id) == ("Countess", primary.pk)
    assert list(Lead.objects.filter(duplicate_of__isnull=True)) == [primary]
