"""Scoring rules and the stage definitions as JSON: to keep them in version control, review a
change, or carry them from a staging installation to production.

    {"version": 1,
     "definitions": {"mql": {...}, "sql": {...}, "half_life_days": 30},
     "rules": [{"name": ..., "group": ..., "points": ..., "condition": ..., ...}, ...]}

An import is all or nothing: every rule is checked (by the models' own clean()) before
anything is written, and one that does not read refuses the whole file with its reason. Rules
are matched by name; those not in the file are left alone. A successful import that changed
anything starts one rescore of every lead.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from leadloop.scoring.models import ScoringRule, StageDefinitions

VERSION = 1
RULE_FIELDS = (
    "name", "group", "points", "condition", "per_event", "cap", "decays", "is_active", "position",
)  # fmt: skip
DEFINITION_FIELDS = ("mql", "sql", "half_life_days")


class RulesFileError(ValueError):
    """The file is refused; the message says why (every problem found, one a line)."""


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    definitions_changed: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.definitions_changed)

    def __str__(self) -> str:
        parts = [
            f"{len(self.created)} created",
            f"{len(self.updated)} updated",
            f"{len(self.unchanged)} unchanged",
            "definitions " + ("changed" if self.definitions_changed else "unchanged"),
        ]
        return ", ".join(parts)


def export_rules() -> dict:
    """Every rule (active or not) and the stage definitions."""
    definitions = StageDefinitions.current()
    return {
        "version": VERSION,
        "definitions": {name: getattr(definitions, name) for name in DEFINITION_FIELDS},
        "rules": [
            {name: getattr(rule, name) for name in RULE_FIELDS}
            for rule in ScoringRule.objects.order_by("group", "position", "name")
        ],
    }


def import_rules(data: object) -> ImportReport:
    """Create or update the rules (by name) and the definitions in the file, in one
    transaction, and start a rescore once it commits. Raises RulesFileError, writing nothing,
    if any part does not read."""
    from leadloop.scoring.rescoring import start_rescore

    rules, definitions = _read(data)
    report = ImportReport()
    with transaction.atomic():
        for rule in rules:
            existing = ScoringRule.objects.filter(name=rule.name).first()
            if existing is None:
                rule.save()
                report.created.append(rule.name)
            elif any(getattr(existing, f) != getattr(rule, f) for f in RULE_FIELDS):
                rule.pk = existing.pk
                rule.save()
                report.updated.append(rule.name)
            else:
                report.unchanged.append(rule.name)
        if definitions is not None:
            current = StageDefinitions.current()
            if any(getattr(current, f) != getattr(definitions, f) for f in DEFINITION_FIELDS):
                definitions.pk = current.pk
                definitions.save()
                report.definitions_changed = True
        if report.changed:
            start_rescore("rules imported")
    return report


def _read(data: object) -> tuple[list[ScoringRule], StageDefinitions | None]:
    """The file's rules and definitions as unsaved model instances, each checked by clean();
    every problem is collected so one refusal names them all."""
    if not isinstance(data, dict) or not isinstance(data.get("rules", []), list):
        raise RulesFileError('Expected {"rules": [...], "definitions": {...}}.')
    problems, rules, names = [], [], set()
    for number, given in enumerate(data.get("rules", []), start=1):
        label = given.get("name") if isinstance(given, dict) else None
        label = f"rule {number} ({label})" if label else f"rule {number}"
        if not isinstance(given, dict):
            problems.append(f"{label}: not an object")
            continue
        unknown = set(given) - set(RULE_FIELDS)
        if unknown:
            problems.append(f"{label}: unknown field(s) {', '.join(sorted(unknown))}")
            continue
        if given.get("name") in names:
            problems.append(f"{label}: the name appears twice in the file")
            continue
        rule = ScoringRule(**given)
        try:
            rule.full_clean(validate_unique=False)
        except ValidationError as error:
            problems.append(f"{label}: {_reason(error)}")
            continue
        names.add(rule.name)
        rules.append(rule)
    definitions = None
    given = data.get("definitions")
    if given is not None:
        unknown = set(given) - set(DEFINITION_FIELDS) if isinstance(given, dict) else {"?"}
        if unknown:
            problems.append("definitions: expected only " + ", ".join(DEFINITION_FIELDS))
        else:
            current = StageDefinitions.current()
            definitions = StageDefinitions(
                **{name: given.get(name, getattr(current, name)) for name in DEFINITION_FIELDS}
            )
            try:
                definitions.full_clean()
            except ValidationError as error:
                problems.append(f"definitions: {_reason(error)}")
    if problems:
        raise RulesFileError("Nothing was imported.\n" + "\n".join(problems))
    return rules, definitions


def _reason(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(f"{name}: {' '.join(texts)}" for name, texts in error.message_dict.items())
    return " ".join(error.messages)
