"""rows.insert writes what bulk_create would, with its SQL built once per shape."""

import pytest
from django.db import transaction

from leadloop.core import rows
from leadloop.core.models import Company, Event, Lead


@pytest.mark.django_db
def test_insert_stores_defaults_auto_now_and_json_and_sets_primary_keys():
    company = Company(name="Analytical Engines")
    lead = Lead(email="ada@example.com", company=company, custom_fields={"budget": 400})
    rows.insert([company])  # saved after the lead was given it: the lead still points at it
    rows.insert([lead])
    assert lead.pk and not lead._state.adding
    stored = Lead.objects.get(pk=lead.pk)
    assert stored.company_id == company.pk
    assert stored.custom_fields == {"budget": 400}
    assert stored.lifecycle_stage == "lead"
    assert stored.updated_at is not None and stored.captured_at is not None


@pytest.mark.django_db
def test_insert_splits_what_one_statement_cannot_hold_and_keeps_the_order():
    lead = Lead.objects.create(email="grace@example.com")
    events = [Event(lead=lead, type=f"test.{i}", data={"i": i}) for i in range(700)]
    with transaction.atomic():
        rows.insert(events)
    assert [e.type for e in Event.objects.filter(pk__in=[e.pk for e in events]).order_by("pk")] == [
        f"test.{i}" for i in range(700)
    ]
    assert Event.objects.get(pk=events[123].pk).data == {"i": 123}


@pytest.mark.django_db
def test_insert_refuses_a_row_already_stored_and_an_unsaved_related_object():
    lead = Lead.objects.create(email="alan@example.com")
    with pytest.raises(ValueError):
        rows.insert([lead])
    with pytest.raises(ValueError):
        rows.insert([Event(lead=Lead(email="new@example.com"), type="test")])
