"""The weekly digest: seed 000's fifteen-minute weekly review, brought to the people who run it.

Every Monday from 07:00 UTC (LEADLOOP_DIGEST_WEEKDAY, 0 = Monday, and LEADLOOP_DIGEST_HOUR) each
active admin and sales manager with an email address gets last week against the week before:
the headline figure of each KPI dimension with its on/off-target state, the funnel's MQL->SQL
rate, the leads stuck past their speed-to-lead deadline, the stalled deals they can see, and a
link to the dashboard. The outbox key names the ISO week and the person, so the hourly sweep
can run as often as it likes and a week is still sent once per person."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from leadloop.analytics import funnel as funnels
from leadloop.analytics import kpis
from leadloop.analytics.cards import Card, card_of, shown
from leadloop.core import outbox
from leadloop.core.models import Message
from leadloop.crm import access, board

KIND = "digest.weekly"
# The one figure per dimension a weekly glance needs; the dashboard has the rest.
HEADLINES = ("leads", "cpl", "speed_to_contact", "qualification_rate", "proposals",
             "deals_closed", "revenue", "romi")  # fmt: skip


@dataclass(frozen=True)
class Digest:
    """One recipient's week, ready for the email templates."""

    week: str  # "2026-W10"
    start: date
    end: date
    cards: list[Card]
    mql_to_sql: str
    stuck_past_sla: int
    stalled_deals: int
    dashboard_url: str


def recipients() -> list[AbstractBaseUser]:
    """Active admins (superusers included) and sales managers with an email address."""
    roles = Q(groups__name__in=(access.Role.ADMIN, access.Role.MANAGER)) | Q(is_superuser=True)
    people = get_user_model().objects.filter(roles, is_active=True).exclude(email="")
    return list(people.distinct().order_by("pk"))


def digest_for(user: AbstractBaseUser, today: date, now: datetime) -> Digest:
    """The seven days before `today` against the seven before those, as `user` may see them."""
    filters = kpis.Filters(start=today - timedelta(days=7), end=today - timedelta(days=1))
    dashboard = kpis.dashboard(filters)
    funnel = funnels.funnel(filters)
    year, week, _ = filters.end.isocalendar()
    return Digest(
        week=f"{year}-W{week:02d}",
        start=filters.start,
        end=filters.end,
        cards=[card_of(dashboard.by_key[key]) for key in HEADLINES if key in dashboard.by_key],
        mql_to_sql=shown(funnel.mql_to_sql, "percent"),
        stuck_past_sla=funnel.stuck_past_sla,
        stalled_deals=board.stalled_deals(user, now).count(),
        dashboard_url=settings.SITE_URL + reverse("analytics:dashboard"),
    )


def queue_digest(user: AbstractBaseUser, digest: Digest) -> bool:
    """Write the email to the outbox; False when this person's week was written already."""
    key = f"digest-{digest.week}-{user.pk}"
    if Message.objects.filter(key=key).exists():
        return False
    context = {"digest": digest, "user": user}
    outbox.queue(
        None,
        "email",
        user.email,
        render_to_string("analytics/digest_email.txt", context),
        kind=KIND,
        to_lead=False,
        subject=f"Your week in leads: {_day(digest.start)} to {_day(digest.end)}",
        html=render_to_string("analytics/digest_email.html", context),
        key=key,
    )
    return True


def _day(day: date) -> str:
    return f"{day:%b} {day.day}"


def is_digest_time(now: datetime) -> bool:
    """Monday (or the configured weekday) from the configured hour, UTC, to the day's end."""
    weekday = settings.LEADLOOP_DIGEST_WEEKDAY
    hour = settings.LEADLOOP_DIGEST_HOUR
    moment = now.astimezone(UTC)
    return moment.weekday() == weekday and moment.hour >= hour


def send_weekly_digest() -> int:
    """The sweep: in the digest window, queue each recipient's digest not yet queued this
    week, and say how many were queued (0 on a second run the same week)."""
    now = timezone.now()
    if not is_digest_time(now):
        return 0
    today = now.astimezone(UTC).date()
    queued = 0
    for user in recipients():
        digest = digest_for(user, today, now)
        with transaction.atomic():
            queued += queue_digest(user, digest)
    return queued
