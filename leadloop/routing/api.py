"""Routing's API for the people who work leads (and their dialers and inboxes): log a contact
attempt, which stops the first-contact clock, and hand a lead to someone else with a reason.
Signed-in users only (the session cookie, with Django's CSRF check); a rep may act on their
own leads, staff on any."""

from datetime import datetime
from typing import Literal

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from ninja.security import django_auth
from pydantic import Field, field_validator

from leadloop.core.models import Lead
from leadloop.routing import services
from leadloop.routing.models import CLOCK_SKEW, ContactChannel, ContactOutcome

router = Router(tags=["routing"])


class AttemptIn(Schema):
    channel: Literal[tuple(ContactChannel.values)]  # type: ignore[valid-type]
    outcome: Literal[tuple(ContactOutcome.values)]  # type: ignore[valid-type]
    note: str = Field(default="", max_length=5000)
    attempted_at: datetime | None = None

    @field_validator("attempted_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value > timezone.now() + CLOCK_SKEW:
            raise ValueError("an attempt cannot be in the future")
        return value


class AttemptOut(Schema):
    id: int
    lead: int
    channel: str
    outcome: str
    attempted_at: datetime
    first_contact_at: datetime | None


class OwnerIn(Schema):
    owner: str = Field(description="The new owner's username", max_length=150)
    why: str = Field(min_length=1, max_length=300)


class OwnerOut(Schema):
    lead: int
    owner: str
    assigned_at: datetime


class ErrorsOut(Schema):
    errors: list[dict]


def _error(status: int, message: str, field: str | None = None) -> Status:
    return Status(status, {"errors": [{"field": field, "message": message}]})


def _workable(request: HttpRequest, lead_id: int) -> Lead | None:
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is None or not (request.auth.is_staff or lead.owner_id == request.auth.pk):
        return None
    return lead


@router.post(
    "/leads/{lead_id}/contact-attempts",
    auth=django_auth,
    response={201: AttemptOut, 404: ErrorsOut},
    summary="Log a call, email or SMS to a lead and its outcome",
    description="The first attempt stops the lead's first-contact SLA clock.",
)
def log_attempt(request: HttpRequest, lead_id: int, attempt: AttemptIn):
    lead = _workable(request, lead_id)
    if lead is None:
        return _error(404, f"No lead {lead_id} of yours.")
    logged = services.log_contact_attempt(
        lead, request.auth, attempt.channel, attempt.outcome, attempt.note, attempt.attempted_at
    )
    lead.refresh_from_db(fields=["first_contact_at"])
    return Status(
        201,
        {
            "id": logged.pk,
            "lead": lead.pk,
            "channel": logged.channel,
            "outcome": logged.outcome,
            "attempted_at": logged.attempted_at,
            "first_contact_at": lead.first_contact_at,
        },
    )


@router.post(
    "/leads/{lead_id}/owner",
    auth=django_auth,
    response={200: OwnerOut, 404: ErrorsOut, 422: ErrorsOut},
    summary="Give a lead to another owner, with the reason",
)
def change_owner(request: HttpRequest, lead_id: int, change: OwnerIn):
    lead = _workable(request, lead_id)
    if lead is None:
        return _error(404, f"No lead {lead_id} of yours.")
    users = get_user_model().objects.filter(is_active=True)
    owner = users.filter(**{get_user_model().USERNAME_FIELD: change.owner}).first()
    if owner is None:
        return _error(422, f"No active user {change.owner!r}.", "owner")
    assignment = services.reassign(lead, owner, by=request.auth.get_username(), why=change.why)
    return Status(
        200, {"lead": lead.pk, "owner": owner.get_username(), "assigned_at": assignment.assigned_at}
    )
