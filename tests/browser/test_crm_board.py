"""The pipeline board in a real browser: a card dragged from New to Qualified moves the deal and
the column totals follow; a card dropped on Lost asks why in the page's dialog, and cancelling
puts it back. With LEADLOOP_SCREENSHOTS=1 it also writes docs/crm-board.png."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leadloop.core.models import Company, Lead, Source
from leadloop.crm.models import Deal, Pipeline
from tests.browser.support import DOCS, SCREENSHOTS, eventually

pytestmark = pytest.mark.browser

STAGES = [
    ("New", 10, "open"),
    ("Qualified", 25, "open"),
    ("Meeting booked", 40, "open"),
    ("Proposal sent", 60, "open"),
    ("Negotiation", 80, "open"),
    ("Won", 100, "won"),
    ("Lost", 0, "lost"),
]
# (title, person, company, value, stage, score, days old, days idle)
DEALS = [
    ("Office deep clean", "Grace Hopper", "Harbor Dental", 4800, "New", 72, 2, 1),
    ("Weekly office cleaning", "Alan Turing", "Bletchley Labs", 12400, "New", 64, 5, 2),
    ("Move-out clean", "Ada Byron", "", 650, "New", 41, 1, 0),
    ("Carpet refresh", "Linus Pauling", "Pauling & Sons", 1900, "New", 35, 20, 19),
    ("Retail store nightly", "Mary Jackson", "Langley Outfitters", 18600, "Qualified", 81, 9, 3),
    ("Clinic sanitising", "Rosalind Franklin", "King's Clinic", 7200, "Qualified", 77, 12, 4),
    ("Window washing", "Katherine Johnson", "", 900, "Meeting booked", 58, 15, 6),
    ("Gym cleaning contract", "Edsger Dijkstra", "Shortest Path Gym", 9600, "Meeting booked", 69, 21, 18),
    ("School holidays deep clean", "Barbara Liskov", "Substitution Academy", 15800, "Proposal sent", 88, 30, 2),
    ("Restaurant kitchen", "Donald Knuth", "Art of Cooking", 5400, "Proposal sent", 66, 18, 5),
    ("HQ cleaning, 3 floors", "Margaret Hamilton", "Apollo Software", 38500, "Negotiation", 93, 45, 3),
    ("Spring clean", "Tim Berners-Lee", "", 780, "Won", 70, 40, 10),
    ("Garage clear-out", "John McCarthy", "", 420, "Lost", 20, 50, 30),
]  # fmt: skip


def sales_pipeline() -> Pipeline:
    """The pipeline the migrations make (a live-server test's flush may have emptied it)."""
    pipeline, created = Pipeline.objects.get_or_create(name="Sales")
    if created:
        for position, (name, probability, outcome) in enumerate(STAGES):
            pipeline.stages.create(
                name=name, probability=probability, outcome=outcome, position=position
            )
    return pipeline


def populate(owner) -> dict[str, Deal]:
    pipeline = sales_pipeline()
    stages = {stage.name: stage for stage in pipeline.stages.all()}
    source = Source.objects.create(name="Google Ads", slug="google-ads")
    now = timezone.now()
    deals = {}
    for position, (title, person, company, value, stage, score, age, idle) in enumerate(DEALS):
        first, last = person.split(" ", 1)
        lead = Lead.objects.create(
            first_name=first,
            last_name=last,
            email=f"{first.lower()}@{last.lower().replace(' ', '')}.example",
            company=Company.objects.create(name=company) if company else None,
            owner=owner,
            source=source,
            score=score,
        )
        deals[title] = Deal.objects.create(
            lead=lead,
            pipeline=pipeline,
            stage=stages[stage],
            title=title,
            value=Decimal(value),
            owner=owner,
            position=len(DEALS) - position,
            created_at=now - timedelta(days=age),
            last_activity_at=now - timedelta(days=idle),
        )
    return deals


def column(page, name: str):
    return page.locator("section.column").filter(has=page.get_by_role("heading", name=name))


def card(page, title: str):
    return page.locator(".deal-card").filter(has_text=title)


def drag(page, source, target) -> None:
    """Drag with real mouse moves in small steps: SortableJS follows the pointer."""
    start, end = source.bounding_box(), target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2 + 10, start["y"] + 10, steps=5)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + 12, steps=20)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + 16, steps=5)
    page.mouse.up()


def stage_of(deal: Deal) -> str:
    deal.refresh_from_db()
    return deal.stage.name


def test_dragging_a_deal_moves_it_and_updates_the_totals(page, live_server, signed_in, rita):
    deals = populate(rita)
    page.set_viewport_size({"width": 1280, "height": 800})
    signed_in(page, rita)
    page.goto(f"{live_server.url}/app/pipeline/")
    new, qualified = column(page, "New"), column(page, "Qualified")
    expect(new.locator("[data-count]")).to_have_text("4")
    expect(qualified.locator("[data-count]")).to_have_text("2")
    expect(qualified.locator("[data-total]")).to_have_text("25,800")
    expect(card(page, "Carpet refresh").locator("[data-stalled]")).to_be_visible()
    if SCREENSHOTS:
        page.screenshot(path=str(DOCS / "crm-board.png"))

    drag(page, card(page, "Office deep clean"), qualified.locator(".deal-card").first)
    assert eventually(lambda: stage_of(deals["Office deep clean"]) == "Qualified")
    expect(qualified.locator("[data-count]")).to_have_text("3")
    expect(qualified.locator("[data-total]")).to_have_text("30,600")
    expect(qualified.locator("[data-forecast]")).to_have_text("7,650")
    expect(new.locator("[data-count]")).to_have_text("3")
    expect(page.locator("[data-pipeline-totals] [data-count]")).to_have_text("11")
    expect(qualified.locator(".deal-card", has_text="Office deep clean")).to_be_visible()


def test_a_drop_on_lost_asks_why_and_cancelling_puts_the_card_back(
    page, live_server, signed_in, rita
):
    deals = populate(rita)
    page.set_viewport_size({"width": 1280, "height": 800})
    signed_in(page, rita)
    page.goto(f"{live_server.url}/app/pipeline/")
    new, lost = column(page, "New"), column(page, "Lost")
    dialog = page.locator("#lost-dialog")

    drag(page, card(page, "Move-out clean"), lost.locator("ol.cards"))
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(new.locator(".deal-card", has_text="Move-out clean")).to_be_visible()
    assert stage_of(deals["Move-out clean"]) == "New"

    drag(page, card(page, "Move-out clean"), lost.locator("ol.cards"))
    expect(dialog).to_be_visible()
    dialog.get_by_label("Reason").fill("Booked another company")
    dialog.get_by_role("button", name="Mark as lost").click()
    assert eventually(lambda: stage_of(deals["Move-out clean"]) == "Lost")
    expect(lost.locator("[data-count]")).to_have_text("2")
    expect(new.locator("[data-count]")).to_have_text("3")
    deals["Move-out clean"].refresh_from_db()
    assert deals["Move-out clean"].lost_reason == "Booked another company"
