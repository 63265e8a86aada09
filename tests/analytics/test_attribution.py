"""Attribution on hand-made journeys whose credit was worked out by hand: the channel each touch
is classified into, repeats collapsed, the five models' shares to the cent, the period and the
measure pages' shared filters, the page with its CSV, and the API."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from leadloop.analytics import attribution, rollups
from leadloop.analytics.attribution import DEFAULT_HALF_LIFE, Touch, classify, collapse
from leadloop.analytics.kpis import Filters
from leadloop.capture.models import PageView
from leadloop.core.models import Channel, Event, Lead, Source, Visitor
from leadloop.crm.access import Role
from tests.downloads import csv_rows

pytestmark = pytest.mark.django_db

SITE = "https://cleanpro.example"
DAY0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
MARCH = Filters(start=date(2026, 3, 1), end=date(2026, 3, 31))
# The same period as the pages and the API are asked for it.
MARCH_PARAMS = {"period": "custom", "start": "2026-03-01", "end": "2026-03-31"}


def person(username: str, role: str):
    user = get_user_model().objects.create_user(username, f"{username}@team.example", "pw")
    user.groups.add(Group.objects.get(name=role))
    return user


def day(n: float) -> datetime:
    return DAY0 + timedelta(days=n)


def touch(at: datetime, **tags) -> dict:
    """A touch as capture's clean_touch stores it."""
    return {**tags, "landing_page": SITE + "/quote", "at": at.isoformat()}


def view(lead: Lead, at: datetime, query: str = "", referrer: str = "") -> Event:
    url = f"{SITE}/pricing{'?' + query if query else ''}"
    data = {"url": url, "path": "/pricing", "referrer": referrer}
    return Event.objects.create(lead=lead, type="page.viewed", occurred_at=at, data=data)


def won(lead: Lead, at: datetime, revenue: str) -> Event:
    data = {"revenue": revenue, "closed_at": at.isoformat()}
    return Event.objects.create(lead=lead, type="deal.won", occurred_at=at, data=data)


def three_touch_lead(**fields) -> Lead:
    """Email on day 0, a Google ad a week later, a direct visit a week after that, and a
    $1,000 win on day 21: each touch a week (one half-life) apart."""
    lead = Lead.objects.create(
        email=fields.pop("email", "grace@harbor.example"),
        first_touch=touch(day(0), utm_source="newsletter", utm_medium="email",
                          utm_campaign="march-news"),
        last_touch=touch(day(14)),
        captured_at=day(14),
        **fields,
    )  # fmt: skip
    view(lead, day(7), "utm_source=google&utm_medium=cpc&utm_campaign=office-search")
    won(lead, day(21), "1000.00")
    return lead


def credits(report: attribution.Report, model: str) -> dict[str, tuple[Decimal, Decimal]]:
    return {
        row.label: (row.credits[model].customers_shown, row.credits[model].revenue)
        for row in report.rows
        if row.credits[model].customers
    }


def march(
    by: str = "channel", half_life: timedelta = DEFAULT_HALF_LIFE, **cut
) -> attribution.Report:
    """The report for March 2026, cut by the given filters (source_id, campaign, form,
    owner_id)."""
    return attribution.attribute(replace(MARCH, **cut), by, half_life)


