"""Deals: opening one makes the lead an opportunity, the board's order is kept, winning makes a
customer (welcome email, onboarding tasks, a deal.won the predictive model learns from) and
losing needs a reason."""

from decimal import Decimal

import pytest

from leadloop.core.models import Event, LifecycleStage, Message, Task
from leadloop.crm import services
from leadloop.crm.access import Role, visible_deals


def test_opening_a_deal_makes_the_lead_an_opportunity(make_lead, person, pipeline):
    rita = person("rita")
    lead = make_lead(owner=rita, lifecycle_stage=LifecycleStage.SQL)
    deal = services.open_deal(lead, value=Decimal("450.00"), by=rita)
    lead.refresh_from_db()
    assert (deal.stage.name, deal.owner, deal.title) == ("New", rita, "Lena")
    assert lead.lifecycle_stage == LifecycleStage.OPPORTUNITY
    assert list(lead.events.values_list("type", flat=True)) == ["deal.created", "stage.changed"]


def test_a_negative_value_is_refused(make_lead, pipeline):
    with pytest.raises(services.DealError, match="negative"):
        services.open_deal(make_lead(), value=Decimal("-1"))


def test_dropping_a_deal_between_two_others_keeps_that_order(make_deal, pipeline, person):
    rita = person("rita")
    top, bottom, moved = (make_deal(position=p) for p in (3.0, 2.0, 0.0))
    qualified = pipeline.stages.get(name="Qualified")
    for deal in (top, bottom):
        services.move_deal(deal, qualified, by=rita)
    # Each arrival goes on top of the column: bottom is now above top.
    services.move_deal(moved, qualified, by=rita, above=bottom, below=top)
    column = list(qualified.deals.order_by("-position").values_list("pk", flat=True))
    assert column == [bottom.pk, moved.pk, top.pk]
    event = Event.objects.filter(type="deal.stage_changed", data__deal=moved.pk).get()
    assert (event.data["from"], event.data["to"], event.actor) == ("New", "Qualified", "rita")


def test_winning_welcomes_the_customer_and_starts_onboarding(make_deal, make_lead, person):
    rita = person("rita")
    deal = make_deal(lead=make_lead(owner=rita), owner=rita, value=Decimal("1200.00"))
    services.win(deal, by=rita)
    deal.refresh_from_db()
    assert deal.stage.name == "Won" and deal.closed_at is not None
    assert deal.lead.lifecycle_stage == LifecycleStage.CUSTOMER
    won = Event.objects.get(type="deal.won")
    assert won.data["revenue"] == "1200.00"
    welcome = Message.objects.get(kind="deal.welcome")
    assert welcome.to == "lena@customers.example" and "Rita will be in touch" in welcome.body
    tasks = list(Task.objects.filter(lead=deal.lead).order_by("due_at"))
    assert tasks[0].title == "Welcome call: confirm the first visit"
    assert len(tasks) == 4 and {t.owner for t in tasks} == {rita}


def test_winning_twice_welcomes_once(make_deal, person):
    deal = make_deal()
    services.win(deal, by=None)
    services.win(deal, by=None)
    assert Message.objects.filter(kind="deal.welcome").count() == 1
    assert Event.objects.filter(type="deal.won").count() == 1


def test_dropping_on_lost_without_a_reason_is_refused(make_deal, pipeline):
    deal = make_deal()
    lost = pipeline.stages.get(name="Lost")
    with pytest.raises(services.DealError, match="why"):
        services.move_deal(deal, lost, by=None)
    services.move_deal(deal, lost, by=None, reason="Went with a cheaper quote")
    deal.refresh_from_db()
    assert (deal.stage, deal.lost_reason) == (lost, "Went with a cheaper quote")


def test_who_sees_which_deals(make_deal, make_lead, person, team_of):
    rita, sam, other = person("rita"), person("sam"), person("olga")
    manager = person("mona", Role.MANAGER)
    marketer = person("mark", Role.MARKETER)
    team_of(manager, rita, sam)
    deals = {u.username: make_deal(lead=make_lead(owner=u), owner=u) for u in (rita, sam, other)}

    def seen(user):
        return {d.owner.username for d in visible_deals(user)}

    assert seen(rita) == {"rita"}
    assert seen(manager) == {"rita", "sam"}
    assert seen(marketer) == set(deals)
