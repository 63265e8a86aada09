"""The pipeline board, the deal list and its CSV export, and the stalled list: totals and
forecasts from the database, filters, who sees what, moving a card, and a query count that does
not grow with the number of deals."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leadloop.compliance.models import AccessLog
from leadloop.core.models import Company, Source
from leadloop.crm.access import Role
from leadloop.crm.models import Deal
from tests.downloads import csv_rows


@pytest.fixture
def rita(person):
    """A sales rep: sees her own deals only."""
    return person("rita", first_name="Rita")


@pytest.fixture
def admin(person):
    """An admin: sees every deal."""
    return person("ada", Role.ADMIN)


def stage_id(pipeline, name: str) -> int:
    return pipeline.stages.get(name=name).pk


def column_of(response, pipeline, name: str):
    return next(c for c in response.context["board"].columns if c.stage.name == name)


def test_columns_show_count_total_and_weighted_forecast(client, admin, make_deal, pipeline):
    make_deal(value=Decimal("1000.00"))
    make_deal(value=Decimal("500.50"))
    make_deal(stage="Proposal sent", value=Decimal("2000.00"))
    make_deal(stage="Won", value=Decimal("9999.00"))
    client.force_login(admin)
    response = client.get(reverse("crm:board"))
    new = column_of(response, pipeline, "New").totals
    proposal = column_of(response, pipeline, "Proposal sent").totals
    assert (new.count, new.total, new.forecast) == (2, Decimal("1500.50"), Decimal("150.05"))
    assert (proposal.count, proposal.total, proposal.forecast) == (1, 2000, 1200)
    board = response.context["board"]
    # The pipeline's figures are what is still open: the won deal is not in play.
    assert (board.totals.count, board.totals.total, board.totals.forecast) == (
        3,
        Decimal("3500.50"),
        Decimal("1350.05"),
    )
    page = response.content.decode()
    assert "3,501" in page and "1,350" in page
    assert [c.stage.name for c in board.columns][-2:] == ["Won", "Lost"]


def test_filters_narrow_cards_and_totals(client, admin, person, make_deal, make_lead, pipeline):
    sam = person("sam")
    ads = Source.objects.create(name="Google Ads", slug="google-ads")
    old = timezone.now() - timedelta(days=40)
    make_deal(lead=make_lead(score=80, source=ads), owner=sam, title="Hot from ads")
    make_deal(lead=make_lead(score=10, source=ads), owner=sam, title="Cold from ads")
    make_deal(lead=make_lead(score=90), owner=admin, title="Old and hot", created_at=old)
    client.force_login(admin)

    def titles(**query) -> set[str]:
        response = client.get(reverse("crm:board"), query)
        return {d.title for d in column_of(response, pipeline, "New").cards}

    assert titles(owner=sam.pk) == {"Hot from ads", "Cold from ads"}
    assert titles(source=ads.pk) == {"Hot from ads", "Cold from ads"}
    assert titles(min_score=50) == {"Hot from ads", "Old and hot"}
    assert titles(older_than_days=30) == {"Old and hot"}
    assert titles(newer_than_days=30) == {"Hot from ads", "Cold from ads"}
    response = client.get(reverse("crm:board"), {"source": ads.pk, "min_score": 50})
    assert column_of(response, pipeline, "New").totals.count == 1


def test_a_bad_filter_is_reported_and_left_out(client, admin, make_deal):
    make_deal()
    client.force_login(admin)
    response = client.get(reverse("crm:board"), {"min_score": "lots", "owner": "999999"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Enter a whole number." in page and "Select a valid choice" in page
    assert response.context["board"].totals.count == 1


def test_a_rep_sees_only_her_deals_and_can_filter_only_by_herself(
    client, rita, person, make_deal, make_lead, pipeline
):
    sam = person("sam")
    make_deal(lead=make_lead(owner=rita), owner=rita, title="Rita's")
    make_deal(lead=make_lead(owner=sam), owner=sam, title="Sam's")
    client.force_login(rita)
    response = client.get(reverse("crm:board"))
    assert {d.title for d in column_of(response, pipeline, "New").cards} == {"Rita's"}
    assert list(response.context["form"].fields["owner"].queryset) == [rita]
    assert "Sam&#x27;s" not in response.content.decode()


def test_a_manager_sees_the_team_on_the_board(
    client, rita, person, team_of, make_deal, make_lead, pipeline
):
    manager, outsider = person("mona", Role.MANAGER), person("olga")
    team_of(manager, rita)
    make_deal(lead=make_lead(owner=rita), owner=rita, title="Team deal")
    make_deal(lead=make_lead(owner=outsider), owner=outsider, title="Not the team's")
    client.force_login(manager)
    response = client.get(reverse("crm:board"))
    assert {d.title for d in column_of(response, pipeline, "New").cards} == {"Team deal"}


def test_someone_without_a_role_is_refused(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="x-long-pw"))
    assert client.get(reverse("crm:board")).status_code == 403


def test_the_board_escapes_what_a_lead_typed(client, admin, make_deal, make_lead):
    make_deal(lead=make_lead(first_name="<script>alert(1)</script>"), title="<b>Big</b>")
    client.force_login(admin)
    page = client.get(reverse("crm:board")).content.decode()
    assert "<script>alert(1)" not in page and "&lt;b&gt;Big&lt;/b&gt;" in page


def test_the_board_s_query_count_does_not_grow_with_the_deals(
    client, admin, person, make_deal, make_lead, pipeline
):
    """5 deals and 60 (more than a column shows) cost the same queries: no N+1."""
    owners = [person(f"rep{n}") for n in range(3)]
    source = Source.objects.create(name="Partner", slug="partner")

    def add(deals: int) -> None:
        for n in range(deals):
            company = Company.objects.create(name=f"Company {n}")
            lead = make_lead(company=company, source=source, owner=owners[n % 3], score=n)
            stage = ["New", "Qualified", "Won"][n % 3] if n < 6 else "New"
            make_deal(lead=lead, owner=owners[n % 3], stage=stage)

    client.force_login(admin)
    add(5)
    client.get(reverse("crm:board"))  # the session and content types are cached from here
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("crm:board")).status_code == 200
    add(55)
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("crm:board"))
    assert len(column_of(response, pipeline, "New").cards) == 50
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    assert 'hx-get="/app/pipeline/' in response.content.decode()


def test_load_more_gives_the_next_cards_of_a_column(client, admin, make_deal, pipeline):
    for position in range(55):
        make_deal(title=f"Deal {position}", position=position)
    client.force_login(admin)
    url = reverse("crm:board_cards", args=[pipeline.pk, stage_id(pipeline, "New")])
    response = client.get(url, {"offset": 50})
    assert [d.title for d in response.context["cards"]] == [f"Deal {n}" for n in range(4, -1, -1)]
    assert not response.context["has_more"]
    assert 'id="more-' in response.content.decode() and "Load more" not in response.content.decode()
    assert client.get(url, {"offset": "x"}).status_code == 400


def test_moving_a_card_answers_the_new_totals(client, rita, make_deal, make_lead, pipeline):
    deal = make_deal(lead=make_lead(owner=rita), owner=rita, value=Decimal("1000.00"))
    neighbour = make_deal(lead=make_lead(owner=rita), owner=rita, stage="Qualified", position=5)
    client.force_login(rita)
    response = client.post(
        reverse("crm:deal_move", args=[deal.pk]),
        {"stage": stage_id(pipeline, "Qualified"), "above": neighbour.pk, "below": ""},
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["columns"][str(stage_id(pipeline, "New"))] == {
        "count": "0",
        "total": "0",
        "forecast": "0",
    }
    assert answer["columns"][str(stage_id(pipeline, "Qualified"))] == {
        "count": "2",
        "total": "2,000",
        "forecast": "500",
    }
    assert answer["pipeline"]["count"] == "2"
    deal.refresh_from_db()
    assert deal.stage.name == "Qualified" and deal.position == 4


def test_dropping_on_lost_needs_a_reason(client, rita, make_deal, make_lead, pipeline):
    deal = make_deal(lead=make_lead(owner=rita), owner=rita)
    client.force_login(rita)
    url = reverse("crm:deal_move", args=[deal.pk])
    lost = stage_id(pipeline, "Lost")
    response = client.post(url, {"stage": lost})
    assert response.status_code == 400 and response.json() == {
        "error": "Say why the deal was lost."
    }
    deal.refresh_from_db()
    assert deal.stage.name == "New"
    assert client.post(url, {"stage": lost, "reason": "Chose a cheaper quote"}).status_code == 200
    deal.refresh_from_db()
    assert (deal.stage.name, deal.lost_reason) == ("Lost", "Chose a cheaper quote")


def test_moving_to_a_stage_of_another_pipeline_is_refused(client, admin, make_deal):
    from leadloop.crm.models import Pipeline

    other = Pipeline.objects.create(name="Partners").stages.create(name="Intro")
    client.force_login(admin)
    url = reverse("crm:deal_move", args=[make_deal().pk])
    for stage in (other.pk, "abc", ""):
        response = client.post(url, {"stage": stage})
        assert response.status_code == 400 and "not on this deal" in response.json()["error"]


def test_moving_someone_else_s_deal_is_a_404(client, rita, person, make_deal, make_lead, pipeline):
    sam = person("sam")
    deal = make_deal(lead=make_lead(owner=sam), owner=sam)
    client.force_login(rita)
    response = client.post(
        reverse("crm:deal_move", args=[deal.pk]), {"stage": stage_id(pipeline, "Qualified")}
    )
    assert response.status_code == 404
    assert client.get(reverse("crm:deal_move", args=[deal.pk])).status_code == 405


def list_titles(response) -> list[str]:
    return [deal.title for deal in response.context["page"]]


def test_the_deal_list_sorts_and_searches(client, admin, make_deal, make_lead):
    acme = Company.objects.create(name="Acme Offices")
    make_deal(lead=make_lead(first_name="Ann", score=5), title="Small", value=Decimal("100"))
    make_deal(lead=make_lead(company=acme, score=50), title="Big", value=Decimal("900"))
    make_deal(lead=make_lead(email="zed@zed.example", score=20), title="Mid", value=Decimal("500"))
    client.force_login(admin)
    url = reverse("crm:deals")
    assert list_titles(client.get(url)) == ["Big", "Mid", "Small"]
    assert list_titles(client.get(url, {"sort": "value"})) == ["Small", "Mid", "Big"]
    assert list_titles(client.get(url, {"sort": "-score"})) == ["Big", "Mid", "Small"]
    assert list_titles(client.get(url, {"sort": "nonsense"})) == ["Big", "Mid", "Small"]
    assert list_titles(client.get(url, {"q": "acme"})) == ["Big"]
    assert list_titles(client.get(url, {"q": "ann"})) == ["Small"]
    assert list_titles(client.get(url, {"q": "zed@zed"})) == ["Mid"]
    assert list_titles(client.get(url, {"q": "mid", "min_score": 30})) == []


def test_the_deal_list_is_paginated(client, admin, make_deal):
    for n in range(55):
        make_deal(title=f"Deal {n}")
    client.force_login(admin)
    response = client.get(reverse("crm:deals"), {"page": 2})
    assert len(response.context["page"]) == 5 and "Page 2 of 2" in response.content.decode()


def export(client, **query) -> list[list[str]]:
    response = client.get(reverse("crm:deals"), {"format": "csv", **query})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return csv_rows(response)


def test_the_csv_export_has_every_matching_row_and_is_logged(
    client, rita, person, make_deal, make_lead
):
    sam = person("sam")
    acme = Company.objects.create(name="Acme")
    for n in range(60):  # more than a page: the export is not paginated
        make_deal(lead=make_lead(owner=rita, company=acme), owner=rita, title=f"Deal {n}")
    make_deal(lead=make_lead(owner=sam), owner=sam, title="Sam's")
    client.force_login(rita)
    rows = export(client)
    assert rows[0][:4] == ["Deal id", "Title", "Lead", "Email"]
    assert len(rows) == 61 and "Sam's" not in {row[1] for row in rows}
    assert rows[1][4:9] == ["Acme", "Sales", "New", "1000.00", "100.00"]
    log = AccessLog.objects.get()
    assert (log.user, log.what, log.count) == (rita, "deals export", 60)


def test_the_csv_export_neutralises_formulas(client, admin, make_deal, make_lead):
    lead = make_lead(first_name='=HYPERLINK("http://evil.example")', last_name="", score=-5)
    make_deal(lead=lead, title="+cmd|' /C calc'!A0", lost_reason="@SUM(1)")
    make_deal(lead=make_lead(first_name="-2+3"), title="\tTabbed")
    client.force_login(admin)
    rows = export(client, sort="score")
    first, second = rows[1], rows[2]
    assert first[1] == "'+cmd|' /C calc'!A0"
    assert first[2] == '\'=HYPERLINK("http://evil.example")'
    assert first[10] == "-5"  # a number stays a number
    assert first[14] == "'@SUM(1)"
    assert (second[1], second[2]) == ("'\tTabbed", "'-2+3")


def test_stalled_deals_are_listed_oldest_first_and_flagged_on_the_board(
    client, admin, make_deal, pipeline
):
    now = timezone.now()
    pipeline.stall_days = 10
    pipeline.save()
    make_deal(title="Fresh", last_activity_at=now - timedelta(days=3))
    make_deal(title="Idle", last_activity_at=now - timedelta(days=12))
    make_deal(title="Forgotten", stage="Qualified", last_activity_at=now - timedelta(days=30))
    make_deal(title="Won long ago", stage="Won", last_activity_at=now - timedelta(days=90))
    client.force_login(admin)
    response = client.get(reverse("crm:stalled"))
    assert list_titles(response) == ["Forgotten", "Idle"]
    assert [d.idle_days for d in response.context["page"]] == [30, 12]
    board = client.get(reverse("crm:board"))
    flags = {d.title: d.is_stalled for d in column_of(board, pipeline, "New").cards}
    assert flags == {"Fresh": False, "Idle": True}
    assert board.content.decode().count("data-stalled") == 2


def test_the_pipeline_switcher_shows_each_pipeline(client, admin, make_deal, pipeline):
    from leadloop.crm.models import Pipeline

    other = Pipeline.objects.create(name="Partners", position=1)
    other.stages.create(name="Intro")
    client.force_login(admin)
    page = client.get(reverse("crm:board")).content.decode()
    assert reverse("crm:pipeline_board", args=[other.pk]) in page
    response = client.get(reverse("crm:pipeline_board", args=[other.pk]))
    assert [c.stage.name for c in response.context["board"].columns] == ["Intro"]
    assert client.get(reverse("crm:pipeline_board", args=[999999])).status_code == 404
    assert Deal.objects.count() == 0