@pytest.mark.parametrize(
    ("tags", "channel"),
    [
        ({"utm_source": "google", "utm_medium": "cpc"}, Channel.PAID_SEARCH),
        ({"utm_source": "bing", "utm_medium": "ppc"}, Channel.PAID_SEARCH),
        ({"gclid": "abc123"}, Channel.PAID_SEARCH),
        ({"utm_source": "facebook", "utm_medium": "cpc"}, Channel.PAID_SOCIAL),
        ({"utm_source": "linkedin", "utm_medium": "paid_social"}, Channel.PAID_SOCIAL),
        ({"utm_source": "facebook", "utm_medium": "social"}, Channel.SOCIAL),
        ({"referrer": "https://www.linkedin.com/feed/"}, Channel.SOCIAL),
        ({"referrer": "https://l.facebook.com/l.php"}, Channel.SOCIAL),
        ({"utm_source": "newsletter", "utm_medium": "email"}, Channel.EMAIL),
        ({"utm_source": "facilitydirectory", "utm_medium": "affiliate"}, Channel.AFFILIATE),
        ({"referrer": "https://www.google.com/"}, Channel.ORGANIC),
        ({"referrer": "https://duckduckgo.com/"}, Channel.ORGANIC),
        ({"referrer": "https://www.yelp.example/cleanpro"}, Channel.REFERRAL),
        ({"utm_source": "partnerblog", "utm_medium": "referral"}, Channel.REFERRAL),
        ({}, Channel.DIRECT),
        ({"landing_page": SITE + "/"}, Channel.DIRECT),
    ],
)
def test_it_classifies_a_touch_into_a_channel(tags, channel):
    assert classify(tags) == channel


def test_repeats_of_a_touch_within_half_an_hour_collapse_into_one():
    ad, news = ("paid_search", "office-search"), ("email", "march-news")
    touches = [
        Touch(day(0), *ad),
        Touch(day(0) + timedelta(minutes=20), *ad),  # the same visit: dropped
        Touch(day(0) + timedelta(minutes=45), *ad),  # 25 minutes after the last view: dropped
        Touch(day(0) + timedelta(minutes=80), *ad),  # 35 minutes later: a new touch
        Touch(day(0) + timedelta(minutes=90), *news),
        Touch(day(0) + timedelta(minutes=95), *ad),  # after another touch: kept
    ]
    assert collapse(touches) == [touches[0], touches[3], touches[4], touches[5]]


def test_three_touches_are_credited_as_worked_out_by_hand():
    three_touch_lead()
    report = march()
    email, search, direct = "Email", "Paid search", "Direct"
    assert report.conversions == 1
    assert report.revenue == Decimal("1000.00")
    assert credits(report, "first") == {email: (Decimal("1.00"), Decimal("1000.00"))}
    assert credits(report, "last") == {direct: (Decimal("1.00"), Decimal("1000.00"))}
    assert credits(report, "linear") == {
        email: (Decimal("0.33"), Decimal("333.33")),
        search: (Decimal("0.33"), Decimal("333.33")),
        direct: (Decimal("0.33"), Decimal("333.34")),  # the odd cent to the touch nearest the sale
    }
    assert credits(report, "position") == {
        email: (Decimal("0.40"), Decimal("400.00")),
        search: (Decimal("0.20"), Decimal("200.00")),
        direct: (Decimal("0.40"), Decimal("400.00")),
    }
    # A week apart with a 7-day half-life: 1/8, 1/4, 1/2 of the weight at the sale, i.e. 1/7,
    # 2/7, 4/7: 142.857, 285.714, 571.429; largest remainders (.857, .714) get the two cents.
    assert credits(report, "decay") == {
        email: (Decimal("0.14"), Decimal("142.86")),
        search: (Decimal("0.29"), Decimal("285.71")),
        direct: (Decimal("0.57"), Decimal("571.43")),
    }


def test_the_half_life_is_a_parameter():
    three_touch_lead()
    # Two weeks: weights 1, 2^(1/2), 2 of the first touch's, i.e. 1/(3+√2) and so on.
    report = march(half_life=timedelta(days=14))
    assert credits(report, "decay") == {
        "Email": (Decimal("0.23"), Decimal("226.54")),
        "Paid search": (Decimal("0.32"), Decimal("320.38")),
        "Direct": (Decimal("0.45"), Decimal("453.08")),
    }


def test_two_touches_share_position_based_credit_half_and_half():
    lead = Lead.objects.create(
        email="alan@bletchley.example",
        first_touch=touch(day(1), referrer="https://www.google.com/"),
        last_touch=touch(day(3), utm_source="facebook", utm_medium="paid_social"),
    )
    won(lead, day(4), "99.99")
    report = march()
    assert credits(report, "position") == {
        "Organic search": (Decimal("0.50"), Decimal("49.99")),
        "Paid social": (Decimal("0.50"), Decimal("50.00")),
    }


