"""Predictive scoring: the model learns the known propensity of the demo's generated history
(leadloop/demo/synthetic.py), stores its metrics, falls back to the rules without enough
outcomes, explains each lead exactly, and never learns from the outcome or what came after
it."""

import io
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone

from leadloop.bench.training import labelled_history, oracle_auc
from leadloop.core import services as core
from leadloop.core.models import Event, Lead
from leadloop.demo import synthetic
from leadloop.scoring import predictive
from leadloop.scoring.models import ScoringModel, ScoringRule

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("scoring", *args, stdout=out)
    return out.getvalue()


def labelled(count: int, seed: int = 1) -> dict[str, float]:
    """Load a history with `count` decided leads; their true propensities by email."""
    dataset, truth = labelled_history(count, seed)
    synthetic.load(dataset)
    return truth


def test_the_model_comes_close_to_the_true_propensity_and_stores_its_metrics():
    """On a few thousand leads the model ranks them within 0.03 AUC of the generator's true
    propensity, itself well above chance: what it learns is the history's real structure."""
    truth = labelled(5000, seed=3)

    model = predictive.train(seed=3)

    oracle = oracle_auc(truth, seed=3)
    stored = ScoringModel.objects.get()
    assert stored.pk == model.pk and stored.version == 1 and not stored.is_active
    assert stored.trained_on == 5000 and stored.estimator
    assert oracle > 0.75
    assert oracle - 0.03 < stored.metrics["auc"] < oracle + 0.03
    assert 0 < stored.metrics["brier"] < 0.2
    lift = stored.metrics["lift"]
    assert [row["decile"] for row in lift] == list(range(1, 11))
    assert sum(row["leads"] for row in lift) == stored.metrics["hold_out"] == 1250
    assert lift[0]["lift"] > 2.5 and lift[-1]["lift"] < 0.3
    assert {"pricing visits (log count)", "free_mail", "industry=residential"} <= set(
        stored.features
    )


@pytest.mark.slow
def test_with_more_leads_the_model_comes_closer_to_the_true_propensity():
    truth = labelled(20_000, seed=4)

    model = predictive.train(seed=4)

    assert abs(model.metrics["auc"] - oracle_auc(truth, seed=4)) < 0.02


def test_too_few_outcomes_train_no_model_and_the_rules_decide():
    labelled(50)

    assert predictive.train(min_outcomes=200) is None
    assert not ScoringModel.objects.exists()
    assert "the rules decide" in run("train", "--min-outcomes", "200")
    assert "No active model: the rules decide." in run("report")


def test_outcomes_of_one_class_train_no_model():
    for i in range(30):
        lead = Lead.objects.create(first_name=f"Lost{i}")
        core.record_event(lead, "deal.lost", {"closed_at": timezone.now().isoformat()})

    with pytest.raises(predictive.NotTrained, match="one class"):
        predictive.train_or_explain(min_outcomes=10)
    assert predictive.train(min_outcomes=10) is None


def test_one_model_is_active_at_a_time():
    labelled(300)
    first, second = predictive.train(), predictive.train()
    assert (first.version, second.version) == (1, 2)

    predictive.activate(1)
    predictive.activate(2)
    predictive.activate(2)

    assert list(ScoringModel.objects.filter(is_active=True).values_list("version", flat=True)) == [
        2
    ]
    assert predictive.active_model().version == 2


