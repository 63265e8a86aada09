"""Ad spend in: typed by hand, or read from Google Ads' and Meta's CSV exports as they come,
previewed with an error per bad line, committed once however often the file is imported."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError

from leadloop.analytics import spend
from leadloop.analytics.models import Spend
from leadloop.core.models import Channel, Lead, Source
from leadloop.demo import spend as demo_spend
from leadloop.demo import synthetic

pytestmark = pytest.mark.django_db

GOOGLE_ADS = """Campaign report
"March 1, 2026 - March 2, 2026"
Day,Campaign,Cost,Clicks,Impr.,Currency code
2026-03-01,office-cleaning-search,"$1,234.50","1,204","15,300",USD
2026-03-02,office-cleaning-search,$80.00,40,900,USD
03/02/2026,Brand terms,12,--,--,USD
Total: Account,,"$1,326.50",1244,16200,
"""

META = (
    "Reporting starts,Reporting ends,Campaign name,Amount spent (USD),Link clicks,Impressions\n"
    "2026-03-01,2026-03-01,Spring clean,55.10,31,4000\n"
    "2026-03-01,2026-03-01,Spring clean,4.90,2,100\n"
)


@pytest.fixture
def sources() -> dict[str, Source]:
    return {
        "search": Source.objects.create(
            name="Google Ads: office cleaning",
            slug="google-office",
            channel=Channel.PAID_SEARCH,
            campaign="Office-Cleaning-Search",
        ),
        "facebook": Source.objects.create(
            name="Facebook", slug="facebook", channel=Channel.PAID_SOCIAL
        ),
    }


def test_google_ads_export_is_read_with_its_title_lines_totals_and_money_formats(sources):
    preview = spend.preview_import(GOOGLE_ADS.encode(), "google.csv", Channel.PAID_SEARCH)

    assert preview.errors == []
    assert [(r.day, r.campaign, r.cost, r.clicks, r.impressions) for r in preview.rows] == [
        (date(2026, 3, 1), "office-cleaning-search", Decimal("1234.50"), 1204, 15300),
        (date(2026, 3, 2), "Brand terms", Decimal("12.00"), 0, 0),
        (date(2026, 3, 2), "office-cleaning-search", Decimal("80.00"), 40, 900),
    ]
    # The campaign matches the source's campaign whatever its case; "Brand terms" matches none
    # and takes the channel the file was said to come from.
    assert preview.rows[0].source == sources["search"]
    assert preview.rows[1].source is None
    assert preview.rows[1].channel == Channel.PAID_SEARCH
    assert preview.total_cost == Decimal("1326.50")


def test_meta_export_adds_up_ad_level_lines_and_learns_the_source_from_utm_tags(sources):
    Lead.objects.create(
        email="a@x.example",
        source=sources["facebook"],
        first_touch={"utm_campaign": "Spring clean"},
        captured_at=datetime(2026, 3, 4, tzinfo=UTC),
    )

    preview = spend.preview_import(META.encode("utf-8-sig"), "meta.csv")

    assert preview.errors == []
    [row] = preview.rows
    assert (row.day, row.campaign, row.cost, row.clicks, row.impressions) == (
        date(2026, 3, 1),
        "Spring clean",
        Decimal("60.00"),
        33,
        4100,
    )
    assert row.lines == (2, 3)
    assert row.source == sources["facebook"]
    assert row.channel == Channel.PAID_SOCIAL


def test_a_utf16_tab_separated_export_is_read():
    text = "Day\tCampaign\tCost\tClicks\tImpr.\n2026-03-05\tWinter\t9.99\t3\t70\n"

    preview = spend.preview_import(text.encode("utf-16"), "google-utf16.csv")

    assert [(r.day, r.cost, r.impressions) for r in preview.rows] == [
        (date(2026, 3, 5), Decimal("9.99"), 70)
    ]


def test_bad_lines_are_reported_with_their_line_number_and_reason():
    text = (
        "Date,Campaign,Cost,Clicks\n"
        "2026-03-01,Good,10.00,1\n"
        "2026-13-45,Bad date,10.00,1\n"
        "2026-03-01,Bad cost,ten dollars,1\n"
        "2026-03-01,,5.00,1\n"
        "2026-03-01,Negative,-5.00,1\n"
        "2026-03-01,Bad clicks,5.00,1.5\n"
    )

    preview = spend.preview_import(text.encode(), "mixed.csv")

    assert [row.campaign for row in preview.rows] == ["Good"]
    assert [(e.line, e.reason) for e in preview.errors] == [
        (3, "date '2026-13-45' is not a date (use YYYY-MM-DD or MM/DD/YYYY)"),
        (4, "cost 'ten dollars' is not an amount of money"),
        (5, "no campaign name"),
        (6, "cost '-5.00' is not an amount of money"),
        (7, "clicks '1.5' is not a whole number"),
    ]


def test_a_file_without_the_needed_columns_is_refused_as_a_whole():
    with pytest.raises(spend.UnreadableFile, match="No header line"):
        spend.preview_import(b"When,What\n2026-03-01,Ads\n", "wrong.csv")


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("$1,234.50", "1234.50"),
        ("1234.5", "1234.50"),
        ("USD 12", "12.00"),
        (" 0.004 ", "0.00"),
        ("1,000,000", "1000000.00"),
    ],
)
def test_money_as_platforms_write_it(text, amount):
    assert spend.parse_money(text) == Decimal(amount)


@pytest.mark.parametrize("text", ["", "1.234,50", "12,34", "(12.00)", "abc"])
def test_money_that_is_not_money_is_refused(text):
    with pytest.raises(ValueError, match="is not an amount of money"):
        spend.parse_money(text)


@pytest.mark.parametrize(
    "text", ["2026-03-09", "03/09/2026", "3/9/26", "Mar 9, 2026", "9 Mar 2026"]
)
def test_dates_iso_or_us(text):
    assert spend.parse_day(text) == date(2026, 3, 9)


def test_the_preview_writes_nothing():
    spend.preview_import(GOOGLE_ADS.encode(), "google.csv")

    assert Spend.objects.count() == 0


def test_importing_the_same_file_twice_updates_the_rows_instead_of_doubling(sources):
    first = spend.commit_import(spend.preview_import(GOOGLE_ADS.encode(), "google.csv"))
    corrected = GOOGLE_ADS.replace("$80.00", "$85.00")
    again = spend.commit_import(spend.preview_import(corrected.encode(), "google-v2.csv"))

    assert (first.created, first.updated) == (3, 0)
    assert (again.created, again.updated) == (0, 3)
    assert Spend.objects.count() == 3
    assert sum(s.cost for s in Spend.objects.all()) == Decimal("1331.50")
    row = Spend.objects.get(day=date(2026, 3, 2), campaign="office-cleaning-search")
    assert (row.cost, row.imported_from, row.source) == (
        Decimal("85.00"),
        "google-v2.csv",
        sources["search"],
    )


def test_a_commit_that_fails_part_way_stores_nothing():
    preview = spend.preview_import(GOOGLE_ADS.encode(), "google.csv")
    # Negative clicks break the column's check constraint on every database.
    broken = spend.SpendLine(date(2026, 3, 3), "Broken", "other", None, Decimal("1"), -1, 0, (9,))
    preview.rows.append(broken)

    with pytest.raises(IntegrityError):
        spend.commit_import(preview)

    assert Spend.objects.count() == 0


def test_a_day_typed_by_hand_takes_the_sources_channel_and_campaign_and_replaces_a_retype(
    sources,
):
    spend.record_spend(
        day=date(2026, 3, 1), campaign="", cost=Decimal("40"), source=sources["search"]
    )
    spend.record_spend(
        day=date(2026, 3, 1), campaign="", cost=Decimal("45.50"), source=sources["search"], clicks=9
    )

    [row] = Spend.objects.all()
    assert (row.campaign, row.channel, row.cost, row.clicks) == (
        "Office-Cleaning-Search",
        Channel.PAID_SEARCH,
        Decimal("45.50"),
        9,
    )


def test_a_day_typed_by_hand_needs_a_campaign_and_a_cost_that_is_not_negative():
    with pytest.raises(ValueError, match="Name the campaign"):
        spend.record_spend(day=date(2026, 3, 1), campaign=" ", cost=Decimal("1"))
    with pytest.raises(ValueError, match="negative"):
        spend.record_spend(day=date(2026, 3, 1), campaign="Ads", cost=Decimal("-1"))


def test_the_demo_spreads_each_sources_monthly_spend_over_the_days_of_the_month():
    dataset = synthetic.generate(40, seed=3, months=2, end=datetime(2026, 3, 1, tzinfo=UTC))
    synthetic.load(dataset)

    written = demo_spend.store(dataset)
    demo_spend.store(dataset)  # demo --force runs it again: the rows are overwritten

    # January and February 2026: 31 + 28 days for each of the demo's sources.
    assert written == Spend.objects.count() == 59 * len(dataset.sources)
    for monthly in dataset.spend:
        rows = Spend.objects.filter(
            source__name=monthly.source,
            day__year=monthly.month.year,
            day__month=monthly.month.month,
        )
        assert sum(r.cost for r in rows) == monthly.amount
    google = Spend.objects.filter(source__name="Google Ads: office cleaning").first()
    assert (google.campaign, google.channel) == ("office-cleaning-search", Channel.PAID_SEARCH)