def test_each_models_revenue_adds_up_to_the_revenue_won():
    three_touch_lead()
    three_touch_lead(email="ada@byron.example")
    lone = Lead.objects.create(email="linus@pauling.example")
    won(lone, day(5), "0.01")
    report = march(by="campaign")
    assert report.revenue == Decimal("2000.01")
    for model in attribution.MODELS:
        assert sum(row.credits[model].revenue for row in report.rows) == Decimal("2000.01")
        assert sum(row.credits[model].customers for row in report.rows) == 3


def test_a_lead_with_no_touch_at_all_is_direct():
    lead = Lead.objects.create(email="mary@langley.example")
    won(lead, day(2), "500.00")
    report = march(by="campaign")
    assert [(row.channel, row.campaign) for row in report.rows] == [("direct", "(none)")]
    for model in attribution.MODELS:
        assert report.rows[0].credits[model].revenue == Decimal("500.00")


def test_touches_come_from_capture_and_unstitched_page_views_but_not_after_the_sale():
    lead = Lead.objects.create(email="katherine@nasa.example")
    captured = {"touch": touch(day(2), utm_source="linkedin", utm_medium="paid_social",
                               utm_campaign="facilities")}  # fmt: skip
    Event.objects.create(lead=lead, type="lead.captured", occurred_at=day(2), data=captured)
    visitor = Visitor.objects.create(key="v-katherine", lead=lead)
    PageView.objects.create(
        visitor=visitor,
        url=SITE + "/?utm_source=newsletter&utm_medium=email&utm_campaign=march-news",
        occurred_at=day(1),
    )
    # An internal link and an untagged view are no touches; the visit after the win is too late.
    view(lead, day(3), referrer=SITE + "/")
    view(lead, day(3))
    won(lead, day(4), "300.00")
    view(lead, day(5), "utm_source=google&utm_medium=cpc")
    report = march(by="campaign")
    assert credits(report, "first") == {"Email: march-news": (Decimal("1.00"), Decimal("300.00"))}
    assert credits(report, "linear") == {
        "Email: march-news": (Decimal("0.50"), Decimal("150.00")),
        "Paid social: facilities": (Decimal("0.50"), Decimal("150.00")),
    }


def test_the_same_touch_seen_by_capture_and_first_touch_counts_once():
    ad = touch(day(2), utm_source="google", utm_medium="cpc", utm_campaign="office-search")
    lead = Lead.objects.create(email="edsger@gym.example", first_touch=ad, last_touch=ad)
    Event.objects.create(lead=lead, type="lead.captured", occurred_at=day(2), data={"touch": ad})
    view(
        lead,
        day(2) + timedelta(minutes=1),
        "utm_source=google&utm_medium=cpc&utm_campaign=office-search",
    )
    won(lead, day(9), "800.00")
    assert credits(march(), "linear") == {"Paid search": (Decimal("1.00"), Decimal("800.00"))}


def test_only_wins_on_the_periods_days_count_and_filters_narrow_the_leads():
    rita = person("rita", Role.REP)
    search = Source.objects.create(name="Google Ads", channel="paid_search", campaign="office")
    three_touch_lead(owner=rita, source=search)
    before = Lead.objects.create(email="barbara@academy.example")
    won(before, datetime(2026, 2, 28, 23, 59, tzinfo=UTC), "5000.00")
    after = Lead.objects.create(email="ida@lovelace.example")
    won(after, datetime(2026, 4, 1, 0, 0, tzinfo=UTC), "7000.00")
    rollups.rebuild()
    assert march().conversions == 1
    assert march(owner_id=rita.pk).revenue == Decimal("1000.00")
    assert march(source_id=search.pk).conversions == 1
    assert march(campaign="office").conversions == 1
    assert march(campaign="other").conversions == 0
    assert march(owner_id=rita.pk + 1).conversions == 0


