"""Proposals: a quote made from a deal, sent to the lead as a public link, opened (tracked),
then accepted there by typed name (seed 000: "The rep sends a proposal through the CRM's
proposal tool, which tracks when the lead opens it ... If it is signed, the system
automatically moves the deal to Won"). Each verb writes its event on the lead's timeline; the
follow-up when nobody accepts is a nurture workflow started by "proposal.sent"
(nurture/library.py, "Proposal follow-up").

How an acceptance is signed: the person types their full name and ticks "I accept these
terms". When the lead's full name is on record the page shows it ("Accepting as Lena Fischer")
and the typed name must match it, ignoring case and spacing: the record then says the named
person signed, not whoever typed something, and nobody is refused for a name they could not
guess. When no name is on record, any name is accepted and stored as typed."""

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from leadloop.core import outbox
from leadloop.core import services as core
from leadloop.core.models import Lead
from leadloop.crm import services
from leadloop.crm.models import Deal, Proposal, ProposalLine, ProposalStatus, StageOutcome
from leadloop.routing.models import RoutingSettings

VALID_DAYS = 30
# The stage a sent proposal moves its deal to, when the pipeline has it and the deal is before it.
PROPOSAL_STAGE = "Proposal sent"
DEFAULT_TERMS = (
    "Prices are for the work described above. We agree a start date with you once you accept; "
    "invoices are payable within 30 days. Either side may end the service with 30 days' "
    "notice in writing."
)
MAX_QUANTITY = Decimal("99999999.99")
MAX_PRICE = Decimal("999999999999.99")
CENT = Decimal("0.01")


class ProposalError(ValueError):
    """A proposal verb that cannot be done as asked; the message says why, for the person."""


@dataclass(frozen=True)
class Line:
    """A line as typed, before it is stored."""

    description: str
    quantity: Decimal
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(CENT)


def public_url(proposal: Proposal) -> str:
    return settings.SITE_URL + reverse("crm:proposal_public", args=[proposal.token])


def business_name() -> str:
    return RoutingSettings.current().business_name


def is_expired(proposal: Proposal, today: date | None = None) -> bool:
    """Valid through the whole of its valid-until day (in the business's time zone)."""
    today = today or timezone.localdate()
    return proposal.valid_until is not None and proposal.valid_until < today


def expected_name(lead: Lead) -> str:
    """The name an acceptance must be typed as; empty when the lead's full name is unknown."""
    if not (lead.first_name.strip() and lead.last_name.strip()):
        return ""
    return " ".join(f"{lead.first_name} {lead.last_name}".split())