def test_predict_sets_a_probability_and_exact_linear_drivers(time_machine):
    # Open deals are seen as of now: the clock stands still, so both reads see the same now.
    time_machine.move_to(timezone.now(), tick=False)
    labelled(500, seed=5)
    model = predictive.train(seed=5)
    lead_ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True)[:50])
    marked = Lead.objects.get(pk=lead_ids[0])
    marked.score_drivers = [{"rule": "Big company", "group": "fit", "points": 20, "detail": "x"}]
    marked.save()
    run("activate", str(model.version))

    leads = list(Lead.objects.select_related("source").filter(pk__in=lead_ids))
    predictions = predictive.predict(leads)
    estimator, _ = predictive._load(model)
    linear = estimator.calibrated_classifiers_[0].estimator
    logits = linear.decision_function(predictive.features(leads, names=model.features).matrix)
    for lead, logit in zip(leads, logits, strict=True):
        prediction = predictions[lead.pk]
        assert 0 <= prediction.probability <= 1
        total = prediction.intercept + sum(prediction.contributions.values())
        assert total == pytest.approx(logit, abs=1e-9) == prediction.logit

    marked.refresh_from_db()
    assert 0 <= marked.conversion_probability <= 1
    assert marked.score_drivers[0]["rule"] == "Big company"
    drivers = [d for d in marked.score_drivers if d["group"] == "model"]
    assert 0 < len(drivers) <= 5
    assert all(d["rule"].startswith("model: ") for d in drivers)
    weights = [abs(d["weight"]) for d in drivers]
    assert weights == sorted(weights, reverse=True)


def test_the_outcome_and_what_follows_it_are_not_features():
    ScoringRule.objects.create(
        name="Replies",
        group="engagement",
        points=5,
        per_event={"event": "email.replied"},
        decays=False,
    )
    closed = timezone.now() - timedelta(days=10)
    lead = Lead.objects.create(first_name="Ada", custom_fields={"budget": "10k"})
    for days in (30, 20, 12):
        core.record_event(lead, "email.replied", occurred_at=closed - timedelta(days=days))
        core.record_event(
            lead, "page.viewed", {"path": "/pricing"}, occurred_at=closed - timedelta(days=days)
        )
    lead = Lead.objects.select_related("source").get(pk=lead.pk)
    before = predictive.features([lead], now=closed)

    for hours in (1, 5):
        core.record_event(lead, "email.replied", occurred_at=closed + timedelta(hours=hours))
    core.record_event(lead, "deal.won", {"revenue": "900.00", "closed_at": closed.isoformat()})
    after = predictive.features([lead], names=before.names)

    assert predictive.outcomes([lead.pk])[lead.pk].won
    np.testing.assert_array_equal(before.matrix, after.matrix)
    row = dict(zip(before.names, before.matrix[0], strict=True))
    assert row["score_engagement"] == 15 and row["days since last event"] == 12


def test_the_calibration_report_puts_rules_and_model_side_by_side():
    labelled(500, seed=7)
    won = Event.objects.filter(type="deal.won").count()
    revenue = sum(
        float(data.get("revenue") or 0)
        for data in Event.objects.filter(type="deal.won").values_list("data", flat=True)
    )
    run("train", "--min-outcomes", "100", "--activate")

    report = predictive.calibration_report()

    assert report["leads"] == 500 and report["model_version"] == 1
    assert report["base_rate"] == pytest.approx(won / 500)
    assert report["revenue"] == pytest.approx(revenue, abs=0.01)
    for side in ("rules", "model"):
        table = report[side]
        assert [row["decile"] for row in table] == list(range(1, 11))
        assert sum(row["leads"] for row in table) == 500
        assert sum(row["won"] for row in table) == won
    printed = run("report")
    assert "Active model v1" in printed and "rules: rate" in printed and "model: rate" in printed


def test_the_scheduled_retrain_waits_for_age_and_new_outcomes(settings):
    settings.LEADLOOP_RETRAIN_DAYS = 7
    assert predictive.retrain_if_due() == 0  # no active model: the rules decide
    labelled(300)
    model = predictive.activate(predictive.train().version)
    assert predictive.retrain_if_due() == 0  # too new

    ScoringModel.objects.filter(pk=model.pk).update(created_at=timezone.now() - timedelta(days=8))
    assert predictive.retrain_if_due() == 0  # old, but no new outcomes

    ScoringModel.objects.filter(pk=model.pk).update(trained_on=300 - 50)
    assert predictive.retrain_if_due() == 1
    assert ScoringModel.objects.count() == 2
    assert ScoringModel.objects.get(is_active=True).version in (1, 2)


def test_the_admin_says_the_rules_decide_while_no_model_is_active(admin_client):
    page = admin_client.get("/admin/scoring/scoringmodel/").content.decode()

    assert "No active model: the rules decide." in page
