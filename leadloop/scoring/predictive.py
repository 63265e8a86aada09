"""Predictive scoring: a model trained on the leads whose outcome is known (a "deal.won" or
"deal.lost" on their timeline) that gives every lead a calibrated probability of converting,
with the features that moved it most.

The model is linear on purpose: a standardised logistic regression, wrapped in a calibrator.
For a linear model the per-lead drivers are exact, not estimated: each feature adds
coefficient x standardised value to the log-odds, and those contributions plus the intercept
are the model's logit. The calibrator (isotonic or sigmoid) is a monotone map of that logit,
so it changes the probabilities but never the order of leads, and the drivers still explain
the ranking. With `ensemble=False` the calibrator wraps one logistic model fitted on the whole
training split, so there is one set of coefficients to explain from.

No leakage: a lead's features are what was known before its outcome. The outcome events are
never features, nor any event after the outcome's `closed_at`, and the rule scores are
computed again over that same cut timeline rather than read from the lead (whose stored
scores may count later events).

Without an active model, or with too few outcomes to train one, the rules decide.
"""

import io
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import joblib
import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from leadloop.core.models import LOST, WON, Channel, Event, Lead, Quality
from leadloop.scoring.engine import ReadRule, score_lead
from leadloop.scoring.models import ScoringModel, ScoringRule, StageDefinitions
from leadloop.scoring.rescoring import LeadRow, read_leads_by_id
from leadloop.scoring.services import TimelineEvent, read_timelines

logger = logging.getLogger(__name__)

OUTCOMES = (WON, LOST)
CHUNK = 2000  # leads per events query: bounded IN lists, bounded memory
HOLD_OUT = 0.25
TOP_DRIVERS = 5
# One-hot columns for only the most common values: rare values would each get a coefficient
# fitted on a handful of leads.
TOP_VALUES = 12
# Isotonic calibration is a free-form step function: it needs many outcomes not to overfit.
ISOTONIC_FROM = 1000
RETRAIN_MIN_NEW_OUTCOMES = 50
NO_EVENTS_DAYS = 365.0  # "days since last event" for a lead with an empty timeline
BANT = ("budget", "authority", "need", "timeline")
CATEGORIES = ("industry", "role", "country")
COUNTED = ("page.viewed", "email.opened", "email.clicked", "email.replied", "webinar.attended")
NUMERIC = (
    "company_size (log)",
    *(f"{name} given" for name in BANT),
    *(f"{kind} (log count)" for kind in COUNTED),
    "pricing visits (log count)",
    "form.submitted (log count)",
    "days since last event",
    "free_mail",
    "score_fit",
    "score_engagement",
    "score_intent",
    *(f"channel={channel}" for channel in Channel.values),
    *(f"quality={quality}" for quality in Quality.values),
)


class NotTrained(Exception):
    """Why no model was trained (the rules go on deciding)."""


@dataclass(frozen=True)
class Outcome:
    won: bool
    closed_at: datetime
    revenue: float


@dataclass
class Features:
    names: list[str]
    matrix: np.ndarray  # one row per lead, in the order the leads were given


@dataclass
class Prediction:
    probability: float  # calibrated
    logit: float  # the inner logistic model's: intercept + sum(contributions)
    intercept: float
    contributions: dict[str, float]  # every feature's coefficient x standardised value

    def drivers(self, top: int = TOP_DRIVERS) -> list[dict]:
        largest = sorted(self.contributions.items(), key=lambda item: -abs(item[1]))[:top]
        return [
            {"rule": f"model: {name}", "group": "model", "weight": round(weight, 4)}
            for name, weight in largest
            if weight
        ]


# Features ------------------------------------------------------------------------------------


