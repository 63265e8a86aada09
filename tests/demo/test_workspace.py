"""The demo's sales team: people who can log in, leads shared among the reps, and a deal for
every lead that reached sales, closed as its history says."""

from datetime import UTC, datetime
from decimal import Decimal

from django.contrib.auth import authenticate

from leadloop.core.models import Event, Lead, Source
from leadloop.crm.access import Role, role_of
from leadloop.crm.models import Deal, StageOutcome
from leadloop.demo import synthetic, workspace

END = datetime(2026, 1, 1, tzinfo=UTC)


def load_and_staff(size: int = 600) -> workspace.Staffed:
    dataset = synthetic.generate(size, seed=3, months=6, end=END)
    synthetic.load(dataset)
    return workspace.staff(list(Source.objects.all()), seed=3)


def test_the_team_logs_in_with_the_printed_passwords(db):
    load_and_staff(50)
    for username, _, _, role in workspace.TEAM:
        user = authenticate(username=username, password=workspace.password_for(username))
        assert user is not None and role_of(user) == role


def test_every_outcome_in_the_history_is_a_closed_deal_of_the_same_value(db):
    staffed = load_and_staff()
    won = Event.objects.filter(type="deal.won")
    assert Deal.objects.filter(stage__outcome=StageOutcome.WON).count() == won.count()
    assert Deal.objects.filter(stage__outcome=StageOutcome.LOST).count() == (
        Event.objects.filter(type="deal.lost").count()
    )
    revenue = sum(Decimal(e.data["revenue"]) for e in won)
    assert sum(d.value for d in Deal.objects.filter(stage__outcome=StageOutcome.WON)) == revenue
    assert staffed.deals == Deal.objects.count()


def test_reps_share_the_leads_and_some_open_deals_have_gone_quiet(db):
    load_and_staff()
    owners = set(Lead.objects.values_list("owner__username", flat=True))
    assert owners == {"rita", "sam", "tom"}
    rita = Lead.objects.filter(owner__username="rita").first().owner
    assert role_of(rita) == Role.REP
    open_deals = Deal.objects.filter(closed_at__isnull=True)
    assert open_deals.exists()
    assert all(d.owner == d.lead.owner for d in open_deals.select_related("lead"))