def test_a_campaign_is_the_sources_else_the_last_touchs_as_on_the_dashboard():
    search = Source.objects.create(name="Google Ads", channel="paid_search", campaign="office")
    three_touch_lead(source=search)
    # No source: the campaign its last touch was tagged with stands in, as in kpis.
    untagged = Lead.objects.create(
        email="hedy@lamarr.example",
        last_touch=touch(day(3), utm_source="facebook", utm_medium="paid_social",
                         utm_campaign="spring"),
    )  # fmt: skip
    won(untagged, day(6), "250.00")
    rollups.rebuild()
    assert march(campaign="spring").revenue == Decimal("250.00")
    assert credits(march(campaign="spring"), "last") == {
        "Paid social": (Decimal("1.00"), Decimal("250.00"))
    }
    assert march(campaign="office").revenue == Decimal("1000.00")


def test_the_form_filter_keeps_the_leads_first_captured_through_that_form():
    def captured(lead: Lead, at: datetime, form: str) -> None:
        Event.objects.create(lead=lead, type="lead.captured", occurred_at=at, data={"form": form})

    quote = three_touch_lead()
    captured(quote, day(14), "quote")
    newsletter = Lead.objects.create(email="rosalind@franklin.example")
    captured(newsletter, day(2), "newsletter")
    won(newsletter, day(10), "400.00")
    # Captured through the quote form first and the callback form later: a quote lead.
    twice = Lead.objects.create(email="chien@wu.example")
    captured(twice, day(1), "quote")
    captured(twice, day(2), "callback")
    won(twice, day(8), "600.00")
    rollups.rebuild()
    by_quote = march(form="quote")
    assert (by_quote.conversions, by_quote.revenue) == (2, Decimal("1600.00"))
    assert credits(by_quote, "first") == {
        "Email": (Decimal("1.00"), Decimal("1000.00")),
        "Direct": (Decimal("1.00"), Decimal("600.00")),
    }
    assert march(form="newsletter").revenue == Decimal("400.00")
    assert march(form="callback").conversions == 0


def test_a_window_of_conversions_is_read_in_four_queries(django_assert_num_queries):
    for n in range(6):
        three_touch_lead(email=f"lead{n}@example.example")
    rollups.rebuild()
    with django_assert_num_queries(4):
        report = march()
    assert report.conversions == 6
    with django_assert_num_queries(4):
        report = march(campaign="(none)", form="quote", source_id=1, owner_id=1)
    assert report.conversions == 0


def test_the_page_shows_each_model_side_by_side(client):
    three_touch_lead()
    client.force_login(person("mona", Role.MARKETER))
    url = reverse("analytics:attribution")
    page = client.get(url, MARCH_PARAMS)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="card inline measure-filters"' in html  # the measure pages' filter bar
    for label in ("First touch", "Last touch", "Linear", "Position-based 40/20/40", "Time decay"):
        assert label in html
    assert "333.34" in html and "571.43" in html
    assert 'id="attribution-data"' in html and "attribution.js" in html


def test_a_bad_period_is_refused_with_its_reason_beside_the_filter_bar(client):
    client.force_login(person("mona", Role.MARKETER))
    url = reverse("analytics:attribution")
    page = client.get(url, {"period": "45"})
    assert page.status_code == 400
    html = page.content.decode()
    assert "The period is one of 7, 30, 90, 180, 365 (days) or custom." in html
    assert "measure-filters" in html and "attribution-data" not in html
    backwards = client.get(url, {**MARCH_PARAMS, "start": "2026-03-31", "end": "2026-03-01"})
    assert backwards.status_code == 400
    assert "The period&#x27;s start is after its end." in backwards.content.decode()


