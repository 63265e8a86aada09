"""A quality verdict is made of reasons, each with a severity; the worst one decides."""

from dataclasses import dataclass, field

INVALID, SUSPECT, INFO = "invalid", "suspect", "info"
VALID = "valid"
RANK = {INFO: 0, SUSPECT: 1, INVALID: 2}


@dataclass(frozen=True)
class Reason:
    code: str
    severity: str
    message: str

    def as_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "message": self.message}


@dataclass
class Findings:
    """What one check found: reasons for the verdict, raw signals, and enriched values."""

    reasons: list[Reason] = field(default_factory=list)
    signals: dict = field(default_factory=dict)
    enrichment: dict = field(default_factory=dict)

    def add(self, code: str, severity: str, message: str) -> None:
        self.reasons.append(Reason(code, severity, message))

    def enrich(self, name: str, value: object, source: str) -> None:
        """An enriched value and where it came from (never what the person typed)."""
        if value not in ("", None, [], {}):
            self.enrichment[name] = {"value": value, "source": source}

    def extend(self, other: "Findings") -> None:
        self.reasons.extend(other.reasons)
        self.signals.update(other.signals)
        self.enrichment.update(other.enrichment)


def verdict_of(reasons: list[Reason]) -> str:
    worst = max((RANK[r.severity] for r in reasons), default=0)
    return {2: INVALID, 1: SUSPECT}.get(worst, VALID)
