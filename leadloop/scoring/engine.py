"""The arithmetic of a score, apart from the database: rules in, points and their drivers out."""

from dataclasses import dataclass, field
from datetime import datetime

from leadloop.core.conditions import Condition, EventCondition, holds, matches, parse_condition
from leadloop.core.models import Event, Lead
from leadloop.scoring.models import ScoreGroup, ScoringRule

SECONDS_PER_DAY = 86_400
ADJUSTED = "score.adjusted"


@dataclass(frozen=True)
class ReadRule:
    """A rule with its JSON read once, for scoring many leads."""

    name: str
    group: str
    points: int
    cap: int | None
    decays: bool
    condition: Condition | None
    per_event: EventCondition | None

    @classmethod
    def of(cls, rule: ScoringRule) -> "ReadRule":
        return cls(
            name=rule.name,
            group=rule.group,
            points=rule.points,
            cap=rule.cap,
            decays=rule.decays,
            condition=parse_condition(rule.condition) if rule.condition is not None else None,
            per_event=EventCondition.model_validate(rule.per_event) if rule.per_event else None,
        )


@dataclass
class Score:
    fit: int = 0
    engagement: int = 0
    intent: int = 0
    drivers: list[dict] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.fit + self.engagement + self.intent


def score_lead(
    lead: Lead, events: list[Event], rules: list[ReadRule], half_life_days: int, now: datetime
) -> Score:
    """The lead's points per group, and each rule that gave any (largest first)."""
    sums = dict.fromkeys(ScoreGroup.values, 0.0)
    drivers = []
    for rule in rules:
        points, detail = _points(rule, lead, events, half_life_days, now)
        rounded = round(points)
        if rounded:
            sums[rule.group] += points
            drivers.append(
                {"rule": rule.name, "group": rule.group, "points": rounded, "detail": detail}
            )
    adjust(sums, drivers, [e for e in events if e.type == ADJUSTED])
    drivers.sort(key=lambda d: -abs(d["points"]))
    return Score(
        fit=round(sums[ScoreGroup.FIT]),
        engagement=round(sums[ScoreGroup.ENGAGEMENT]),
        intent=round(sums[ScoreGroup.INTENT]),
        drivers=drivers,
    )


def adjust(sums: dict[str, float], drivers: list[dict], adjustments: list) -> None:
    """Points given by hand or by a workflow step (score.adjusted events: `points`, and the
    `group`, engagement unless said), added after the rules, never decaying."""
    by_group: dict[str, float] = {}
    for event in adjustments:
        group = event.data.get("group") or ScoreGroup.ENGAGEMENT
        if group in sums:
            by_group[group] = by_group.get(group, 0.0) + float(event.data.get("points") or 0)
    for group, points in by_group.items():
        if round(points):
            sums[group] += points
            drivers.append(
                {"rule": "adjustments", "group": group, "points": round(points), "detail": ""}
            )


def _points(
    rule: ReadRule, lead: Lead, events: list[Event], half_life_days: int, now: datetime
) -> tuple[float, str]:
    if rule.condition is not None:
        return (rule.points if holds(rule.condition, lead, events, now) else 0), "matches"
    match = rule.per_event
    found = [e for e in events if matches(e, match.event, match.where)]
    if match.within_days:
        found = [e for e in found if (now - e.occurred_at).days < match.within_days]
    points = sum(rule.points * _weight(e, rule.decays, half_life_days, now) for e in found)
    if rule.cap is not None:
        points = max(-rule.cap, min(rule.cap, points))
    return points, f"{len(found)} x {match.event}"


def _weight(event: Event, decays: bool, half_life_days: int, now: datetime) -> float:
    """An event's share of its points: whole when new, half after one half-life, and so on."""
    if not decays or not half_life_days:
        return 1.0
    age_days = max(0.0, (now - event.occurred_at).total_seconds() / SECONDS_PER_DAY)
    return 0.5 ** (age_days / half_life_days)
