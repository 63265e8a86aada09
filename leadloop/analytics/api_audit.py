"""The system audit as JSON: GET /api/v1/analytics/audit."""

from datetime import datetime

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema
from ninja.errors import HttpError

from leadloop.analytics import audit
from leadloop.crm import access

router = Router(tags=["measure"])


class AnsweredOut(Schema):
    reply: str
    note: str
    answered_by: str | None
    answered_at: datetime


class ItemOut(Schema):
    key: str
    question: str
    asks_the_user: bool
    state: str  # pass | warn | fail | unknown (no data to judge) | ask (not answered yet)
    figure: str
    answer: str
    fix_url: str
    answered: AnsweredOut | None


class LayerOut(Schema):
    name: str
    items: list[ItemOut]


class AuditOut(Schema):
    as_of: datetime
    counts: dict[str, int]
    weakest_layer: str | None
    layers: list[LayerOut]


def _answered(item: audit.Item) -> dict | None:
    latest = item.latest
    if latest is None:
        return None
    who = latest.answered_by.get_username() if latest.answered_by else None
    return {"reply": latest.reply, "note": latest.note, "answered_by": who,
            "answered_at": latest.answered_at}  # fmt: skip


@router.get("audit", response=AuditOut)
def system_audit(request: HttpRequest) -> dict:
    """Seed 000's audit questions by layer, answered from the last 30 days' records (or by a
    person, where the records cannot tell), each pass, warn or fail with where to fix it."""
    if access.role_of(request.user) is None:
        raise HttpError(403, "Your account has no role in the workspace.")
    result = audit.run(timezone.now())
    weakest = result.weakest
    return {
        "as_of": result.as_of,
        "counts": {state: result.counts[state] for state in audit.STATES},
        "weakest_layer": weakest.name if weakest else None,
        "layers": [
            {
                "name": layer.name,
                "items": [
                    {
                        "key": item.question.key,
                        "question": item.question.text,
                        "asks_the_user": item.question.asks_the_user,
                        "state": item.state,
                        "figure": item.figure,
                        "answer": item.answer,
                        "fix_url": item.fix_url,
                        "answered": _answered(item),
                    }
                    for item in layer.items
                ],
            }
            for layer in result.layers
        ],
    }