def test_a_bad_half_life_is_reported_and_the_default_used(client):
    three_touch_lead()
    client.force_login(person("mona", Role.MARKETER))
    page = client.get(reverse("analytics:attribution"), {**MARCH_PARAMS, "half_life_days": "-3"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "greater than or equal to 0.1" in html
    assert "571.43" in html  # time decay with the 7-day default


def test_the_csv_is_safe_to_open_in_a_spreadsheet(client):
    lead = Lead.objects.create(
        email="mallory@evil.example",
        first_touch=touch(day(1), utm_source="google", utm_medium="cpc",
                          utm_campaign="=HYPERLINK(\"http://evil.example\")"),
    )  # fmt: skip
    won(lead, day(2), "120.00")
    client.force_login(person("mona", Role.MARKETER))
    response = client.get(
        reverse("analytics:attribution"),
        {**MARCH_PARAMS, "by": "campaign", "format": "csv"},
    )
    rows = csv_rows(response)
    assert rows[0][:4] == ["Channel", "Campaign", "First touch: customers", "First touch: revenue"]
    assert rows[1][:4] == ["paid_search", '\'=HYPERLINK("http://evil.example")', "1.00", "120.00"]
    assert len(rows[1]) == 12


def test_a_rep_sees_only_their_own_customers(client):
    rita, sam = person("rita", Role.REP), person("sam", Role.REP)
    three_touch_lead(owner=sam)
    client.force_login(rita)
    response = client.get(
        "/api/v1/analytics/attribution",
        {**MARCH_PARAMS, "owner": sam.pk},
    )
    assert response.json()["conversions"] == 0
    assert response.json()["filters"]["owner_id"] == rita.pk


def test_the_api_gives_every_models_credit(client):
    three_touch_lead()
    client.force_login(person("mona", Role.MANAGER))
    response = client.get("/api/v1/analytics/attribution", MARCH_PARAMS)
    assert response.status_code == 200
    body = response.json()
    assert body["conversions"] == 1 and Decimal(body["revenue"]) == Decimal("1000.00")
    assert body["filters"]["start"] == "2026-03-01" and body["filters"]["end"] == "2026-03-31"
    direct = next(row for row in body["rows"] if row["channel"] == "direct")
    assert Decimal(direct["credits"]["linear"]["revenue"]) == Decimal("333.34")
    assert Decimal(direct["credits"]["decay"]["customers"]) == Decimal("0.57")


def test_the_api_takes_the_dashboards_filters_form_included(client):
    three_touch_lead()
    other = Lead.objects.create(email="rosalind@franklin.example")
    Event.objects.create(
        lead=other, type="lead.captured", occurred_at=day(2), data={"form": "newsletter"}
    )
    won(other, day(10), "400.00")
    rollups.rebuild()
    client.force_login(person("mona", Role.MANAGER))
    response = client.get("/api/v1/analytics/attribution", {**MARCH_PARAMS, "form": "newsletter"})
    body = response.json()
    assert (body["conversions"], Decimal(body["revenue"])) == (1, Decimal("400.00"))
    assert body["filters"]["form"] == "newsletter"


def test_the_api_refuses_bad_input_and_strangers(client):
    url = "/api/v1/analytics/attribution"
    assert client.get(url).status_code == 401
    client.force_login(person("mona", Role.MARKETER))
    assert client.get(url, {"by": "colour"}).status_code == 422
    assert client.get(url, {"half_life_days": "0"}).status_code == 422
    # Bad filters answer as the dashboard's API does: 400 with the reason.
    for params, reason in [
        ({"period": "45"}, "The period is one of 7, 30, 90, 180, 365 (days) or custom."),
        ({**MARCH_PARAMS, "start": "2026-03-31", "end": "2026-03-01"},
         "The period's start is after its end."),
        ({"period": "custom"}, "A custom period needs a start and an end day (YYYY-MM-DD)."),
        ({"source": "x"}, "The source filter is a number (an id), not 'x'."),
    ]:  # fmt: skip
        response = client.get(url, params)
        assert response.status_code == 400
        assert response.json() == {"detail": reason}
        assert client.get("/api/v1/analytics/dashboard", params).status_code == 400
    client.force_login(get_user_model().objects.create_user("nobody", "n@x.example", "pw"))
    assert client.get(url).status_code == 403
