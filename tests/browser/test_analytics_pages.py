"""The dashboard and the funnel in a real browser, on CleanPro's synthetic year with its ad
spend and the roll-ups refreshed: the cards, the pipeline right now, and every chart drawn by
Chart.js with no error in the page. With LEADLOOP_SCREENSHOTS=1 it also writes
docs/dashboard.png and docs/funnel.png."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from leadloop.analytics import rollups
from leadloop.core.models import Source
from leadloop.crm.access import Role
from leadloop.demo import spend, synthetic, traffic
from tests.browser.support import DOCS, SCREENSHOTS

pytestmark = pytest.mark.browser

# A fixed history and period, so the pictures are the same on every run.
HISTORY_END = datetime(2026, 1, 1, tzinfo=UTC)
LAST_QUARTER = "period=custom&start=2025-10-03&end=2025-12-31"
CHARTS = ("leads_by_day", "source_mix", "cpl_by_channel", "days_in_stage", "clv_by_source")


@pytest.fixture
def cleanpro(transactional_db):
    dataset = synthetic.generate(3000, seed=1, months=12, end=HISTORY_END)
    synthetic.load(dataset)
    spend.store(dataset)
    traffic.store(list(Source.objects.all()), seed=1)
    rollups.rebuild()
    group, _ = Group.objects.get_or_create(name=Role.ADMIN)
    owner = get_user_model().objects.create_user(
        "olivia", "olivia@cleanpro.example", "pw", first_name="Olivia", last_name="Park"
    )
    owner.groups.add(group)
    return owner


def drawn_charts(page) -> dict[str, list[int]]:
    """Each chart canvas Chart.js drew on, with the canvas's size in the page."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('canvas[data-chart]')]
            .filter(c => Chart.getChart(c))
            .map(c => [c.dataset.chart, [c.clientWidth, c.clientHeight]]))"""
    )


def test_the_dashboard_shows_the_pipeline_the_cards_and_every_chart(
    page, live_server, signed_in, cleanpro
):
    signed_in(page, cleanpro)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/app/measure/?{LAST_QUARTER}")

    expect(page.locator(".pipeline-now .stages")).to_contain_text("Marketing qualified")
    expect(page.locator('[data-kpi="leads"] .value')).not_to_have_text("—")
    expect(page.locator('[data-kpi="cpl"] .badge')).to_be_visible()
    expect(page.locator(".fresh")).to_contain_text("Figures as of")
    charts = drawn_charts(page)
    # Days in stage has no bars when no lead left a stage in the period; the rest are drawn.
    assert set(CHARTS) - {"days_in_stage"} <= set(charts)
    assert all(width > 100 and height > 100 for width, height in charts.values()), charts
    if SCREENSHOTS:
        page.screenshot(path=str(DOCS / "dashboard.png"))


def test_the_funnel_shows_its_steps_and_the_mql_to_sql_rate(page, live_server, signed_in, cleanpro):
    signed_in(page, cleanpro)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/app/measure/funnel/?{LAST_QUARTER}&by=source")

    expect(page.locator("ol.funnel li")).to_have_count(6)
    expect(page.locator("#mql-sql + .value")).to_contain_text("%")
    expect(page.locator("table.funnel-rows tbody tr")).to_have_count(8)
    widths = page.eval_on_selector_all(
        "ol.funnel .bar", "bars => bars.map(bar => bar.getBoundingClientRect().width)"
    )
    # Leads (the second bar) is the widest below visitors, and each step narrows.
    assert widths[1:] == sorted(widths[1:], reverse=True) and widths[-1] > 0
    if SCREENSHOTS:
        page.screenshot(path=str(DOCS / "funnel.png"))
