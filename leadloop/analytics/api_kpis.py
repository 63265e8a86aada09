"""The KPI dashboard, the funnel and the spend table as JSON, with the pages' own query
parameters (kpis.filters_from: period, start, end, source, campaign, form, owner):

- GET /api/v1/analytics/dashboard
- GET /api/v1/analytics/funnel?by=source|campaign
- GET /api/v1/analytics/spend?by=channel|campaign|source

Bad filters answer 400 with a message; a signed-in user with no role 403. A sales rep gets the
figures of their own leads whatever owner they ask for."""

from dataclasses import asdict, replace
from typing import Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router
from ninja.errors import HttpError

from leadloop.analytics import funnel, kpis
from leadloop.analytics.views.common import owner_in_view
from leadloop.crm import access

router = Router(tags=["measure"])


def _filters(request: HttpRequest) -> kpis.Filters:
    if access.role_of(request.user) is None:
        raise HttpError(403, "Your account has no role in the workspace.")
    try:
        filters = kpis.filters_from(request.GET, timezone.now().date())
    except ValueError as error:
        raise HttpError(400, str(error)) from None
    return replace(filters, owner_id=owner_in_view(request.user, filters.owner_id))


def _filters_out(filters: kpis.Filters) -> dict:
    return asdict(filters) | {"previous": asdict(filters.previous())}


@router.get("/dashboard", summary="Every KPI of seed 001's framework, with trend and target")
def dashboard(request: HttpRequest) -> dict:
    board = kpis.dashboard(_filters(request))
    out = asdict(board)
    out.pop("by_key")
    out["filters"] = _filters_out(board.filters)
    out["pipeline_now"] = [
        {"stage": stage, "label": label, "leads": count}
        for stage, label, count in board.pipeline_now
    ]
    for series in (
        "leads_by_day",
        "source_mix",
        "cpl_by_channel",
        "days_in_stage",
        "clv_by_source",
    ):
        out[series] = [list(pair) for pair in getattr(board, series)]
    return out


@router.get("/funnel", summary="Visitors to customers: conversion, median days, leaks")
def funnel_view(request: HttpRequest, by: Literal["source", "campaign"] | None = None) -> dict:
    filters = _filters(request)
    result = funnel.funnel(filters, by=by)
    return {
        "filters": _filters_out(filters),
        "steps": [asdict(step) for step in result.steps],
        "mql_to_sql": result.mql_to_sql,
        "stuck_past_sla": result.stuck_past_sla,
        "rows": [
            {"name": name, "steps": [asdict(s) for s in steps]} for name, steps in result.rows
        ],
    }


@router.get("/spend", summary="Spend, CPL, cost per SQL, CPA, close rate and ROMI side by side")
def spend(request: HttpRequest, by: Literal["channel", "campaign", "source"] = "channel") -> dict:
    filters = _filters(request)
    return {"filters": _filters_out(filters), "by": by, "rows": kpis.spend_table(filters, by)}
