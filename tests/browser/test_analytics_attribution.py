"""The attribution page in a real browser, on CleanPro's synthetic year: the table and the
grouped bar chart (drawn by Chart.js, no errors in the page), the measure pages' filter bar and
the half-life setting kept across each other. With LEADLOOP_SCREENSHOTS=1 it also writes
docs/attribution.png."""

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from leadloop.crm.access import Role
from leadloop.demo import synthetic
from tests.browser.support import DOCS, SCREENSHOTS

pytestmark = pytest.mark.browser

# A fixed history, so the picture is the same on every run.
HISTORY_END = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def marketer(transactional_db):
    group, _ = Group.objects.get_or_create(name=Role.MARKETER)
    user = get_user_model().objects.create_user(
        "mona", "mona@team.example", "pw", first_name="Mona", last_name="Reyes"
    )
    user.groups.add(group)
    return user


def test_the_page_shows_every_models_credit_and_its_chart(page, live_server, signed_in, marketer):
    stats = synthetic.load(synthetic.generate(3000, seed=1, months=12, end=HISTORY_END))
    assert stats.won > 100
    signed_in(page, marketer)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(
        f"{live_server.url}/app/measure/attribution/?period=custom&start=2025-07-01&end=2025-12-31"
    )
    expect(page.locator("form.measure-filters")).to_be_visible()
    table = page.locator("table.attribution")
    expect(table.locator("tbody tr").first).to_be_visible()
    expect(table.locator("thead")).to_contain_text("Position-based 40/20/40")
    expect(table.locator("tbody")).to_contain_text("Paid search")
    # Chart.js drew the chart: the canvas has its size and a chart instance.
    drawn = page.evaluate(
        "() => { const c = document.getElementById('attribution-chart');"
        " const chart = Chart.getChart(c); return chart ? chart.data.datasets.length : 0; }"
    )
    assert drawn == 5
    if SCREENSHOTS:
        page.screenshot(path=str(DOCS / "attribution.png"))
    # The half-life keeps the filters, and the shared filter bar keeps the half-life.
    page.fill("#id_half_life_days", "14")
    page.click("form.half-life button")
    expect(page).to_have_url(re.compile(r"start=2025-07-01.*half_life_days=14"))
    expect(page.locator("#f-start")).to_have_value("2025-07-01")
    page.select_option("#f-period", "90")
    page.click("form.measure-filters button")
    expect(page).to_have_url(re.compile(r"period=90.*half_life_days=14"))
    expect(page.locator("#id_half_life_days")).to_have_value("14")
