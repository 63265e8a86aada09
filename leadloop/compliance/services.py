"""Recording what a person agreed to."""

from collections.abc import Iterable

from leadloop.compliance.models import Consent
from leadloop.core import rows
from leadloop.core.models import Lead
from leadloop.core.types import ConsentGiven


def record_consents(pairs: Iterable[tuple[Lead, ConsentGiven]]) -> list[Consent]:
    return rows.insert(
        [
            Consent(
                lead=lead,
                channel=given.channel,
                granted=given.granted,
                wording=given.wording,
                page_url=given.page_url[:2000],
                ip_address=given.ip_address,
                user_agent=given.user_agent[:500],
                evidence=given.evidence,
            )
            for lead, given in pairs
        ]
    )


def current_consent(lead: Lead, channel: str) -> bool:
    """The latest word on a channel wins: a later refusal withdraws an earlier grant."""
    latest = lead.consents.filter(channel=channel).order_by("-occurred_at", "-id").first()
    return bool(latest and latest.granted)
