"""Dynamic segments as one SQL query, and the membership rows that let "joined a segment" start
a workflow.

`lead_filter(condition)` translates the shared condition language (core/conditions.py) into a
Django `Q` over Lead, so a segment over a million leads is a single query the database plans,
not a million calls of `holds`. It gives the same leads as `holds` with one documented
difference: **text that looks like a number is compared as text.** `holds` parses "1,500" or
"94016" as numbers for gte, lte and between; SQL compares numbers only where the stored value
is a number (a JSON number, an integer column), and between falls back to holds' own text
comparison for everything else. Store numbers as numbers (forms and imports do) and the two
agree. Two smaller ones: on SQLite, LOWER folds ASCII letters only, so equals between
"JOSÉ" and "josé" does not hold there; and `where` in an event condition compares JSON values
as JSON (true is not 1).

How each fact is read:
- a lead field: its column; lifecycle_stage, capture_state and quality (a few known values)
  and source.channel / source.campaign (a small table) are decided in Python per value and
  become an indexed `IN`;
- `custom_fields.<x>`, `enrichment.<x>` (its "value"), and the derived facts of core/facts.py
  (the first place in DERIVED that has a value): the JSON value's type, text and number,
  read with json_type / json_extract on SQLite and jsonb_typeof / ->> on PostgreSQL;
- `email_domain`: what follows the @, lower-cased; `free_mail`: quality_signals.email.free_mail
  read as Python's bool() reads it.
Every fact's predicate is false, never NULL, for a lead without the fact, so `not` is exact.

`refresh(segment)` brings a dynamic segment's SegmentMember rows up to date with set queries
(an anti-join each way), writing `segment.joined` / `segment.left` events in batches; the
sweep `refresh_all` does it for every dynamic segment."""

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    Expression,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Cast, Lower, StrIndex, Substr, Trim
from django.db.models.lookups import (
    Contains as Like,
)
from django.db.models.lookups import (
    Exact,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThanOrEqual,
    StartsWith,
)
from django.utils import timezone

from leadloop.core import services as core
from leadloop.core.conditions import (
    AllOf,
    AnyOf,
    Condition,
    EventCondition,
    FactCondition,
    Not,
    _number,
    _text,
    fact_holds,
    parse_condition,
)
from leadloop.core.facts import DERIVED, LEAD_FIELDS, MISSING
from leadloop.core.models import (
    CaptureState,
    Event,
    Lead,
    LifecycleStage,
    Quality,
    Source,
)
from leadloop.nurture.models import Segment, SegmentMember

BATCH = 5000  # members inserted or deleted, with their events, per transaction
NOTHING = Q(pk__in=[])
EVERYTHING = ~NOTHING
CHOICES = {
    "lifecycle_stage": LifecycleStage.values,
    "capture_state": CaptureState.values,
    "quality": Quality.values,
}
INTEGER_FIELDS = {"score", "score_fit", "score_engagement", "score_intent"}


# --- reading a JSON value ------------------------------------------------------------------