def _same_name(typed: str, expected: str) -> bool:
    def normal(name: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", name).casefold().split())

    return normal(typed) == normal(expected)


# --- the rep's side ---------------------------------------------------------------------------


def draft(deal: Deal, *, by: AbstractBaseUser | None, title: str = "") -> Proposal:
    """A new draft from the deal: its title (unless one is given), one line for the deal's
    value, the usual terms, valid for 30 days."""
    with transaction.atomic():
        proposal = Proposal.objects.create(
            deal=deal,
            title=(title.strip() or deal.title)[:200],
            terms=DEFAULT_TERMS,
            valid_until=timezone.localdate() + timedelta(days=VALID_DAYS),
            total=deal.value,
        )
        proposal.lines.create(description=deal.title, quantity=1, unit_price=deal.value)
        core.record_event(
            deal.lead,
            "proposal.drafted",
            {"proposal": proposal.pk, "deal": deal.pk, "title": proposal.title},
            actor=services.actor_name(by),
        )
    return proposal


def save_lines(proposal: Proposal, lines: Iterable[Line]) -> Proposal:
    """Replace a draft's lines and store their total, exactly (Decimal, to the cent)."""
    lines = list(lines)
    for number, line in enumerate(lines, start=1):
        _check_line(number, line)
    rows = [
        ProposalLine(
            proposal=proposal,
            description=line.description.strip(),
            quantity=line.quantity,
            unit_price=line.unit_price,
            position=position,
        )
        for position, line in enumerate(lines)
    ]
    with transaction.atomic():
        _check_draft(_locked(proposal), "changed")
        proposal.lines.all().delete()
        ProposalLine.objects.bulk_create(rows)
        proposal.total = total_of(rows)
        Proposal.objects.filter(pk=proposal.pk).update(total=proposal.total)
    return proposal


def total_of(lines: Iterable[Line | ProposalLine]) -> Decimal:
    return sum((line.amount for line in lines), Decimal("0.00"))


def _check_line(number: int, line: Line) -> None:
    description = line.description.strip()
    if not description:
        raise ProposalError(f"Line {number} needs a description.")
    if len(description) > 300:
        raise ProposalError(f"Line {number}: the description is longer than 300 characters.")
    if not (line.quantity.is_finite() and line.unit_price.is_finite()):
        raise ProposalError(f"Line {number}: the quantity and price must be numbers.")
    if line.quantity <= 0:
        raise ProposalError(f"Line {number}: the quantity must be more than 0.")
    if line.unit_price < 0:
        raise ProposalError(f"Line {number}: the price cannot be negative.")
    if line.quantity > MAX_QUANTITY or line.unit_price > MAX_PRICE:
        raise ProposalError(f"Line {number}: the quantity or price is too large.")
    if not (_in_cents(line.quantity) and _in_cents(line.unit_price)):
        raise ProposalError(f"Line {number}: use at most two decimal places.")


def _in_cents(value: Decimal) -> bool:
    return value == value.quantize(CENT)


def _check_draft(proposal: Proposal, verb: str) -> None:
    if proposal.status != ProposalStatus.DRAFT:
        raise ProposalError(not_a_draft(proposal, verb))


def not_a_draft(proposal: Proposal, verb: str) -> str:
    """Why only a draft can be `verb` (changed, sent), for the person who tried."""
    return (
        f"This proposal is {proposal.get_status_display().lower()} and cannot be {verb}: "
        "make a new one instead."
    )


def send(proposal: Proposal, *, by: AbstractBaseUser | None) -> Proposal:
    """1. Only a draft with lines, a future valid-until date and a lead with an email.
    2. Mark it sent, email the lead its link (transactional: it was asked for).
    3. Write "proposal.sent" (the follow-up workflow starts on it) and keep the link on the
       lead as `proposal_url`, the field workflow emails can quote.
    4. Move the deal to "Proposal sent" if its pipeline has that stage ahead of the deal."""
    with transaction.atomic():
        proposal = _locked(proposal)
        deal = proposal.deal
        lead = Lead.objects.select_for_update().get(pk=deal.lead_id)
        _check_draft(proposal, "sent again")
        if not proposal.lines.exists():
            raise ProposalError("Add at least one line before sending.")
        if is_expired(proposal):
            raise ProposalError("The valid-until date has passed: set a later one.")
        if not lead.email:
            raise ProposalError("The lead has no email address to send the proposal to.")
        proposal.status, proposal.sent_at = ProposalStatus.SENT, timezone.now()
        proposal.save(update_fields=["status", "sent_at"])
        link = public_url(proposal)
        _email_link(proposal, lead, link)
        lead.custom_fields["proposal_url"] = link
        Lead.objects.filter(pk=lead.pk).update(custom_fields=lead.custom_fields)
        core.record_event(
            lead,
            "proposal.sent",
            {"proposal": proposal.pk, "deal": deal.pk, "total": str(proposal.total), "url": link},
            actor=services.actor_name(by),
            occurred_at=proposal.sent_at,
        )
        _advance(deal, by)
        services.touch_deals(lead.pk, proposal.sent_at)
    return proposal


def _locked(proposal: Proposal) -> Proposal:
    return (
        Proposal.objects.select_for_update(of=("self",))
        .select_related("deal__lead", "deal__stage", "deal__owner")
        .get(pk=proposal.pk)
    )


def _email_link(proposal: Proposal, lead: Lead, link: str) -> None:
    owner = proposal.deal.owner or lead.owner
    signature = (owner.get_full_name() or owner.get_username()) if owner else ""
    business = business_name()
    valid = f" It is valid until {proposal.valid_until:%d %B %Y}." if proposal.valid_until else ""
    body = (
        f"Hi {lead.first_name or 'there'},\n\n"
        f"Here is our proposal, {proposal.title}, for a total of {proposal.total:,.2f}.{valid}\n\n"
        f"Read it and accept it online: {link}\n\n"
        "If anything is unclear or you would like a change, just reply to this email.\n\n"
        f"{signature}\n{business}".strip()
    )
    outbox.queue(
        lead,
        "email",
        lead.email,
        body,
        subject=f"Your proposal from {business}: {proposal.title}",
        kind="proposal.sent",
        to_lead=True,
        origin=f"proposal {proposal.pk}",
        key=f"proposal-{proposal.pk}-sent",
    )


def _advance(deal: Deal, by: AbstractBaseUser | None) -> None:
    stage = deal.pipeline.stages.filter(name=PROPOSAL_STAGE, outcome=StageOutcome.OPEN).first()
    if stage and deal.stage.is_open and stage.position > deal.stage.position:
        services.move_deal(deal, stage, by=by)


def withdraw(proposal: Proposal, *, by: AbstractBaseUser | None) -> Proposal:
    """Take back a draft or a sent proposal: its link stops working."""
    with transaction.atomic():
        proposal = _locked(proposal)
        if proposal.status not in (ProposalStatus.DRAFT, ProposalStatus.SENT):
            raise ProposalError(
                f"This proposal is already {proposal.get_status_display().lower()}."
            )
        proposal.status = ProposalStatus.WITHDRAWN
        proposal.save(update_fields=["status"])
        core.record_event(
            proposal.deal.lead,
            "proposal.withdrawn",
            {"proposal": proposal.pk, "deal": proposal.deal_id},
            actor=services.actor_name(by),
        )
    return proposal


# --- the customer's side ----------------------------------------------------------------------


def record_view(proposal: Proposal, ip: str | None, user_agent: str) -> Proposal:
    """Count an opening of a sent proposal. The first one is the news the rep waits for: it
    writes "proposal.viewed" and counts as activity on the deal. (The view leaves out the
    workspace's own people before calling this.)"""
    now = timezone.now()
    with transaction.atomic():
        counted = Proposal.objects.filter(pk=proposal.pk, status=ProposalStatus.SENT).update(
            view_count=F("view_count") + 1
        )
        first = Proposal.objects.filter(
            pk=proposal.pk, status=ProposalStatus.SENT, first_viewed_at__isnull=True
        ).update(first_viewed_at=now)
        if first:
            lead = proposal.deal.lead
            core.record_event(
                lead,
                "proposal.viewed",
                {
                    "proposal": proposal.pk,
                    "deal": proposal.deal_id,
                    "ip": ip,
                    "user_agent": user_agent[:500],
                },
                occurred_at=now,
            )
            services.touch_deals(lead.pk, now)
    if counted:
        proposal.refresh_from_db(fields=["view_count", "first_viewed_at"])
    return proposal


def accept(proposal: Proposal, typed_name: str, ip: str | None, user_agent: str) -> Proposal:
    """1. Lock the proposal; one already accepted is returned as it is (a second click, a
       reload: nothing happens twice).
    2. Only a sent proposal within its validity, signed with the expected name.
    3. Store who signed, when (the server's clock), from where; write "proposal.accepted".
    4. Win the deal: the won stage, a customer, the welcome email, the onboarding tasks."""
    with transaction.atomic():
        proposal = _locked(proposal)
        if proposal.status == ProposalStatus.ACCEPTED:
            return proposal
        _check_open(proposal, "accepted")
        name = " ".join(typed_name.split())
        if not name:
            raise ProposalError("Type your full name to accept.")
        expected = expected_name(proposal.deal.lead)
        if expected and not _same_name(name, expected):
            raise ProposalError(f"Type your full name as shown: {expected}.")
        proposal.status = ProposalStatus.ACCEPTED
        proposal.accepted_at = timezone.now()
        proposal.accepted_name = name[:200]
        proposal.accepted_ip = ip
        proposal.accepted_user_agent = user_agent[:500]
        proposal.save(
            update_fields=[
                "status",
                "accepted_at",
                "accepted_name",
                "accepted_ip",
                "accepted_user_agent",
            ]
        )
        core.record_event(
            proposal.deal.lead,
            "proposal.accepted",
            {
                "proposal": proposal.pk,
                "deal": proposal.deal_id,
                "total": str(proposal.total),
                "name": proposal.accepted_name,
                "ip": ip,
            },
            actor="customer",
            occurred_at=proposal.accepted_at,
        )
        services.win(proposal.deal, by=None)
    return proposal


def decline(proposal: Proposal, reason: str, ip: str | None, user_agent: str) -> Proposal:
    """The customer says no (a reason is welcome, not required); declining twice is one."""
    with transaction.atomic():
        proposal = _locked(proposal)
        if proposal.status == ProposalStatus.DECLINED:
            return proposal
        _check_open(proposal, "declined")
        proposal.status = ProposalStatus.DECLINED
        proposal.declined_at = timezone.now()
        proposal.decline_reason = " ".join(reason.split())[:300]
        proposal.save(update_fields=["status", "declined_at", "decline_reason"])
        core.record_event(
            proposal.deal.lead,
            "proposal.declined",
            {
                "proposal": proposal.pk,
                "deal": proposal.deal_id,
                "reason": proposal.decline_reason,
                "ip": ip,
                "user_agent": user_agent[:500],
            },
            actor="customer",
            occurred_at=proposal.declined_at,
        )
        services.touch_deals(proposal.deal.lead_id, proposal.declined_at)
    return proposal


def _check_open(proposal: Proposal, verb: str) -> None:
    """A customer answers a sent proposal that has not expired."""
    if proposal.status != ProposalStatus.SENT:
        raise ProposalError(
            f"This proposal is {proposal.get_status_display().lower()} and can no longer be {verb}."
        )
    if is_expired(proposal):
        raise ProposalError("This proposal has expired. Ask us for a new one.")
