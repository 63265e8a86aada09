"""A person hands a lead on: the new owner, an Assignment and an event with the reason, and
the new owner's own first-contact clock; a reason is required."""

import pytest

from leadloop.core.models import Event, Message
from leadloop.routing import services
from leadloop.routing.models import Assignment, NoticeKind, SlaTimer, TimerStatus
from tests.routing.conftest import a_lead, make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def owned(rep, boss, at_work):
    """A live lead that routing gave to ann."""
    make_rule("Everyone", rep("ann"), {})
    lead = a_lead()
    services.request_assignment([lead], live=True)
    services.assign_due()
    lead.refresh_from_db()
    return lead


def test_a_lead_handed_on_by_hand_records_who_why_and_starts_the_new_owners_clock(owned, rep):
    bob = rep("bob").user

    services.reassign(owned, bob, by="boss", why="  Speaks Portuguese  ")

    owned.refresh_from_db()
    assert owned.owner == bob
    latest = Assignment.objects.filter(lead=owned).first()
    assert (latest.owner, latest.previous_owner.get_username()) == (bob, "ann")
    assert (latest.by, latest.why) == ("boss", "Speaks Portuguese")
    event = Event.objects.filter(lead=owned, type="owner.assigned").latest("occurred_at")
    assert event.actor == "boss"
    assert event.data["why"] == "Speaks Portuguese" and event.data["owner"] == "bob"
    statuses = {t.owner.get_username(): t.status for t in SlaTimer.objects.filter(lead=owned)}
    assert statuses == {"ann": TimerStatus.CANCELLED, "bob": TimerStatus.PENDING}
    assert Message.objects.filter(kind=NoticeKind.NEW_LEAD, to="bob@reps.example").exists()


@pytest.mark.parametrize("why", ["", "   "])
def test_handing_a_lead_on_without_a_reason_is_refused_and_changes_nothing(owned, rep, why):
    bob = rep("bob").user

    with pytest.raises(ValueError, match="why"):
        services.reassign(owned, bob, by="boss", why=why)

    owned.refresh_from_db()
    assert owned.owner.get_username() == "ann"
    assert Assignment.objects.filter(lead=owned).count() == 1
