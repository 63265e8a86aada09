"""A/B test results on a small hand-made history whose answers are worked out below, sticky
assignment by weight, and the rules of starting, stopping and deciding a test."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leadloop.analytics import experiments
from leadloop.analytics.experiments import ExperimentError
from leadloop.analytics.models import (
    Experiment,
    ExperimentAssignment,
    ExperimentKind,
    ExperimentMetric,
    ExperimentStatus,
)
from leadloop.capture.models import Form
from leadloop.core import services as core
from leadloop.core.models import Lead, Visitor
from leadloop.crm.access import Role
from tests.analytics.experiment_cast import HEADLINE_A, form_test, person, with_second_version
from tests.downloads import csv_rows

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def visit(experiment, variant_key: str, visitor: str) -> None:
    variant = experiment.variants.get(key=variant_key)
    ExperimentAssignment.objects.create(
        experiment=experiment, variant=variant, visitor_key=visitor, assigned_at=T0
    )


def becomes_lead(visitor: str, captured_at: datetime = T0 + timedelta(hours=1)) -> Lead:
    lead = Lead.objects.create(email=f"{visitor}@customers.example", captured_at=captured_at)
    Visitor.objects.create(key=visitor, lead=lead)
    return lead


def moves(lead: Lead, stage: str) -> None:
    core.record_event(lead, "stage.changed", {"to": stage}, occurred_at=T0 + timedelta(days=2))


def wins(lead: Lead, revenue: str) -> None:
    core.record_event(lead, "deal.won", {"revenue": revenue}, occurred_at=T0 + timedelta(days=9))


@pytest.fixture
def history(quote_form):
    """Ten visitors on each side.
    A (control): a0-a3 became leads (4 of 10); a0 and a1 reached SQL (2); a0 won two deals,
        1,000.00 and 200.50 (1 won, 1,200.50); a9 was a lead before it was assigned: no
        conversion, and its old SQL move does not count either.
    B: b0-b5 became leads (6 of 10); b0 reached SQL (1); b1 only MQL; nothing won.
    So B fills the form more often and A sells more: seed 003's trap."""
    experiment = form_test(with_second_version(quote_form), min_sample=20)
    for n in range(10):
        visit(experiment, "A", f"a{n}")
        visit(experiment, "B", f"b{n}")
    a = [becomes_lead(f"a{n}") for n in range(4)]
    moves(a[0], "sql")
    moves(a[1], "opportunity")
    wins(a[0], "1000.00")
    wins(a[0], "200.50")
    old = becomes_lead("a9", captured_at=T0 - timedelta(days=1))
    core.record_event(old, "stage.changed", {"to": "sql"}, occurred_at=T0 - timedelta(hours=1))
    b = [becomes_lead(f"b{n}") for n in range(6)]
    moves(b[0], "sql")
    moves(b[1], "mql")
    return experiment


def test_each_variant_is_read_on_leads_and_on_what_sales_made_of_them(history):
    control, variant = experiments.results(history)

    assert (control.variant.key, variant.variant.key) == ("A", "B")
    assert (control.assigned, control.converted.count, control.sql.count, control.won.count) == (
        10,
        4,
        2,
        1,
    )
    assert (variant.assigned, variant.converted.count, variant.sql.count, variant.won.count) == (
        10,
        6,
        1,
        0,
    )
    assert (control.revenue, control.revenue_per_assigned) == (
        Decimal("1200.50"),
        Decimal("120.05"),
    )
    assert (variant.revenue, variant.revenue_per_assigned) == (Decimal("0.00"), Decimal("0.00"))
    assert variant.revenue_difference == Decimal("-120.05")
    assert control.converted.against_control is None


def test_the_rates_carry_wilson_intervals_and_the_comparison_with_the_control(history):
    control, variant = experiments.results(history)

    # 4 of 10: Wilson 95% [0.1682, 0.6873]; 6 of 10 is its mirror [0.3127, 0.8318].
    assert (control.converted.rate, control.converted.low, control.converted.high) == (
        0.4,
        pytest.approx(0.1682, abs=1e-4),
        pytest.approx(0.6873, abs=1e-4),
    )
    assert (variant.converted.low, variant.converted.high) == (
        pytest.approx(0.3127, abs=1e-4),
        pytest.approx(0.8318, abs=1e-4),
    )
    lead_rate = variant.converted.against_control
    # Pooled 0.5, se = sqrt(0.25 * 0.2) = 0.2236, z = 0.894: p = 0.371.
    assert lead_rate.difference == pytest.approx(0.2)
    assert lead_rate.p_value == pytest.approx(0.3711, abs=1e-4)
    assert lead_rate.low < 0 < lead_rate.high
    # P(Beta(7, 5) > Beta(5, 7)) = 0.8026 and P(Beta(2, 10) > Beta(3, 9)) = 0.2932, by
    # numerical integration of pdf_B * cdf_A.
    assert lead_rate.probability_to_beat == pytest.approx(0.8026, abs=1e-3)
    assert variant.sql.against_control.probability_to_beat == pytest.approx(0.2932, abs=1e-3)
    assert variant.sql.against_control.difference == pytest.approx(-0.1)


