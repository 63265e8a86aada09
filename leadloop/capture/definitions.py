"""Form definitions: their shape, their conditional logic, and how answers are checked against them.

A definition is JSON (see docs/forms.md): ordered steps, each a list of fields; a field may carry
`show_if` so it is asked only when an earlier answer matches. The hosted page, the widget and the
chat panel all read the same definition, and this module is the one judge of what was answered.
"""

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from leadloop.capture.cleaning import (
    NAME_MAX_LENGTH,
    InvalidValue,
    clean_bool,
    clean_email,
    clean_number,
    clean_phone,
    clean_text,
)
from leadloop.core.types import ConsentGiven

FieldType = Literal[
    "text",
    "email",
    "phone",
    "number",
    "select",
    "radio",
    "checkbox",
    "textarea",
    "hidden",
    "consent",
]
LEAD_ATTRIBUTES = {"first_name", "last_name", "email", "phone", "company"}
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str
    label: str


class Condition(BaseModel):
    """Show a field only when an earlier field's answer matches."""

    model_config = ConfigDict(extra="forbid")
    field: str
    equals: Any = None
    not_equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    filled: bool | None = None

    def holds(self, answers: dict) -> bool:
        value = answers.get(self.field)
        values = value if isinstance(value, list) else [value]
        if self.equals is not None:
            return any(_same(self.equals, v) for v in values)
        if self.not_equals is not None:
            return not any(_same(self.not_equals, v) for v in values)
        if self.in_ is not None:
            return any(_same(v, w) for v in values for w in self.in_)
        if self.filled is not None:
            return _filled(value) is self.filled
        return True


NUMBER = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")


def _same(a: object, b: object) -> bool:
    """Two values match when both read as numbers and are equal, or else when their text is
    equal: a number field's answer arrives as text, a condition in JSON may hold a number.
    static/capture/conditions.js applies the same rule in the browser."""
    x, y = _as_number(a), _as_number(b)
    if x is not None and y is not None:
        return x == y
    return _as_text(a) == _as_text(b)


def _filled(value: object) -> bool:
    if isinstance(value, list):
        return bool(value)
    return value is not None and value != "" and value is not False


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and NUMBER.match(value):
        return float(value)
    return None


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    type: FieldType
    label: str = ""
    required: bool = False
    placeholder: str = ""
    help: str = ""
    options: list[Option] = []
    default: str = ""
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    pattern_message: str = "Use the format asked for."
    channel: str = "email"
    show_if: Condition | None = None

    @field_validator("name")
    @classmethod
    def _name_is_an_identifier(cls, name: str) -> str:
        if not FIELD_NAME.match(name):
            raise ValueError("use lower-case letters, digits and _; start with a letter")
        return name

    @field_validator("options", mode="before")
    @classmethod
    def _options_may_be_plain_strings(cls, options: list) -> list:
        return [{"value": o, "label": o} if isinstance(o, str) else o for o in options or []]

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"the pattern does not compile: {error}") from None
        return pattern

    @model_validator(mode="after")
    def _choices_have_options(self) -> "FieldSpec":
        if self.type in {"select", "radio"} and not self.options:
            raise ValueError(f"a {self.type} field needs options")
        return self

    @property
    def is_multi_choice(self) -> bool:
        return self.type == "checkbox" and bool(self.options)


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = ""
    fields: list[FieldSpec]


class ThankYou(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = "Thank you! We will be in touch shortly."
    redirect_url: str = ""


class Popup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trigger: Literal["exit_intent", "scroll", "delay"] = "exit_intent"
    scroll_percent: int = Field(default=50, ge=1, le=100)
    delay_seconds: int = Field(default=10, ge=0, le=3600)
    frequency_days: int = Field(default=7, ge=0, le=365)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default_region: str = "US"
    # None: the duplicate policy of the form's source (update when it has none).
    duplicate_policy: Literal["update", "link", "reject"] | None = None
    proof_of_work: bool = False
    min_seconds: int = Field(default=3, ge=0, le=600)
    allowed_domains: list[str] = []
    submit_label: str = "Submit"
    thank_you: ThankYou = ThankYou()
    popup: Popup = Popup()


class Definition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = ""
    description: str = ""
    steps: list[Step] = Field(min_length=1)
    settings: Settings = Settings()

    @model_validator(mode="after")
    def _names_unique_and_conditions_look_back(self) -> "Definition":
        seen: set[str] = set()
        for spec in self.fields:
            if spec.name in seen:
                raise ValueError(f"field {spec.name!r} appears twice")
            if spec.show_if and spec.show_if.field not in seen:
                raise ValueError(
                    f"field {spec.name!r} shows on {spec.show_if.field!r}, which must come earlier"
                )
            seen.add(spec.name)
        return self

    @property
    def fields(self) -> list[FieldSpec]:
        return [spec for step in self.steps for spec in step.fields]


class DefinitionError(ValueError):
    pass


def parse_definition(data: object) -> Definition:
    try:
        return Definition.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'definition'}: {e['msg']}"
            for e in error.errors()
        )
        raise DefinitionError(problems) from None


