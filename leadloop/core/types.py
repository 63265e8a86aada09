"""Plain values passed between layers: what an entry point knows about a person it just captured."""

from dataclasses import dataclass, field
from datetime import datetime

TOUCH_KEYS = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
    "fbclid",
    "msclkid",
    "referrer",
    "landing_page",
)


@dataclass(frozen=True)
class ConsentGiven:
    channel: str
    granted: bool
    wording: str
    page_url: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    evidence: dict = field(default_factory=dict)


@dataclass
class LeadIntake:
    """One submission's contribution to a lead, already cleaned by the entry point that took it."""

    channel: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    company: str = ""
    custom_fields: dict = field(default_factory=dict)
    consents: list[ConsentGiven] = field(default_factory=list)
    touch: dict = field(default_factory=dict)
    first_touch: dict = field(default_factory=dict)
    source_id: int | None = None
    is_partial: bool = False
    occurred_at: datetime | None = None
    actor: str = ""
    evidence: dict = field(default_factory=dict)
    # What the entry point saw of how it arrived, for the quality layer: "browser", the user
    # agent and IP, honeypot, timing, typing, proof-of-work.
    signals: dict = field(default_factory=dict)
    duplicate_policy: str = "update"

    @property
    def has_contact(self) -> bool:
        return bool(self.email or self.phone)