class _JsonPart(Func):
    """One part of the value at `keys` inside a JSON column: its `kind` ('string', 'number',
    'bool', 'null', 'array', 'object'; NULL when the key is missing), its `text` (NULL for a
    missing key or JSON null; true/false for booleans) or its `number` (NULL unless a JSON
    number)."""

    def __init__(self, column: str, keys: tuple[str, ...], part: str) -> None:
        output = FloatField() if part == "number" else TextField()
        super().__init__(F(column), output_field=output)
        self.keys, self.part = keys, part

    def as_sqlite(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        path = "$" + "".join("." + json.dumps(key) for key in self.keys)
        kind = f"json_type({column}, %s)"
        value = f"json_extract({column}, %s)"
        if self.part == "kind":
            sql = (
                f"CASE {kind} WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' "
                f"WHEN 'text' THEN 'string' WHEN 'true' THEN 'bool' WHEN 'false' THEN 'bool' "
                f"ELSE {kind} END"
            )
            return sql, (*params, path, *params, path)
        if self.part == "text":
            sql = (
                f"CASE {kind} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
                f"WHEN 'null' THEN NULL ELSE CAST({value} AS TEXT) END"
            )
            return sql, (*params, path, *params, path)
        sql = f"CASE WHEN {kind} IN ('integer', 'real') THEN {value} END"
        return sql, (*params, path, *params, path)

    def as_postgresql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        *inner, last = self.keys
        node = column + "".join(" -> %s" for _ in inner)
        key_params = (*params, *inner)
        if self.part == "kind":
            typeof = f"jsonb_typeof({node} -> %s)"
            sql = f"CASE {typeof} WHEN 'boolean' THEN 'bool' ELSE {typeof} END"
            return sql, (*key_params, last, *key_params, last)
        if self.part == "text":
            return f"({node} ->> %s)", (*key_params, last)
        sql = (
            f"CASE WHEN jsonb_typeof({node} -> %s) = 'number' "
            f"THEN ({node} ->> %s)::double precision END"
        )
        return sql, (*key_params, last, *key_params, last)


class _Binary(Func):
    """Text compared by code point, as Python compares str (between's text ranges)."""

    template = "%(expressions)s"
    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f'({sql}) COLLATE "C"', params


@dataclass(frozen=True)
class Reading:
    """How SQL reads a fact: its kind (NULL when the lead has no such fact), its text and its
    number, as the JSON parts above."""

    kind: Expression
    text: Expression
    number: Expression

    @classmethod
    def json(cls, column: str, *keys: str) -> "Reading":
        return cls(*(_JsonPart(column, keys, part) for part in ("kind", "text", "number")))

    @classmethod
    def first_known(cls, readings: list["Reading"]) -> "Reading":
        """The first reading with a value (not missing, not null, not ""), as facts.DERIVED."""
        known = [_known(reading) for reading in readings]

        def pick(part: str, output) -> Case:
            whens = [
                When(condition, then=getattr(r, part))
                for condition, r in zip(known, readings, strict=True)
            ]
            return Case(*whens, default=Value(None), output_field=output)

        return cls(
            pick("kind", TextField()), pick("text", TextField()), pick("number", FloatField())
        )


def _known(reading: Reading) -> Q:
    return (
        Q(IsNull(reading.kind, False))
        & ~Q(Exact(reading.kind, "null"))
        & ~Q(Exact(reading.kind, "string") & Q(Exact(reading.text, "")))
    )


def _place(where: str, name: str) -> Reading:
    if where == "enrichment":
        return Reading.json("enrichment", name, "value")
    return Reading.json("custom_fields", name)


def reading_of(name: str) -> Reading:
    """How SQL reads the fact `name` (for the facts read through `_holds_on_reading`)."""
    head, _, rest = name.partition(".")
    if head == "custom_fields":
        return Reading.json("custom_fields", rest)
    if head == "enrichment":
        return Reading.json("enrichment", rest, "value")
    if name in DERIVED:
        return Reading.first_known([_place(where, key) for where, key in DERIVED[name]])
    if name == "email_domain":
        domain = Lower(Substr("email", StrIndex("email", Value("@")) + 1))
        kind = Case(
            When(email="", then=Value(None)), default=Value("string"), output_field=TextField()
        )
        return Reading(kind, domain, Value(None, output_field=FloatField()))
    if name in INTEGER_FIELDS:
        return Reading(Value("number"), Cast(name, CharField()), Cast(name, FloatField()))
    if name in LEAD_FIELDS:
        return Reading(Value("string"), F(name), Value(None, output_field=FloatField()))
    raise ValueError(f"unknown fact {name!r}")


# --- facts -----------------------------------------------------------------------------------


def _fact(condition: FactCondition) -> Q:
    name = condition.fact
    if name in CHOICES:  # a handful of values: decide each in Python, query the column
        return Q(**{f"{name}__in": [v for v in CHOICES[name] if fact_holds(condition, v)]})
    if name in ("source.channel", "source.campaign"):
        return _source(condition, name.partition(".")[2])
    if name == "free_mail":
        free = _truthy(Reading.json("quality_signals", "email", "free_mail"))
        return _either(free, fact_holds(condition, True), fact_holds(condition, False))
    if name in INTEGER_FIELDS:
        direct = _integer(condition, name)
        if direct is not None:
            return direct
    return _holds_on_reading(condition, reading_of(name))


def _either(flag: Q, if_true: bool, if_false: bool) -> Q:
    if if_true and if_false:
        return EVERYTHING
    if if_true:
        return flag
    return _negated(flag) if if_false else NOTHING


def _source(condition: FactCondition, attribute: str) -> Q:
    """Sources are few: which of them hold is decided in Python; a lead without one has no
    such fact (MISSING)."""
    matching = [
        source.pk
        for source in Source.objects.only(attribute)
        if fact_holds(condition, getattr(source, attribute))
    ]
    without = Q(source__isnull=True) if fact_holds(condition, MISSING) else NOTHING
    return Q(source_id__in=matching) | without


def _integer(condition: FactCondition, name: str) -> Q | None:
    """An indexed comparison on an integer column, where one says exactly what holds says."""
    op, expected = condition.op, condition.value
    if op in ("filled", "empty"):
        return EVERYTHING if op == "filled" else NOTHING
    if op in ("gte", "lte"):
        limit = _number(expected)
        if limit is None:
            return NOTHING
        if op == "gte":
            return Q(**{f"{name}__gte": math.ceil(limit)})
        return Q(**{f"{name}__lte": math.floor(limit)})
    if op == "between":
        low, high = (_number(v) for v in expected)
        if low is None or high is None:
            return None  # compared as text
        return Q(**{f"{name}__gte": math.ceil(low), f"{name}__lte": math.floor(high)})
    if op in ("equals", "not_equals", "in"):
        values = [expected] if op != "in" else list(expected or [])
        wanted = [
            int(t) for t in map(_text, values) if t.lstrip("-").isdigit() and str(int(t)) == t
        ]
        same = Q(**{f"{name}__in": wanted}) if wanted else NOTHING
        return ~same if op == "not_equals" else same
    return None


def _normal_text(reading: Reading) -> Func:
    """holds' _text: stripped and lower-cased; JSON null reads "none", as str(None)."""
    return Lower(Trim(Case(When(Exact(reading.kind, "null"), then=Value("none")),
                           default=reading.text, output_field=TextField())))  # fmt: skip


def _holds_on_reading(condition: FactCondition, reading: Reading) -> Q:
    op, expected = condition.op, condition.value
    present = Q(IsNull(reading.kind, False))
    empty = (
        ~present
        | Q(Exact(reading.kind, "null"))
        | (Q(Exact(reading.kind, "string")) & Q(Exact(reading.text, "")))
        | (Q(In(reading.kind, ["array", "object"])) & Q(In(reading.text, ["[]", "{}"])))
    )
    if op == "empty":
        return empty
    if op == "filled":
        return _negated(empty)
    text = _normal_text(reading)
    number = Q(Exact(reading.kind, "number"))
    if op in ("gte", "lte"):
        limit = _number(expected)
        if limit is None:
            return NOTHING
        compare = GreaterThanOrEqual if op == "gte" else LessThanOrEqual
        return present & number & Q(compare(reading.number, float(limit)))
    if op == "between":
        low, high = expected
        as_text = _prefix_between(text, _text(low), _text(high))
        bottom, top = _number(low), _number(high)
        if bottom is None or top is None:
            return present & as_text
        as_number = Q(GreaterThanOrEqual(reading.number, float(bottom))) & Q(
            LessThanOrEqual(reading.number, float(top))
        )
        return present & ((number & as_number) | (_negated(number) & as_text))
    if op == "in":
        return present & Q(In(text, sorted({_text(v) for v in expected or []})))
    if op == "contains":
        return present & Q(Like(text, _text(expected)))
    if op == "starts_with":
        return present & Q(StartsWith(text, _text(expected)))
    same = Q(Exact(text, _text(expected)))
    return present & (same if op == "equals" else _negated(same))


def _prefix_between(text: Func, low: str, high: str) -> Q:
    """holds' _between for text: compared over the length of each end of the range."""
    return Q(GreaterThanOrEqual(_Binary(Substr(text, 1, len(low))), _Binary(Value(low)))) & Q(
        LessThanOrEqual(_Binary(Substr(text, 1, len(high))), _Binary(Value(high)))
    )


def _truthy(reading: Reading) -> Q:
    """Python's bool() of a JSON value."""
    kind, text = reading.kind, reading.text
    return (
        (Q(Exact(kind, "bool")) & Q(Exact(text, "true")))
        | (Q(Exact(kind, "number")) & ~Q(Exact(reading.number, 0.0)))
        | (Q(Exact(kind, "string")) & ~Q(Exact(text, "")))
        | (Q(In(kind, ["array", "object"])) & ~Q(In(text, ["[]", "{}"])))
    )


def _negated(q: Q) -> Q:
    """NOT that is exact where SQL would say NULL (unknown): the predicate is first made
    true or false."""
    decided = Case(When(q, then=Value(True)), default=Value(False), output_field=BooleanField())
    return Q(Exact(decided, False))


# --- events and the whole condition --------------------------------------------------------


def _event(condition: EventCondition, now: datetime) -> Q:
    events = Event.objects.filter(type=condition.event)
    if condition.within_days:
        events = events.filter(occurred_at__gte=now - timedelta(days=condition.within_days))
    for number, (key, value) in enumerate(condition.where.items()):
        alias = f"_where{number}"
        events = events.alias(**{alias: KeyTransform(key, "data")})
        if value is None:  # holds' data.get(key) == None: a JSON null, or no such key
            events = events.filter(Q(**{alias: None}) | ~Q(data__has_key=key))
        else:
            events = events.filter(**{alias: value})
    if condition.at_least == 1:
        return Q(Exists(events.filter(lead=OuterRef("pk"))))
    counted = events.values("lead_id").annotate(n=Count("pk")).filter(n__gte=condition.at_least)
    return Q(pk__in=counted.values("lead_id"))


def lead_filter(condition: Condition | dict, now: datetime | None = None) -> Q:
    """The condition as a filter on Lead: exactly the leads for which `holds` is true (see
    the module's docstring for the one difference)."""
    if isinstance(condition, dict):
        condition = parse_condition(condition)
    now = now or timezone.now()
    if isinstance(condition, AllOf):
        return Q(*(lead_filter(c, now) for c in condition.all), _connector=Q.AND)
    if isinstance(condition, AnyOf):
        return Q(*(lead_filter(c, now) for c in condition.any), _connector=Q.OR)
    if isinstance(condition, Not):
        return _negated(lead_filter(condition.not_, now))
    if isinstance(condition, EventCondition):
        return _event(condition, now)
    return _fact(condition)


# --- segments --------------------------------------------------------------------------------


def leads(segment: Segment, now: datetime | None = None) -> QuerySet:
    """The segment's leads: a dynamic one's condition as one query, a static one's members.
    Quarantined and merged leads are never in a segment."""
    workable = Lead.objects.workable()
    if segment.is_dynamic:
        return workable.filter(lead_filter(segment.condition, now))
    return workable.filter(
        Exists(SegmentMember.objects.filter(segment=segment, lead=OuterRef("pk")))
    )


def count(segment: Segment) -> int:
    return leads(segment).count()


@dataclass(frozen=True)
class Refreshed:
    joined: int
    left: int


def refresh(segment: Segment) -> Refreshed:
    """Bring a dynamic segment's members up to date.

    1. The leads that meet the condition and are not members (an anti-join) are read in one
       query; those members that no longer do (a NOT EXISTS per member, by primary key) in
       another.
    2. In batches, each one transaction holding the segment's row: the batch is checked again
       against the members (a concurrent refresh may have done it), then members are inserted
       with a `segment.joined` event each, or deleted with `segment.left`.
    The events are the ones workflows start on (`segment_joined` triggers)."""
    if not segment.is_dynamic:
        return Refreshed(0, 0)
    now = timezone.now()
    matching = leads(segment, now)
    members = SegmentMember.objects.filter(segment=segment)
    joining = matching.filter(~Exists(members.filter(lead=OuterRef("pk"))))
    joiner_ids = list(joining.order_by().values_list("pk", flat=True))
    leaving = members.filter(~Exists(matching.filter(pk=OuterRef("lead_id"))))
    leaver_ids = list(leaving.values_list("lead_id", flat=True))
    joined = sum(_join(segment, batch, now) for batch in _batches(joiner_ids))
    left = sum(_leave(segment, batch) for batch in _batches(leaver_ids))
    return Refreshed(joined, left)


def _batches(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), BATCH):
        yield ids[start : start + BATCH]