def outcomes(lead_ids: Iterable[int] | None = None) -> dict[int, Outcome]:
    """Each lead's known outcome: its latest "deal.won" or "deal.lost" by close date."""
    found = Event.objects.filter(type__in=OUTCOMES).values_list(
        "lead_id", "type", "occurred_at", "data"
    )
    if lead_ids is None:
        rows = found.iterator(chunk_size=10_000)
    else:
        ids = list(lead_ids)  # a chunk per query: SQLite caps the parameters of one
        rows = (
            row
            for start in range(0, len(ids), CHUNK)
            for row in found.filter(lead_id__in=ids[start : start + CHUNK])
        )
    known: dict[int, Outcome] = {}
    for lead_id, kind, occurred_at, data in rows:
        outcome = Outcome(
            won=kind == WON, closed_at=_closed_at(data, occurred_at), revenue=_revenue(data)
        )
        if lead_id not in known or outcome.closed_at >= known[lead_id].closed_at:
            known[lead_id] = outcome
    return known


def _closed_at(data: dict, occurred_at: datetime) -> datetime:
    closed = parse_datetime(str(data.get("closed_at") or "")) if data else None
    if closed is None:
        return occurred_at
    return closed if timezone.is_aware(closed) else closed.replace(tzinfo=UTC)


def _revenue(data: dict) -> float:
    try:
        return float(data.get("revenue") or 0)
    except (TypeError, ValueError):
        return 0.0


def features(
    leads: Sequence[Lead],
    names: list[str] | None = None,
    known: dict[int, Outcome] | None = None,
    now: datetime | None = None,
) -> Features:
    """The numeric matrix of these leads. `names` fixes the columns (a trained model's); without
    it they are the fixed columns plus one-hot columns for the most common values among these
    leads. Each lead is seen as of its outcome's close (from `known`, read when not given), or
    `now` when it has none."""
    now = now or timezone.now()
    known = outcomes(lead.pk for lead in leads) if known is None else known
    rules, half_life = _rules()
    rows = []
    for start in range(0, len(leads), CHUNK):
        chunk = leads[start : start + CHUNK]
        timelines = _timelines([lead.pk for lead in chunk])
        for lead in chunk:
            outcome = known.get(lead.pk)
            as_of = outcome.closed_at if outcome else now
            events = [e for e in timelines.get(lead.pk, ()) if e.occurred_at <= as_of]
            rows.append(_lead_features(lead, events, as_of, rules, half_life))
    names = names if names is not None else _names(rows)
    column = {name: i for i, name in enumerate(names)}
    matrix = np.zeros((len(rows), len(names)))
    for i, row in enumerate(rows):
        for name, value in row.items():
            j = column.get(name)
            if j is not None:
                matrix[i, j] = value
    return Features(names=names, matrix=matrix)


def _timelines(lead_ids: list[int]) -> dict[int, list[TimelineEvent]]:
    """The timelines of these leads in one query, without outcome events, oldest first."""
    return {
        lead_id: [event for event in events if event.type not in OUTCOMES]
        for lead_id, events in read_timelines(lead_ids=lead_ids).items()
    }


def _rules() -> tuple[list[ReadRule], int]:
    rules = [ReadRule.of(rule) for rule in ScoringRule.objects.filter(is_active=True)]
    return rules, StageDefinitions.current().half_life_days


def _lead_features(
    lead: Lead,
    events: list[TimelineEvent],
    as_of: datetime,
    rules: list[ReadRule],
    half_life: int,
) -> dict[str, float]:
    fields = lead.custom_fields or {}
    row = {
        "company_size (log)": math.log1p(_number(fields.get("company_size"))),
        **{f"{name} given": float(_given(fields.get(name))) for name in BANT},
        "free_mail": float(bool((lead.quality_signals or {}).get("email", {}).get("free_mail"))),
        f"quality={lead.quality}": 1.0,
    }
    if lead.source_id:
        row[f"channel={lead.source.channel}"] = 1.0
    for name in CATEGORIES:
        value = _category(lead, name)
        if value:
            row[f"{name}={value}"] = 1.0
    counts: Counter[str] = Counter()
    for event in events:
        counts[event.type] += 1
        if event.type == "page.viewed" and event.data.get("path") == "/pricing":
            counts["pricing"] += 1
        elif event.type == "form.submitted" and event.data.get("kind"):
            row[f"form kind={event.data['kind']}"] = 1.0
    # Counts enter as log(1 + n): the tenth email open says less than the first.
    for kind in COUNTED:
        row[f"{kind} (log count)"] = math.log1p(counts[kind])
    row["pricing visits (log count)"] = math.log1p(counts["pricing"])
    row["form.submitted (log count)"] = math.log1p(counts["form.submitted"])
    last = events[-1].occurred_at if events else None
    row["days since last event"] = (
        min(NO_EVENTS_DAYS, (as_of - last).total_seconds() / 86_400) if last else NO_EVENTS_DAYS
    )
    if rules:
        score = score_lead(lead, events, rules, half_life, as_of)
        row.update(score_fit=score.fit, score_engagement=score.engagement)
        row["score_intent"] = score.intent
    return row


