"""The attribution report as JSON: GET /api/v1/analytics/attribution."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field, model_validator

from leadloop.analytics import attribution
from leadloop.analytics.views.common import owner_in_view
from leadloop.crm import access

router = Router(tags=["measure"])


class AttributionQuery(Schema):
    by: Literal["channel", "campaign"] = "channel"
    start: date | None = None
    end: date | None = None
    source: int | None = None
    campaign: str = Field(default="", max_length=200)
    owner: int | None = None
    half_life_days: float = Field(default=7, gt=0, le=365)

    @model_validator(mode="after")
    def start_before_end(self) -> "AttributionQuery":
        if self.start and self.end and self.start > self.end:
            raise ValueError("end comes before start")
        return self


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
    by: str
    start: date
    end: date
    conversions: int
    revenue: Decimal
    half_life_days: float
    models: dict[str, str]
    rows: list[RowOut]


@router.get("attribution", response=AttributionOut)
def attribution_report(request: HttpRequest, query: Query[AttributionQuery]) -> dict:
    """Customers and revenue won in the period, credited per channel (or channel and campaign)
    under first touch, last touch, linear, position-based (40/20/40) and time decay."""
    if access.role_of(request.user) is None:
        raise HttpError(403, "Your account has no role in the workspace.")
    start, end = attribution.period(query.start, query.end, timezone.localdate())
    leads = attribution.leads_in_scope(
        owner_id=owner_in_view(request.user, query.owner),
        source_id=query.source,
        campaign=query.campaign,
    )
    report = attribution.attribute(
        leads, start, end, query.by, timedelta(days=query.half_life_days)
    )
    return {
        "by": report.by,
        "start": start.date(),
        "end": (end - timedelta(days=1)).date(),
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