def test_too_few_visitors_and_a_lead_rate_that_disagrees_with_sales_are_warned_of(history):
    report = experiments.report(history)

    assert report.warnings == [
        "Variant A has 10 of the 20 visitors it needs: 10 more before its figures mean much.",
        "Variant B has 10 of the 20 visitors it needs: 10 more before its figures mean much.",
        "Variant B leads on the lead rate but variant A on the SQL rate: more form fills that "
        "sales accept less often are not an improvement.",
        "Variant B leads on the lead rate but variant A on the win rate: more form fills that "
        "sales accept less often are not an improvement.",
    ]


def test_the_leader_is_read_on_the_primary_metric(history):
    assert experiments.report(history).leader.key == "A"  # SQL rate, the default
    history.metric = ExperimentMetric.LEAD
    assert experiments.report(history).leader.key == "B"
    history.metric = ExperimentMetric.REVENUE
    assert experiments.report(history).leader.key == "A"


def test_the_results_take_the_same_queries_for_ten_visitors_or_a_hundred(history):
    with CaptureQueriesContext(connection) as few:
        experiments.results(history)
    for n in range(10, 50):
        visit(history, "A", f"a{n}")
        visit(history, "B", f"b{n}")
        becomes_lead(f"b{n}")

    with CaptureQueriesContext(connection) as many:
        rows = experiments.results(history)

    assert rows[1].converted.count == 46
    assert len(many) == len(few) == 2


# --- assignment ------------------------------------------------------------------------------


def test_a_visitor_keeps_their_variant(quote_form):
    experiment = form_test(with_second_version(quote_form))

    first = experiments.assign(experiment, "v1")

    assert all(experiments.assign(experiment, "v1") == first for _ in range(10))
    assert ExperimentAssignment.objects.count() == 1


def test_variants_get_traffic_by_weight(quote_form):
    experiment = form_test(with_second_version(quote_form))
    experiment.variants.filter(key="A").update(weight=3)

    drawn = [experiments.assign(experiment, f"v{n}").key for n in range(400)]

    # 3:1 is 75% for A, sd 2.2 points over 400 draws: 65-85% is 4.6 sd either way.
    assert 0.65 < drawn.count("A") / 400 < 0.85


def test_a_decided_test_gives_everyone_the_winner_and_records_nothing(quote_form):
    experiment = form_test(with_second_version(quote_form))
    winner = experiment.variants.get(key="B")
    experiments.declare_winner(experiment, winner, by="mia")

    assert {experiments.assign(experiment, f"v{n}") for n in range(5)} == {winner}
    assert ExperimentAssignment.objects.count() == 0


# --- the test's life -------------------------------------------------------------------------


def test_a_test_needs_two_variants_and_one_control(quote_form):
    experiment = form_test(with_second_version(quote_form), running=False)
    experiment.variants.filter(key="B").delete()

    with pytest.raises(ExperimentError, match="two variants or more"):
        experiments.start(experiment)


def test_a_variant_must_show_a_version_of_the_tested_form(quote_form):
    experiment = form_test(with_second_version(quote_form), running=False)
    other = Form.objects.create(slug="other", name="Other", definition=quote_form.definition)
    experiment.variants.filter(key="B").update(form_version=other.versions.get())

    with pytest.raises(ExperimentError, match="Variant B: That version belongs to another form"):
        experiments.start(experiment)


def test_one_test_runs_on_a_form_at_a_time(quote_form):
    form_test(with_second_version(quote_form))
    second = form_test(quote_form, running=False)

    with pytest.raises(ExperimentError, match="Another test runs there already"):
        experiments.start(second)
    experiments.start(form_test(quote_form, ExperimentKind.LANDING_PAGE, running=False))


def test_a_stopped_test_serves_the_form_again_and_can_still_be_decided(quote_form):
    experiment = form_test(with_second_version(quote_form))
    experiments.stop(experiment)

    assert experiment.status == ExperimentStatus.STOPPED
    experiments.declare_winner(experiment, experiment.variants.get(key="A"), by="mia")
    with pytest.raises(ExperimentError, match="Only a running or stopped test"):
        experiments.declare_winner(experiment, experiment.variants.get(key="A"), by="mia")


# --- the pages and the API -------------------------------------------------------------------


@pytest.fixture
def marketer(client):
    client.force_login(person("mona", Role.MARKETER))
    return client


def test_the_list_shows_each_test_with_its_variants_and_leader(marketer, history):
    history.name = "Headline <script>alert(1)</script>"
    history.save()

    html = marketer.get(reverse("analytics:experiments")).content.decode()

    assert "Headline &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert "Running" in html and "10 / 10" in html
    assert 'A <span class="muted small">(reached sales-qualified)</span>' in html


