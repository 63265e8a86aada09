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


def _leads_by_email(leads, emails):
    return leads.filter(email_key__in=emails).order_by("id")


@pytest.mark.django_db
def test_select_reads_instances_as_the_orm_would():
    ada = Lead.objects.create(
        email="ada@example.com", email_key="ada@example.com", first_touch={"a": 1}
    )
    Lead.objects.create(email="bob@example.com", email_key="bob@example.com")
    found = rows.select(Lead, _leads_by_email, emails=["ada@example.com", "nobody@example.com"])
    assert found == [ada]
    read = found[0]
    assert read.first_touch == {"a": 1}
    assert read.captured_at == Lead.objects.get(pk=ada.pk).captured_at
    assert not read._state.adding
    assert (
        rows.select(Lead, _leads_by_email, emails=["bob@example.com", "x"])[0].email
        == "bob@example.com"
    )


@pytest.mark.django_db
def test_select_refuses_a_query_with_more_than_the_models_columns():
    with pytest.raises(ValueError):
        rows.select(
            Lead, lambda leads, ids: leads.filter(pk__in=ids).select_related("company"), ids=[1]
        )
