"""The roll-ups: kept up to date by the minute's refresh exactly as a rebuild would make them."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from leadloop.analytics import kpis, rollups
from leadloop.analytics.models import ActivityDay, CohortDay, LeadJourney, RollupState
from leadloop.core import durable
from leadloop.core.models import Event, Lead
from tests.analytics.conftest import at

pytestmark = pytest.mark.django_db


def snapshot() -> dict[str, list]:
    """Every roll-up row's values, ids aside, in a fixed order."""

    def rows(model) -> list:
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        return sorted(tuple(str(v) for v in row) for row in model.objects.values_list(*fields))

    return {
        "journeys": rows(LeadJourney),
        "cohort": rows(CohortDay),
        "activity": rows(ActivityDay),
    }


def test_the_refresh_after_changes_equals_a_rebuild(cleanpro, march):
    leads = cleanpro.leads
    # L4 (captured 6 March) is won today; L7 gets a new owner; L3 gets a late event.
    Event.objects.create(
        lead=leads["L4"], type="deal.won", data={"revenue": "1500.00"}, occurred_at=timezone.now()
    )
    Lead.objects.filter(pk=leads["L4"].pk).update(
        lifecycle_stage="customer", updated_at=timezone.now()
    )
    Lead.objects.filter(pk=leads["L7"].pk).update(owner=cleanpro.rita, updated_at=timezone.now())
    Event.objects.create(lead=leads["L3"], type="proposal.sent", occurred_at=at(3, 8))
    rollups.refresh()
    refreshed = snapshot()
    rollups.rebuild()
    assert refreshed == snapshot()
    figures = kpis.dashboard(march).by_key
    assert figures["revenue"].value == Decimal("9500.00")  # the March cohort's, won in November
    assert figures["deals_closed"].value == 3  # its deal closed today, not in March
    assert figures["proposals"].value == 5


def test_a_refresh_with_nothing_new_changes_nothing(cleanpro):
    before = snapshot()
    rollups.refresh()
    assert snapshot() == before
    assert RollupState.current().refreshed_at > timezone.now() - timedelta(minutes=1)


def test_a_lead_quarantined_later_leaves_the_roll_ups(cleanpro, march):
    Lead.objects.filter(pk=cleanpro.leads["L7"].pk).update(
        quality="invalid", updated_at=timezone.now()
    )
    rollups.refresh()
    assert kpis.dashboard(march).by_key["leads"].value == 7


def test_the_worker_keeps_the_roll_ups_fresh(cleanpro):
    RollupState.objects.update(refreshed_at=timezone.now() - timedelta(hours=1))
    assert durable.run_sweeps()["analytics.rollups"] == 0
    assert RollupState.current().refreshed_at > timezone.now() - timedelta(minutes=1)


def test_the_refresh_command_rebuilds_or_catches_up_days(cleanpro):
    out = StringIO()
    CohortDay.objects.all().delete()
    call_command("analytics", "refresh", stdout=out)
    assert "Roll-ups refreshed (everything): 11 leads" in out.getvalue()
    assert CohortDay.objects.filter(day=at(3, 2).date()).exists()
    call_command("analytics", "refresh", "--days", "3", stdout=out)
    assert "the last 3 days" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("analytics", "refresh", "--days", "0")


def test_the_first_refresh_of_an_installation_is_a_rebuild(cleanpro):
    RollupState.objects.all().delete()
    LeadJourney.objects.all().delete()
    assert rollups.refresh() == 11  # every workable lead: all but the quarantined L9
    assert LeadJourney.objects.count() == 11
