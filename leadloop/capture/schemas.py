"""The shapes of what capture accepts and answers, checked with pydantic."""

from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from leadloop.capture.cleaning import (
    NAME_MAX_LENGTH,
    InvalidValue,
    clean_email,
    clean_phone,
    clean_text,
)
from leadloop.compliance.models import ConsentChannel

MAX_CUSTOM_FIELDS = 100
DEFAULT_CONSENT_WORDING = "Consent given at the lead source (no wording supplied)."


def pydantic_errors(error: ValidationError) -> list[dict]:
    """Field-level errors as the API and the forms show them: {"field", "message"}."""
    errors = []
    for item in error.errors():
        location = [str(part) for part in item["loc"] if part != "__root__"]
        message = item["msg"].removeprefix("Value error, ")
        errors.append({"field": ".".join(location) or None, "message": message})
    return errors


def _text(value: Any, max_length: int = 500) -> str:
    try:
        return clean_text(value, max_length=max_length)
    except InvalidValue as error:
        raise ValueError(str(error)) from None


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    granted: bool
    wording: str = Field(default=DEFAULT_CONSENT_WORDING, max_length=5000)


class ConsentItem(BaseModel):
    channel: str
    granted: bool
    wording: str


class LeadIn(BaseModel):
    """A lead posted by a lead source (ad platform, affiliate, another system)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "email": "ada@example.com",
                "phone": "+1 415 555 0134",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "company": "Analytical Engines Ltd",
                "fields": {"service": "deep clean", "budget": 400},
                "consent": {"email": {"granted": True, "wording": "I agree to receive emails."}},
                "tracking": {"utm_source": "google", "utm_medium": "cpc", "gclid": "abc123"},
            }
        },
    )

    region: str = Field(default="US", description="Default country for phone numbers without +code")
    email: str = ""
    phone: str = ""
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    fields: dict[str, Any] = {}
    consent: dict[str, bool | ConsentIn] = {}
    tracking: dict[str, Any] = {}
    visitor_id: str = Field(default="", max_length=64)

    @field_validator("first_name", "last_name", "company", mode="before")
    @classmethod
    def _plain_text(cls, value: Any) -> str:
        return _text(value, NAME_MAX_LENGTH)

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> str:
        try:
            return clean_email(value)
        except InvalidValue as error:
            raise ValueError(str(error)) from None

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if len(value) != 2 or not value.isalpha():
            raise ValueError("Use a two-letter country code, such as US or GB.")
        return value.upper()

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: Any, info: ValidationInfo) -> str:
        try:
            return clean_phone(value, info.data.get("region", "US"))
        except InvalidValue as error:
            raise ValueError(str(error)) from None

    @field_validator("fields")
    @classmethod
    def _fields(cls, fields: dict) -> dict:
        if len(fields) > MAX_CUSTOM_FIELDS:
            raise ValueError(f"Send at most {MAX_CUSTOM_FIELDS} custom fields.")
        cleaned = {}
        for name, value in fields.items():
            key = _text(name, 64)
            if isinstance(value, list):
                cleaned[key] = [_text(v, 2000) for v in value[:100]]
            elif value is None or isinstance(value, bool | int | float):
                cleaned[key] = value
            else:
                cleaned[key] = _text(value, 2000)
        return cleaned

    @field_validator("consent")
    @classmethod
    def _consent_channels(cls, consent: dict) -> dict:
        unknown = set(consent) - set(ConsentChannel.values)
        if unknown:
            raise ValueError(
                f"Unknown consent channel(s): {', '.join(sorted(unknown))[:200]}; "
                f"use {', '.join(ConsentChannel.values)}."
            )
        return consent

    @model_validator(mode="after")
    def _has_contact(self) -> "LeadIn":
        if not (self.email or self.phone):
            raise ValueError("Send an email address or a phone number.")
        return self

    def consent_list(self) -> list[ConsentItem]:
        return [
            ConsentItem(channel=channel, granted=given, wording=DEFAULT_CONSENT_WORDING)
            if isinstance(given, bool)
            else ConsentItem(channel=channel, granted=given.granted, wording=given.wording)
            for channel, given in self.consent.items()
        ]


class FormSubmissionIn(BaseModel):
    """What the hosted page, the widget and the chat panel post for a form."""

    model_config = ConfigDict(extra="ignore")
    answers: dict[str, Any] = {}
    step: int | None = None
    partial: bool = False
    visitor_id: str = Field(default="", max_length=64)
    page_url: str = Field(default="", max_length=2000)
    tracking: dict[str, Any] = {}
    # For the quality layer: how the form was filled in (keystrokes, pastes, focus_order), the
    # honeypot field, the token handed out with the form, and the proof-of-work solution.
    signals: dict[str, Any] = {}
    honeypot: str = Field(default="", max_length=2000)
    opened: str = Field(default="", max_length=200)
    proof_of_work: str = Field(default="", max_length=2000)


class CaptureOut(BaseModel):
    id: int | None
    status: str
    submission_id: int
    capture_state: str | None = None


class ErrorItem(BaseModel):
    field: str | None
    message: str


class ErrorsOut(BaseModel):
    errors: list[ErrorItem]


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    type: str
    occurred_at: datetime
    actor: str
    data: dict


class LeadOut(BaseModel):
    id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    company: str | None
    custom_fields: dict
    lifecycle_stage: str
    capture_state: str
    source: str | None
    first_touch: dict
    last_touch: dict
    captured_at: datetime
    timeline: list[EventOut]
    # Staff only: a source is not told how its leads were judged.
    quality: str | None = None
    quality_reasons: list[dict] | None = None
    enrichment: dict | None = None
    duplicate_of: int | None = None
    score: int | None = None
    score_drivers: list[dict] | None = None
    owner: str | None = None
    acknowledged_at: datetime | None = None
    assigned_at: datetime | None = None
    first_contact_at: datetime | None = None