def _number(value: object) -> float:
    """A size as people give it: 120, "120", "11-50" (the range's lower end), "1,000+"."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0.0, float(value))
    found = re.search(r"\d[\d,]*", str(value or ""))
    return float(found.group().replace(",", "")) if found else 0.0


def _given(value: object) -> bool:
    return value not in (None, "", [], {}, False)


def _category(lead: Lead, name: str) -> str:
    """A typed value first, else an enriched one (`{"value": ..., "source": ...}`)."""
    value = (lead.custom_fields or {}).get(name)
    if not _given(value):
        enriched = (lead.enrichment or {}).get(name)
        value = enriched.get("value") if isinstance(enriched, dict) else None
    return str(value).strip().lower()[:60] if _given(value) else ""


def _names(rows: list[dict[str, float]]) -> list[str]:
    seen: Counter[str] = Counter(name for row in rows for name in row if "=" in name)
    one_hot = []
    for prefix in (*(f"{name}=" for name in CATEGORIES), "form kind="):
        common = [name for name, _ in seen.most_common() if name.startswith(prefix)]
        one_hot += sorted(common[:TOP_VALUES])
    return list(NUMERIC) + [name for name in one_hot if name not in NUMERIC]


# Training ------------------------------------------------------------------------------------


def labelled_leads() -> tuple[list[LeadRow], dict[int, Outcome]]:
    """The leads with a known outcome (merged-away leads excluded: their history moved), in
    pk order, read as rows: model instances were a third of training's time."""
    known = outcomes()
    return read_leads_by_id(list(_labelled().values_list("pk", flat=True))), known


def _labelled() -> QuerySet[Lead]:
    return Lead.objects.filter(
        pk__in=Event.objects.filter(type__in=OUTCOMES).values("lead_id"), merged_at__isnull=True
    )


def train(min_outcomes: int = 200, seed: int = 1) -> ScoringModel | None:
    """Train a new model version on the leads with a known outcome and store it (inactive).
    Returns None, and logs why, when there is not enough to learn from: the rules decide."""
    try:
        return train_or_explain(min_outcomes, seed)
    except NotTrained as why:
        logger.warning("no model trained: %s", why)
        return None


def train_or_explain(min_outcomes: int = 200, seed: int = 1) -> ScoringModel:
    """`train`, raising NotTrained with the reason instead of returning None (for the CLI)."""
    leads, known = labelled_leads()
    labels = np.array([known[lead.pk].won for lead in leads], dtype=int)
    if len(leads) < min_outcomes:
        raise NotTrained(f"{len(leads)} leads with a known outcome; {min_outcomes} needed")
    wins = int(labels.sum())
    if min(wins, len(labels) - wins) < 2:
        raise NotTrained(f"the outcomes are all one class ({wins} won of {len(labels)})")
    table = features(leads, known=known)
    revenue = np.array([known[lead.pk].revenue for lead in leads])
    train_rows, test_rows = hold_out_split(labels, seed)
    train_x, train_y = table.matrix[train_rows], labels[train_rows]
    test_x, test_y, test_revenue = table.matrix[test_rows], labels[test_rows], revenue[test_rows]
    estimator = _estimator(len(train_y), int(min(train_y.sum(), len(train_y) - train_y.sum())))
    estimator.fit(train_x, train_y)
    scores = estimator.predict_proba(test_x)[:, 1]
    metrics = {
        "auc": float(roc_auc_score(test_y, scores)),
        "brier": float(brier_score_loss(test_y, scores)),
        "base_rate": float(test_y.mean()),
        "hold_out": len(test_y),
        "calibration": estimator.method,
        "lift": lift_table(scores, test_y, test_revenue),
    }
    buffer = io.BytesIO()
    joblib.dump({"estimator": estimator, "features": table.names}, buffer)
    with transaction.atomic():
        latest = ScoringModel.objects.aggregate(v=Max("version"))["v"] or 0
        return ScoringModel.objects.create(
            version=latest + 1,
            trained_on=len(leads),
            features=table.names,
            metrics=metrics,
            estimator=buffer.getvalue(),
        )


