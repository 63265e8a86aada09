"""My day: a person's open tasks (overdue, due today, upcoming), their leads still waiting for a
first contact with its SLA due time, their meetings today and how many of their deals have
stalled. "Today" is the person's own day, in their rep profile's time zone. A manager (or an
admin) can look at the day of anyone they see."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET

from leadloop.core.models import Lead, Quality, Task
from leadloop.crm import access, board, story
from leadloop.crm.models import Meeting, MeetingStatus
from leadloop.crm.views.common import workspace
from leadloop.routing.models import TimerStatus

SHOWN = 50


@dataclass
class Day:
    person: AbstractBaseUser
    zone: ZoneInfo
    now: datetime
    overdue: list[Task]
    today: list[Task]
    upcoming: list[Task]
    waiting: list[Lead]
    waiting_count: int
    meetings: list[Meeting]
    stalled_count: int


def day_bounds(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Midnight to midnight of `now`'s date in `zone`, as aware times."""
    start = timezone.localtime(now, zone).replace(hour=0, minute=0, second=0, microsecond=0)
    # A day is not always 24 hours (daylight saving): tomorrow's midnight is found by its date.
    tomorrow = (start + timedelta(days=1, hours=12)).date()
    end = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone)
    return start, end


def _waiting_leads(person: AbstractBaseUser):
    """Their leads nobody has contacted yet, the soonest SLA due first."""
    leads = (
        Lead.objects.filter(owner=person, first_contact_at__isnull=True, merged_at__isnull=True)
        .exclude(lifecycle_stage__in=story.SETTLED)
        .exclude(quality=Quality.INVALID)
        .select_related("company")
        .annotate(
            sla_due_at=Min("sla_timers__due_at", filter=Q(sla_timers__status=TimerStatus.PENDING))
        )
    )
    return leads.order_by(F("sla_due_at").asc(nulls_last=True), "-captured_at")


def day_of(viewer: AbstractBaseUser, person: AbstractBaseUser, now: datetime) -> Day:
    zone = story.zone_of(person)
    start, end = day_bounds(now, zone)
    tasks = Task.objects.filter(owner=person, done_at__isnull=True).select_related("lead")
    waiting = _waiting_leads(person)
    stalled = board.stalled_deals(viewer, now).filter(
        Q(owner=person) | Q(owner__isnull=True, lead__owner=person)
    )
    return Day(
        person=person,
        zone=zone,
        now=now,
        overdue=list(tasks.filter(due_at__lt=now)[:SHOWN]),
        today=list(tasks.filter(due_at__gte=now, due_at__lt=end)[:SHOWN]),
        upcoming=list(tasks.filter(due_at__gte=max(now, end))[:SHOWN]),
        waiting=list(waiting[:SHOWN]),
        waiting_count=waiting.count(),
        meetings=list(
            Meeting.objects.filter(host=person, starts_at__gte=start, starts_at__lt=end)
            .exclude(status=MeetingStatus.CANCELLED)
            .select_related("lead")
        ),
        stalled_count=stalled.count(),
    )


def _switchable(viewer: AbstractBaseUser) -> list:
    """Whose day this person may look at besides their own: a manager their teams' reps, an
    admin anyone with a role."""
    if access.role_of(viewer) not in (access.Role.MANAGER, access.Role.ADMIN):
        return []
    return list(board.owners_for(viewer))


def _person(request: HttpRequest, choices: list) -> AbstractBaseUser:
    wanted = request.GET.get("rep", "")
    if not wanted or wanted == str(request.user.pk):
        return request.user
    if not wanted.isdigit() or int(wanted) not in {p.pk for p in choices}:
        raise Http404("No such person in your teams.")
    return get_user_model().objects.get(pk=int(wanted))


@require_GET
@workspace
def my_day(request: HttpRequest) -> HttpResponse:
    choices = _switchable(request.user)
    person = _person(request, choices)
    context = {
        "day": day_of(request.user, person, timezone.now()),
        "choices": choices,
        "is_me": person.pk == request.user.pk,
    }
    return render(request, "crm/day/day.html", context)


urlpatterns = [path("app/day/", my_day, name="day")]
