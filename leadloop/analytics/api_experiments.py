"""The A/B tests as JSON: GET /api/v1/analytics/experiments and /experiments/{id} (with the
results per variant, the comparison with the control and the warnings)."""

from datetime import datetime
from decimal import Decimal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema

from leadloop.analytics import experiments

router = Router(tags=["measure"])


class ComparisonOut(Schema):
    difference: float
    low: float
    high: float
    p_value: float
    probability_to_beat: float


class RateOut(Schema):
    count: int
    of: int
    rate: float
    low: float
    high: float
    against_control: ComparisonOut | None


class VariantOut(Schema):
    id: int
    key: str
    name: str
    is_control: bool
    weight: int
    form_version: int | None
    subject: str
    assigned: int
    converted: RateOut
    sql: RateOut
    won: RateOut
    revenue: Decimal
    revenue_per_assigned: Decimal
    revenue_difference: Decimal | None


class ExperimentOut(Schema):
    id: int
    name: str
    kind: str
    form: str | None
    workflow: str | None
    step_label: str
    status: str
    metric: str
    min_sample: int
    started_at: datetime | None
    decided_at: datetime | None
    winner: str | None
    leader: str | None
    warnings: list[str]
    variants: list[VariantOut]


def _out(report: experiments.Results) -> dict:
    e = report.experiment
    return {
        "id": e.pk,
        "name": e.name,
        "kind": e.kind,
        "form": e.form.slug if e.form else None,
        "workflow": e.workflow.name if e.workflow else None,
        "step_label": e.step_label,
        "status": e.status,
        "metric": e.metric,
        "min_sample": e.min_sample,
        "started_at": e.started_at,
        "decided_at": e.decided_at,
        "winner": e.winner.key if e.winner else None,
        "leader": report.leader.key if report.leader else None,
        "warnings": report.warnings,
        "variants": [_variant(row) for row in report.variants],
    }


def _variant(row: experiments.VariantResult) -> dict:
    v = row.variant
    return {
        "id": v.pk,
        "key": v.key,
        "name": v.name,
        "is_control": v.is_control,
        "weight": v.weight,
        "form_version": v.form_version.number if v.form_version else None,
        "subject": v.subject,
        "assigned": row.assigned,
        "converted": row.converted,
        "sql": row.sql,
        "won": row.won,
        "revenue": row.revenue,
        "revenue_per_assigned": row.revenue_per_assigned,
        "revenue_difference": row.revenue_difference,
    }


@router.get("/experiments", response=list[ExperimentOut], summary="The A/B tests and results")
def list_experiments(request: HttpRequest):
    return [_out(experiments.report(e)) for e in experiments.experiments_listed()]


@router.get(
    "/experiments/{experiment_id}",
    response=ExperimentOut,
    summary="One A/B test: each variant's rates with 95% intervals against the control",
)
def get_experiment(request: HttpRequest, experiment_id: int):
    experiment = get_object_or_404(experiments.experiments_listed(), pk=experiment_id)
    return _out(experiments.report(experiment))