def hold_out_split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The training and hold-out rows (stratified, 25% held out) of the labelled leads in
    `labelled_leads()` order; the benchmark and tests score the true propensity on the same
    hold-out."""
    return train_test_split(
        np.arange(len(labels)), test_size=HOLD_OUT, stratify=labels, random_state=seed
    )


def _estimator(size: int, minority: int) -> CalibratedClassifierCV:
    linear = Pipeline(
        [
            ("scale", StandardScaler()),
            ("logistic", LogisticRegression(max_iter=1000)),
        ]
    )
    method = "isotonic" if size >= ISOTONIC_FROM else "sigmoid"
    # ensemble=False: one logistic model fitted on all the training rows, calibrated on
    # cross-validated predictions, so there is one set of coefficients to explain.
    folds = max(2, min(5, minority))
    return CalibratedClassifierCV(linear, method=method, cv=folds, ensemble=False)


def lift_table(scores: np.ndarray, won: np.ndarray, revenue: np.ndarray) -> list[dict]:
    """Conversion and revenue by decile of `scores` (decile 1 the highest), with lift: the
    decile's conversion rate over the base rate. Tied scores (the rules' points often tie) keep
    the leads' order, so a decile boundary may split a tie."""
    order = np.argsort(-scores, kind="stable")
    base = float(won.mean()) if len(won) else 0.0
    table = []
    for decile, part in enumerate(np.array_split(order, 10), start=1):
        rate = float(won[part].mean()) if len(part) else 0.0
        table.append(
            {
                "decile": decile,
                "leads": len(part),
                "won": int(won[part].sum()),
                "rate": rate,
                "revenue": round(float(revenue[part].sum()), 2),
                "mean_score": float(scores[part].mean()) if len(part) else 0.0,
                "lift": rate / base if base else 0.0,
            }
        )
    return table


# Using a model -------------------------------------------------------------------------------


def activate(version: int) -> ScoringModel:
    """Make this version the one that predicts (and no other)."""
    with transaction.atomic():
        model = ScoringModel.objects.select_for_update().get(version=version)
        ScoringModel.objects.filter(is_active=True).exclude(pk=model.pk).update(is_active=False)
        ScoringModel.objects.filter(pk=model.pk).update(is_active=True)
    model.is_active = True
    return model


def active_model() -> ScoringModel | None:
    return ScoringModel.objects.filter(is_active=True).first()


def _load(model: ScoringModel) -> tuple[CalibratedClassifierCV, list[str]]:
    stored = joblib.load(io.BytesIO(bytes(model.estimator)))
    return stored["estimator"], stored["features"]


def predict(leads: Sequence[Lead], model: ScoringModel | None = None) -> dict[int, Prediction]:
    """Each lead's calibrated probability and exact linear drivers, by the given model or the
    active one; empty when there is none (the rules decide)."""
    model = model or active_model()
    if model is None or not leads:
        return {}
    estimator, names = _load(model)
    table = features(leads, names=names)
    probabilities = estimator.predict_proba(table.matrix)[:, 1]
    linear = estimator.calibrated_classifiers_[0].estimator
    scaler, logistic = linear.named_steps["scale"], linear.named_steps["logistic"]
    contributions = scaler.transform(table.matrix) * logistic.coef_[0]
    intercept = float(logistic.intercept_[0])
    return {
        lead.pk: Prediction(
            probability=float(probabilities[i]),
            logit=intercept + float(contributions[i].sum()),
            intercept=intercept,
            contributions=dict(zip(names, contributions[i].tolist(), strict=True)),
        )
        for i, lead in enumerate(leads)
    }


