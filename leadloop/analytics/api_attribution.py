"""The attribution report as JSON: GET /api/v1/analytics/attribution, with the dashboard's query
parameters (kpis.filters_from: period, start, end, source, campaign, form, owner) plus
`by=channel|campaign` and `half_life_days`.

Bad filters answer 400 with a message, a bad `by` or half-life 422; a signed-in user with no
role 403. A sales rep gets the credit of their own customers whatever owner they ask for."""

from dataclasses import asdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from leadloop.analytics import attribution, kpis
from leadloop.analytics.views.dashboard import filters_of
from leadloop.crm import access

router = Router(tags=["measure"])


class AttributionQuery(Schema):
    """The settings of the report itself; the filters are read as every measure page reads
    them."""

    by: Literal["channel", "campaign"] = "channel"
    half_life_days: float = Field(default=7, gt=0, le=365)


class FiltersOut(Schema):
    start: date
    end: date
    source_id: int | None
    campaign: str | None
    form: str | None
    owner_id: int | None


class CreditOut(Schema):
    customers: Decimal = Field(description="Customers credited, to two places")
    revenue: Decimal


class RowOut(Schema):
    channel: str
    campaign: str | None
    label: str
    credits: dict[str, CreditOut] = Field(
        description="By model: first, last, linear, position, decay"
    )


class AttributionOut(Schema):
    filters: FiltersOut
    by: str
    conversions: int
    revenue: Decimal
    half_life_days: float
    models: dict[str, str]
    rows: list[RowOut]


def _filters(request: HttpRequest) -> kpis.Filters:
    if access.role_of(request.user) is None:
        raise HttpError(403, "Your account has no role in the workspace.")
    try:
        return filters_of(request)
    except ValueError as problem:
        raise HttpError(400, str(problem)) from None


@router.get("attribution", response=AttributionOut)
def attribution_report(request: HttpRequest, query: Query[AttributionQuery]) -> dict:
    """Customers and revenue won in the period, credited per channel (or channel and campaign)
    under first touch, last touch, linear, position-based (40/20/40) and time decay."""
    filters = _filters(request)
    report = attribution.attribute(filters, query.by, timedelta(days=query.half_life_days))
    return {
        "filters": asdict(filters),
        "by": report.by,
        "conversions": report.conversions,
        "revenue": report.revenue,
        "half_life_days": report.half_life_days,
        "models": dict(report.models),
        "rows": [
            {
                "channel": row.channel,
                "campaign": row.campaign,
                "label": row.label,
                "credits": {
                    key: {"customers": c.customers_shown, "revenue": c.revenue}
                    for key, c in row.credits.items()
                },
            }
            for row in report.rows
        ],
    }
