"""Proposals in a real browser: the customer opens the link from the email, types their name,
ticks the box and accepts, and sees the confirmation, while the database holds the acceptance
with the browser's IP and the deal is won; and the rep's editor totals the lines as they are
typed (htmx)."""

from decimal import Decimal

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from leadloop.core.models import Lead
from leadloop.crm import proposals
from leadloop.crm.models import Deal, OnboardingTemplate, Pipeline, ProposalStatus

pytestmark = pytest.mark.browser


def sales_pipeline() -> Pipeline:
    """A pipeline with a won stage and onboarding (a live-server test's flush may have emptied
    what the migrations made)."""
    onboarding, _ = OnboardingTemplate.objects.get_or_create(name="Browser onboarding")
    if not onboarding.items.exists():
        onboarding.items.create(title="Welcome call", due_days=1)
    pipeline, _ = Pipeline.objects.get_or_create(name="Sales")
    Pipeline.objects.filter(pk=pipeline.pk).update(onboarding=onboarding)
    for position, (name, outcome) in enumerate(
        [("New", "open"), ("Proposal sent", "open"), ("Won", "won"), ("Lost", "lost")]
    ):
        pipeline.stages.get_or_create(
            name=name, defaults={"outcome": outcome, "position": position}
        )
    pipeline.refresh_from_db()
    return pipeline


@pytest.fixture
def deal(rita) -> Deal:
    pipeline = sales_pipeline()
    lead = Lead.objects.create(
        first_name="Grace", last_name="Hopper", email="grace@harbor.example", owner=rita
    )
    return Deal.objects.create(
        lead=lead,
        pipeline=pipeline,
        stage=pipeline.stages.get(name="New"),
        title="Office deep clean",
        value=Decimal("4800.00"),
        owner=rita,
    )


def test_the_customer_accepts_at_the_link_and_the_deal_is_won(page, live_server, deal, rita):
    proposal = proposals.draft(deal, by=rita)
    proposals.send(proposal, by=rita)

    page.goto(live_server.url + reverse("crm:proposal_public", args=[proposal.token]))
    expect(page.get_by_role("heading", name="Office deep clean")).to_be_visible()
    expect(page.locator(".total")).to_have_text("4,800.00")
    page.get_by_label("Your full name").fill("grace hopper")
    page.get_by_label("I accept these terms").check()
    page.get_by_role("button", name="Accept proposal").click()

    expect(page.get_by_role("heading", name="Accepted. Thank you!")).to_be_visible()
    expect(page.locator("#accepted")).to_contain_text("Accepted by grace hopper")
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.ACCEPTED
    assert proposal.accepted_ip == "127.0.0.1" and "Chrome" in proposal.accepted_user_agent
    deal.refresh_from_db()
    assert deal.stage.name == "Won"


def test_the_editor_totals_the_lines_as_they_are_typed(page, live_server, signed_in, deal, rita):
    proposal = proposals.draft(deal, by=rita)
    signed_in(page, rita)

    page.goto(live_server.url + reverse("crm:proposal", args=[proposal.pk]))
    expect(page.locator("#proposal-total")).to_have_text("4,800.00")
    page.locator("#id_lines-1-description").fill("Window cleaning")
    page.locator("#id_lines-1-quantity").fill("3")
    page.locator("#id_lines-1-unit_price").fill("33.33")

    expect(page.locator("#proposal-total")).to_have_text("4,899.99")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Proposal saved.")
    proposal.refresh_from_db()
    assert proposal.total == Decimal("4899.99")