def apply(leads: Sequence[Lead], model: ScoringModel | None = None) -> int:
    """Store the model's probability on each lead, and its top drivers among the rules' ones
    in `score_drivers` (entries with "group": "model" and "weight": the log-odds the feature
    added). Returns how many leads were updated."""
    predictions = predict(leads, model)
    changed = []
    for lead in leads:
        prediction = predictions.get(lead.pk)
        if prediction is None:
            continue
        rules = [d for d in lead.score_drivers or [] if d.get("group") != "model"]
        lead.conversion_probability = prediction.probability
        lead.score_drivers = rules + prediction.drivers()
        changed.append(lead)
    Lead.objects.bulk_update(changed, ["conversion_probability", "score_drivers"], batch_size=CHUNK)
    return len(changed)


def apply_all(model: ScoringModel | None = None) -> int:
    """Predict every lead not merged away, a chunk at a time."""
    model = model or active_model()
    if model is None:
        return 0
    done, last = 0, 0
    while True:
        chunk = list(
            Lead.objects.select_related("source")
            .filter(pk__gt=last, merged_at__isnull=True)
            .order_by("pk")[:CHUNK]
        )
        if not chunk:
            return done
        done += apply(chunk, model)
        last = chunk[-1].pk


# Reporting and retraining --------------------------------------------------------------------


def calibration_report(model: ScoringModel | None = None) -> dict:
    """ "Did the scoring model correctly predict which leads became revenue?": on the leads with
    a known outcome, conversion and revenue by decile of the rules' total score and of the
    model's probability, side by side. The model column is in-sample for the leads it trained
    on; the stored hold-out lift table is the out-of-sample figure."""
    leads, known = labelled_leads()
    won = np.array([known[lead.pk].won for lead in leads], dtype=int)
    revenue = np.array([known[lead.pk].revenue for lead in leads])
    report = {
        "leads": len(leads),
        "base_rate": float(won.mean()) if len(won) else 0.0,
        "revenue": round(float(revenue.sum()), 2),
        "rules": lift_table(np.array([lead.score for lead in leads], float), won, revenue),
        "model": None,
        "model_version": None,
    }
    model = model or active_model()
    if model is not None and leads:
        predictions = predict(leads, model)
        probability = np.array([predictions[lead.pk].probability for lead in leads])
        report["model"] = lift_table(probability, won, revenue)
        report["model_version"] = model.version
    return report


def retrain_if_due() -> int:
    """The scheduled retrain (a durable sweep): when the active model is older than
    LEADLOOP_RETRAIN_DAYS and at least 50 outcomes are known beyond those it trained on, train
    a new version and make it the active one if its hold-out AUC is not clearly worse.
    Without an active model nothing happens: the rules decide until a person picks a model.
    Returns 1 when it trained, else 0."""
    current = active_model()
    if current is None:
        return 0
    age = timedelta(days=getattr(settings, "LEADLOOP_RETRAIN_DAYS", 7))
    if timezone.now() - current.created_at < age:
        return 0
    # Counted against `trained_on` rather than by event time, so outcomes imported with an old
    # close date count as new too.
    if _labelled().count() - current.trained_on < RETRAIN_MIN_NEW_OUTCOMES:
        return 0
    model = train()
    if model is None:
        return 0
    if model.metrics["auc"] >= current.metrics.get("auc", 0) - 0.02:
        activate(model.version)
        apply_all(model)
    else:
        logger.warning("model v%s kept inactive: its AUC is below v%s's", model.version, current)
    return 1
