"""A KPI as a person reads it: the figure formatted by its unit, its change against the
period before (and whether that change is good news), and its target range in words. The
dashboard and the weekly digest show figures the same way."""

from dataclasses import dataclass
from decimal import Decimal

from leadloop.analytics import kpis

# Figures where a fall is the good news; for the rest a rise is.
LOWER_IS_BETTER_UNITS = ("minutes", "days")
LOWER_IS_BETTER_KEYS = ("cpl", "cpa", "cost_per_sql")


def shown(value: object, unit: str) -> str:
    """A figure as a person reads it: $1,234 / $42.10, 31%, 4.2 min, 3.5 days, 5.2:1."""
    if value is None:
        return "—"
    number = Decimal(str(value))
    if unit == "money":
        return f"${number:,.0f}" if abs(number) >= 1000 else f"${number:,.2f}"
    if unit == "percent":
        return f"{number:,.1f}%".replace(".0%", "%")
    if unit == "minutes":
        return f"{number:,.1f} min"
    if unit == "days":
        return f"{number:,.1f} days"
    if unit == "ratio":
        return f"{number:,.1f}:1"
    return f"{number:,.0f}"


@dataclass(frozen=True)
class Card:
    """One figure on the dashboard, ready to show."""

    figure: kpis.Figure
    value: str
    previous: str
    change: str  # "+12%", "-3%", or "" when there is nothing to compare with
    arrow: str  # ▲ ▼ or —
    change_is_good: bool | None  # None: unchanged, or no previous figure
    target: str  # "25% to 35%", "at least 8", "at most 5 min", or "" without a target

    @property
    def badge(self) -> tuple[str, str]:
        """(css class, words) for the in/out-of-range badge."""
        if self.figure.state == "in":
            return ("good", "on target")
        if self.figure.state == "out":
            return ("bad", "off target")
        return ("muted", "no data yet" if self.target else "no target")


def card_of(figure: kpis.Figure) -> Card:
    change, arrow, good = "", "—", None
    if figure.value is not None and figure.previous not in (None, 0):
        current, previous = Decimal(str(figure.value)), Decimal(str(figure.previous))
        percent = (current - previous) / abs(previous) * 100
        if percent.quantize(Decimal("1")) != 0:
            rose = percent > 0
            arrow = "▲" if rose else "▼"
            change = f"{'+' if rose else '-'}{abs(percent):.0f}%"
            good = rose != lower_is_better(figure)
    return Card(
        figure,
        shown(figure.value, figure.unit),
        shown(figure.previous, figure.unit),
        change,
        arrow,
        good,
        target_of(figure),
    )


def lower_is_better(figure: kpis.Figure) -> bool:
    return figure.unit in LOWER_IS_BETTER_UNITS or figure.key in LOWER_IS_BETTER_KEYS


def target_of(figure: kpis.Figure) -> str:
    low, high = figure.low, figure.high
    if low is not None and high is not None:
        return f"{shown(low, figure.unit)} to {shown(high, figure.unit)}"
    if low is not None:
        return f"at least {shown(low, figure.unit)}"
    if high is not None:
        return f"at most {shown(high, figure.unit)}"
    return ""
