"""Predictive scoring: the model learns the known propensity of a generated history, stores its
metrics, falls back to the rules without enough outcomes, explains each lead exactly, and never
learns from the outcome or what came after it."""

import io
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone
from sklearn.metrics import roc_auc_score

from leadloop.bench.training import history
from leadloop.core import services as core
from leadloop.core.models import Event, Lead
from leadloop.scoring import predictive
from leadloop.scoring.models import ScoringModel, ScoringRule

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("scoring", *args, stdout=out)
    return out.getvalue()


@pytest.mark.slow
def test_the_model_comes_close_to_the_true_propensity_and_stores_its_metrics():
    made = history(4000, seed=3)

    model = predictive.train(seed=3)

    _, test_rows = predictive.hold_out_split(made.won.astype(int), 3)
    oracle = roc_auc_score(made.won[test_rows], made.propensity[test_rows])
    stored = ScoringModel.objects.get()
    assert stored.pk == model.pk and stored.version == 1 and not stored.is_active
    assert stored.trained_on == 4000 and stored.estimator
    assert stored.metrics["auc"] > 0.65
    assert abs(stored.metrics["auc"] - oracle) < 0.05
    assert 0 < stored.metrics["brier"] < 0.25
    lift = stored.metrics["lift"]
    assert [row["decile"] for row in lift] == list(range(1, 11))
    assert sum(row["leads"] for row in lift) == stored.metrics["hold_out"] == 1000
    assert lift[0]["lift"] > 1.5 > lift[-1]["lift"]
    assert "pricing visits (log count)" in stored.features


def test_too_few_outcomes_train_no_model_and_the_rules_decide():
    history(50, events=False)

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
    history(400, events=False)
    first, second = predictive.train(), predictive.train()
    assert (first.version, second.version) == (1, 2)

    predictive.activate(1)
    predictive.activate(2)
    predictive.activate(2)

    assert list(ScoringModel.objects.filter(is_active=True).values_list("version", flat=True)) == [
        2
    ]
    assert predictive.active_model().version == 2


def test_predict_sets_a_probability_and_exact_linear_drivers():
    made = history(600, seed=5)
    model = predictive.train(seed=5)
    marked = Lead.objects.get(pk=made.lead_ids[0])
    marked.score_drivers = [{"rule": "Big company", "group": "fit", "points": 20, "detail": "x"}]
    marked.save()
    run("activate", str(model.version))

    leads = list(Lead.objects.select_related("source").filter(pk__in=made.lead_ids[:50]))
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
    made = history(500, seed=7)
    revenue = sum(
        float(data.get("revenue") or 0)
        for data in Event.objects.filter(type="deal.won").values_list("data", flat=True)
    )
    run("train", "--min-outcomes", "100", "--activate")

    report = predictive.calibration_report()

    assert report["leads"] == 500 and report["model_version"] == 1
    assert report["base_rate"] == pytest.approx(made.won.mean())
    assert report["revenue"] == pytest.approx(revenue, abs=0.01)
    for side in ("rules", "model"):
        table = report[side]
        assert [row["decile"] for row in table] == list(range(1, 11))
        assert sum(row["leads"] for row in table) == 500
        assert sum(row["won"] for row in table) == made.won.sum()
    printed = run("report")
    assert "Active model v1" in printed and "rules: rate" in printed and "model: rate" in printed


def test_the_scheduled_retrain_waits_for_age_and_new_outcomes(settings):
    settings.LEADLOOP_RETRAIN_DAYS = 7
    assert predictive.retrain_if_due() == 0  # no active model: the rules decide
    history(300, events=False)
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
