"""The small language of scoring rules and stage definitions, checked by pydantic so a broken
one is refused with its reason when saved or imported.

    {"fact": "custom_fields.company_size", "op": "gte", "value": 50}
    {"event": "form.submitted", "where": {"kind": "demo_request"}, "within_days": 14}
    {"all": [...]}, {"any": [...]}, {"not": {...}}

A fact is named as in `facts.py`; an event condition holds when the lead's timeline has at least
`at_least` events of that type whose data contains `where`, within the last `within_days`."""

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    model_validator,
)

from leadloop.core.facts import MISSING, fact
from leadloop.core.models import Event, Lead

Op = Literal[
    "equals", "not_equals", "in", "gte", "lte", "between", "contains", "starts_with", "filled",
    "empty",
]  # fmt: skip


class FactCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fact: str
    op: Op
    value: Any = None

    @model_validator(mode="after")
    def _range_has_two_ends(self) -> "FactCondition":
        if self.op == "between" and not (isinstance(self.value, list) and len(self.value) == 2):
            raise ValueError('"between" takes [low, high], both ends included')
        return self


class EventCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event: str
    where: dict[str, Any] = {}
    within_days: int | None = Field(default=None, ge=1, le=3650)
    at_least: int = Field(default=1, ge=1)


class AllOf(BaseModel):
    model_config = ConfigDict(extra="forbid")
    all: list["Condition"] = Field(min_length=1)


class AnyOf(BaseModel):
    model_config = ConfigDict(extra="forbid")
    any: list["Condition"] = Field(min_length=1)


class Not(BaseModel):
    model_config = ConfigDict(extra="forbid")
    not_: "Condition" = Field(alias="not")


def _kind(data: object) -> str:
    """Which form a condition takes, by its telling key, so a mistake is reported against that
    form alone rather than against every form it is not."""
    if isinstance(data, dict):
        for key in ("all", "any", "not", "event"):
            if key in data:
                return key
    return "fact"


Condition = Annotated[
    Annotated[FactCondition, Tag("fact")]
    | Annotated[EventCondition, Tag("event")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[Not, Tag("not")],
    Discriminator(_kind),
]
for model in (AllOf, AnyOf, Not):
    model.model_rebuild()
CONDITION = TypeAdapter(Condition)


def parse_condition(data: object) -> Condition:
    """The condition, or pydantic.ValidationError saying what is wrong with it."""
    return CONDITION.validate_python(data)


def reads_timeline(condition: Condition) -> bool:
    """Whether holding `condition` depends on the lead's events (so they must be read)."""
    if isinstance(condition, AllOf | AnyOf):
        return any(
            map(reads_timeline, condition.all if isinstance(condition, AllOf) else condition.any)
        )
    if isinstance(condition, Not):
        return reads_timeline(condition.not_)
    return isinstance(condition, EventCondition)


def matches(event: Event, event_type: str, where: dict) -> bool:
    return event.type == event_type and all(event.data.get(k) == v for k, v in where.items())


def holds(condition: Condition, lead: Lead, events: list[Event], now: datetime) -> bool:
    if isinstance(condition, AllOf):
        return all(holds(c, lead, events, now) for c in condition.all)
    if isinstance(condition, AnyOf):
        return any(holds(c, lead, events, now) for c in condition.any)
    if isinstance(condition, Not):
        return not holds(condition.not_, lead, events, now)
    if isinstance(condition, EventCondition):
        since = now - timedelta(days=condition.within_days) if condition.within_days else None
        found = sum(
            1
            for e in events
            if matches(e, condition.event, condition.where)
            and (since is None or e.occurred_at >= since)
        )
        return found >= condition.at_least
    return fact_holds(condition, fact(lead, condition.fact))


def fact_holds(condition: FactCondition, value: object) -> bool:
    op, expected = condition.op, condition.value
    if op == "filled":
        return value not in (MISSING, None, "", [], {})
    if op == "empty":
        return value in (MISSING, None, "", [], {})
    if value is MISSING:
        return False
    if op in ("gte", "lte"):
        number, limit = _number(value), _number(expected)
        if number is None or limit is None:
            return False
        return number >= limit if op == "gte" else number <= limit
    if op == "between":
        return _between(value, *expected)
    if op == "in":
        return _text(value) in {_text(v) for v in (expected or [])}
    if op == "contains":
        return _text(expected) in _text(value)
    if op == "starts_with":
        return _text(value).startswith(_text(expected))
    same = _text(value) == _text(expected)
    return same if op == "equals" else not same


def _between(value: object, low: object, high: object) -> bool:
    """Numbers compare as numbers; anything else (postal codes like "SW1A", "94016-1234")
    as text of the range's length, so "94016-1234" is between "94000" and "94999"."""
    number, bottom, top = _number(value), _number(low), _number(high)
    if None not in (number, bottom, top):
        return bottom <= number <= top
    text, bottom_text, top_text = _text(value), _text(low), _text(high)
    return bottom_text <= text[: len(bottom_text)] and text[: len(top_text)] <= top_text


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        return None


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()