def _join(segment: Segment, lead_ids: list[int], now: datetime) -> int:
    with transaction.atomic():
        Segment.objects.select_for_update().filter(pk=segment.pk).first()
        already = set(
            SegmentMember.objects.filter(segment=segment, lead_id__in=lead_ids).values_list(
                "lead_id", flat=True
            )
        )
        new = [lead_id for lead_id in lead_ids if lead_id not in already]
        SegmentMember.objects.bulk_create(
            [SegmentMember(segment=segment, lead_id=lead_id, joined_at=now) for lead_id in new],
            batch_size=1000,
        )
        core.record_events(
            core.NewEvent(Lead(pk=lead_id), "segment.joined", {"segment": segment.slug})
            for lead_id in new
        )
    return len(new)


def _leave(segment: Segment, lead_ids: list[int]) -> int:
    with transaction.atomic():
        Segment.objects.select_for_update().filter(pk=segment.pk).first()
        members = SegmentMember.objects.filter(segment=segment, lead_id__in=lead_ids)
        gone = list(members.values_list("lead_id", flat=True))
        members.delete()
        core.record_events(
            core.NewEvent(Lead(pk=lead_id), "segment.left", {"segment": segment.slug})
            for lead_id in gone
        )
    return len(gone)


def refresh_all() -> int:
    """The sweep: every dynamic segment brought up to date; how many leads joined or left."""
    changed = 0
    for segment in Segment.objects.filter(condition__isnull=False).order_by("pk"):
        done = refresh(segment)
        changed += done.joined + done.left
    return changed