def normalise_definition(data: object) -> dict:
    """The one stored shape of a definition: checked, with defaults filled in, aliases kept."""
    return parse_definition(data).model_dump(mode="json", by_alias=True, exclude_none=True)


@dataclass
class CleanAnswers:
    values: dict = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    consents: list[ConsentGiven] = field(default_factory=list)

    @property
    def lead_attributes(self) -> dict:
        return {k: v for k, v in self.values.items() if k in LEAD_ATTRIBUTES}

    @property
    def custom_fields(self) -> dict:
        return {k: v for k, v in self.values.items() if k not in LEAD_ATTRIBUTES}


def clean_answers(
    definition: Definition, answers: dict, *, through_step: int | None = None
) -> CleanAnswers:
    """Check answers against the definition, step by step, asking only the fields whose
    conditions hold. `through_step` (0-based) limits the check to the steps answered so far,
    which is how a multi-step funnel saves a partial lead after its first step."""
    result = CleanAnswers()
    last_step = len(definition.steps) - 1 if through_step is None else through_step
    for step in definition.steps[: last_step + 1]:
        for spec in step.fields:
            if spec.show_if and not spec.show_if.holds(result.values):
                continue
            try:
                value = _clean_field(
                    spec, answers.get(spec.name), definition.settings.default_region
                )
            except InvalidValue as error:
                result.errors.append({"field": spec.name, "message": str(error)})
                continue
            if spec.type == "consent":
                result.consents.append(ConsentGiven(spec.channel, value, spec.label))
            elif value not in ("", []):
                result.values[spec.name] = value
    return result


def _clean_field(spec: FieldSpec, raw: object, region: str) -> Any:
    value = _clean_by_type(
        spec, spec.default if raw is None and spec.type == "hidden" else raw, region
    )
    if spec.required and value in ("", [], False):
        raise InvalidValue(
            "Please tick this box to continue."
            if spec.type == "consent"
            else "This field is required."
        )
    if isinstance(value, str) and value:
        if spec.min_length is not None and len(value) < spec.min_length:
            raise InvalidValue(f"Use at least {spec.min_length} characters.")
        if spec.pattern and not re.fullmatch(spec.pattern, value):
            raise InvalidValue(spec.pattern_message)
    return value


def _clean_by_type(spec: FieldSpec, raw: object, region: str) -> Any:
    limit = spec.max_length
    if spec.type == "email":
        return clean_email(raw)
    if spec.type == "phone":
        return clean_phone(raw, region)
    if spec.type == "number":
        return clean_number(raw, spec.min, spec.max)
    if spec.type == "consent" or (spec.type == "checkbox" and not spec.options):
        return clean_bool(raw)
    if spec.type in {"select", "radio"} or spec.is_multi_choice:
        return _clean_choice(spec, raw)
    if spec.type == "textarea":
        return clean_text(raw, max_length=limit or 5000, multiline=True)
    default_limit = NAME_MAX_LENGTH if spec.name in LEAD_ATTRIBUTES else 500
    return clean_text(raw, max_length=limit or default_limit)


def _clean_choice(spec: FieldSpec, raw: object) -> str | list[str]:
    allowed = {option.value for option in spec.options}
    if spec.is_multi_choice:
        chosen = raw if isinstance(raw, list) else ([] if raw in (None, "") else [raw])
        values = [clean_text(v) for v in chosen]
        if any(v not in allowed for v in values):
            raise InvalidValue("Choose from the options given.")
        return values
    value = clean_text(raw)
    if value and value not in allowed:
        raise InvalidValue("Choose one of the options given.")
    return value