def test_the_results_page_shows_intervals_warnings_and_the_controls(marketer, history):
    html = marketer.get(reverse("analytics:experiment", args=[history.pk])).content.decode()

    assert "4 · 40.0%" in html and "16.8% to 68.7%" in html  # A's leads, Wilson
    assert "+20.0 pts" in html and "p = 0.371" in html  # B's lead rate against A
    assert "80%" in html  # P(B beats A) on leads: 0.8026
    assert "10 more before its figures mean much" in html
    assert "more form fills that sales accept less often" in html
    assert "Declare winner" in html and ">Stop<" in html


def test_the_results_export_as_csv_safe_from_formulas(marketer, history):
    history.variants.filter(key="B").update(name="=HYPERLINK(evil)")

    response = marketer.get(reverse("analytics:experiment", args=[history.pk]), {"format": "csv"})

    rows = csv_rows(response)
    assert rows[0][:4] == ["Variant", "Control", "Assigned", "Converted"]
    assert rows[1][:8] == ["A", "True", "10", "4", "0.4000", "0.1682", "0.6873", ""]
    assert rows[2][0] == "'=HYPERLINK(evil)"
    assert rows[2][7:10] == ["0.2000", "0.3711", "0.8026"]
    assert rows[1][-2:] == ["1200.50", "120.05"]


def test_a_marketer_declares_the_winner_from_the_page(marketer, history, quote_form):
    winner = history.variants.get(key="A")
    url = reverse("analytics:experiment_change", args=[history.pk, "winner"])

    response = marketer.post(url, {"variant": winner.pk}, follow=True)

    assert "Variant A won" in response.content.decode()
    history.refresh_from_db()
    assert (history.status, history.winner, history.decided_by) == ("decided", winner, "mona")
    quote_form.refresh_from_db()
    assert quote_form.definition["title"] == HEADLINE_A


def test_a_refused_change_says_why_and_a_bad_variant_is_an_error_not_a_crash(marketer, history):
    start = reverse("analytics:experiment_change", args=[history.pk, "start"])
    assert "A running test cannot start" in marketer.post(start, follow=True).content.decode()
    winner = reverse("analytics:experiment_change", args=[history.pk, "winner"])
    response = marketer.post(winner, {"variant": "nope"}, follow=True)
    assert "Choose one of this test&#x27;s variants" in response.content.decode()
    stop = reverse("analytics:experiment_change", args=[history.pk, "stop"])
    marketer.post(stop)
    history.refresh_from_db()
    assert history.status == ExperimentStatus.STOPPED


def test_a_rep_sees_the_results_but_cannot_change_the_test(client, history):
    client.force_login(person("rita", Role.REP))

    page = client.get(reverse("analytics:experiment", args=[history.pk])).content.decode()
    response = client.post(reverse("analytics:experiment_change", args=[history.pk, "stop"]))

    assert "Declare winner" not in page
    assert response.status_code == 403
    history.refresh_from_db()
    assert history.status == ExperimentStatus.RUNNING


def test_the_api_answers_every_figure(marketer, history):
    [listed] = marketer.get("/api/v1/analytics/experiments").json()
    one = marketer.get(f"/api/v1/analytics/experiments/{history.pk}").json()

    assert listed == one
    assert (one["status"], one["leader"], one["metric"]) == ("running", "A", "sql")
    control, variant = one["variants"]
    assert (control["assigned"], control["converted"]["count"], control["revenue"]) == (
        10,
        4,
        "1200.50",
    )
    assert variant["converted"]["against_control"]["p_value"] == pytest.approx(0.3711, abs=1e-4)
    assert variant["form_version"] == 2
    assert len(one["warnings"]) == 4
    assert marketer.get("/api/v1/analytics/experiments/999").status_code == 404


def test_the_api_wants_a_session(client, history):
    assert client.get("/api/v1/analytics/experiments").status_code == 401


def test_a_test_is_made_in_the_back_office_with_its_variants(client, quote_form):
    admin_user = get_user_model().objects.create_superuser("ada", "ada@team.example", "pw")
    client.force_login(admin_user)
    with_second_version(quote_form)
    v1, v2 = quote_form.versions.get(number=1), quote_form.versions.get(number=2)
    prefix = "variants"
    data = {
        "name": "Headline",
        "kind": "form",
        "form": quote_form.pk,
        "metric": "sql",
        "min_sample": 200,
        f"{prefix}-TOTAL_FORMS": 2,
        f"{prefix}-INITIAL_FORMS": 0,
        f"{prefix}-0-key": "A",
        f"{prefix}-0-is_control": "on",
        f"{prefix}-0-weight": 1,
        f"{prefix}-0-form_version": v1.pk,
        f"{prefix}-1-key": "B",
        f"{prefix}-1-weight": 1,
        f"{prefix}-1-form_version": v2.pk,
    }

    response = client.post(reverse("admin:analytics_experiment_add"), data)

    assert response.status_code == 302, response.content.decode()[:3000]
    experiment = Experiment.objects.get()
    assert [v.key for v in experiment.variants.all()] == ["A", "B"]
    experiments.start(experiment)
