"""The quality layer in the back office: the quarantine queue, release with a reason, merging."""

import pytest

from leadloop.core.models import Event, Lead, Quality

pytestmark = pytest.mark.django_db

QUEUE = "/admin/quality/quarantinedlead/"


def test_the_review_queue_lists_quarantined_leads_only_with_their_reasons(admin_client, api):
    api({"email": "ada@example.com", "first_name": "Ada"})
    api({"email": "burner@mailinator.com", "first_name": "<script>alert(1)</script>"})

    page = admin_client.get(QUEUE).content.decode()

    assert "burner@mailinator.com" in page
    assert "ada@example.com" not in page
    assert "hands out throwaway addresses" in page
    assert "<script>alert(1)</script>" not in page


def test_releasing_asks_why_then_records_who_and_why(admin_client, admin_user, api):
    api({"email": "burner@mailinator.com", "first_name": "Bo"})
    lead = Lead.objects.get()
    assert lead.quality == Quality.INVALID
    selected = {"action": "release", "_selected_action": [lead.pk]}

    asked = admin_client.post(QUEUE, selected)
    assert asked.status_code == 200
    assert "Release quarantined leads" in asked.content.decode()
    lead.refresh_from_db()
    assert lead.quality == Quality.INVALID

    done = admin_client.post(QUEUE, {**selected, "why": "Called them: a real customer."})

    assert done.status_code == 302
    lead.refresh_from_db()
    assert lead.quality == Quality.VALID
    event = Event.objects.get(lead=lead, type="lead.released")
    assert event.actor == admin_user.username
    assert event.data["why"] == "Called them: a real customer."
    assert event.data["from"] == Quality.INVALID


def test_the_merge_screen_moves_everything_to_the_kept_lead(admin_client, api):
    api({"email": "ada@example.com", "first_name": "Ada", "last_name": "<b>L</b>"})
    api({"email": "ada.work@example.org", "first_name": "Augusta", "phone": "+14155550134"})
    first, second = Lead.objects.order_by("pk")
    listing = admin_client.post(
        "/admin/core/lead/", {"action": "merge_two", "_selected_action": [first.pk, second.pk]}
    )
    assert listing.status_code == 302
    screen = admin_client.get(listing["Location"]).content.decode()
    assert "Augusta" in screen
    assert "<b>L</b>" not in screen

    merged = admin_client.post(
        listing["Location"],
        {"kept": first.pk, "first_name": first.pk, "phone": second.pk, "email": first.pk},
    )

    assert merged.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.first_name, first.phone) == ("Ada", "+14155550134")
    assert second.merged_at is not None and second.duplicate_of_id == first.pk
    assert first.events.filter(type="lead.captured").count() == 2
    assert not Lead.objects.workable().filter(pk=second.pk).exists()


def test_merging_needs_exactly_two_leads(admin_client, api):
    api({"email": "ada@example.com"})
    lead = Lead.objects.get()

    response = admin_client.post(
        "/admin/core/lead/", {"action": "merge_two", "_selected_action": [lead.pk]}, follow=True
    )

    assert "Select exactly two leads" in response.content.decode()
