"""Booking pages: the public page where a lead picks a time (no sign-in), its confirmation and
.ics download; and, in the workspace, a rep's own page link, upcoming meetings (held, no-show,
cancel) and availability."""

import functools
from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from django import forms
from django.contrib import messages
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from leadloop.capture.services import RequestMeta
from leadloop.compliance.services import log_access
from leadloop.crm import access, booking
from leadloop.crm.models import BookingPage, Meeting, MeetingStatus
from leadloop.crm.views.common import client_ip, workspace
from leadloop.routing.models import WEEKDAYS, Rep

UPCOMING_SINCE = timedelta(days=14)  # a meeting this old and still "booked" waits to be marked


@functools.cache
def zone_names() -> list[str]:
    return sorted(available_timezones())


# --- the public page -------------------------------------------------------------------------


class GuestForm(forms.Form):
    starts_at = forms.DateTimeField(
        widget=forms.HiddenInput, error_messages={"required": "Pick a time."}
    )
    name = forms.CharField(max_length=150, label="Your name")
    email = forms.EmailField(max_length=254, label="Email")
    phone = forms.CharField(max_length=40, required=False, label="Phone (optional)")
    note = forms.CharField(
        max_length=2000,
        required=False,
        label="Anything we should know? (optional)",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def _public_page(slug: str) -> BookingPage:
    return get_object_or_404(
        BookingPage.objects.select_related("rep__user", "team"), slug=slug, is_active=True
    )


def _offer(page: BookingPage, zone: ZoneInfo, now: datetime) -> dict[date, list[datetime]]:
    """The free slots from now to the page's horizon, by day in the visitor's time zone."""
    horizon = now + timedelta(days=page.horizon_days)
    by_day = defaultdict(list)
    for start in booking.free_slots(page, (now, horizon), now):
        by_day[start.astimezone(zone).date()].append(start)
    return by_day


def _picker(
    request: HttpRequest, page: BookingPage, zone: ZoneInfo, wanted: str, chosen: str = ""
) -> dict:
    """What the day picker and the slots show: every day to the horizon (those with no free
    time disabled), the wanted day (else the first with a free time) and its slots."""
    now = timezone.now()
    offer = _offer(page, zone, now)
    today = now.astimezone(zone).date()
    days = [today + timedelta(days=n) for n in range(page.horizon_days + 1)]
    try:
        day = date.fromisoformat(wanted)
    except ValueError:
        day = None
    if day not in offer:
        day = day if day in days else next(iter(sorted(offer)), today)
    token = request.GET.get("lead") or request.POST.get("lead", "")
    query = {"tz": zone.key, **({"lead": token} if token else {})}
    return {
        "page": page,
        "zone": zone,
        "token": token,
        "chosen": chosen,
        "day": day,
        "days": [
            {
                "date": d,
                "free": d in offer,
                "query": urlencode({**query, "day": d.isoformat()}),
            }
            for d in days
        ],
        "slots": [(start.isoformat(), start.astimezone(zone)) for start in offer.get(day, [])],
    }


def _context(request: HttpRequest, page: BookingPage, zone: ZoneInfo, **extra) -> dict:
    hosts = booking.hosts_of(page)
    return {
        **_picker(
            request,
            page,
            zone,
            extra.pop("wanted", request.GET.get("day", "")),
            extra.pop("chosen", ""),
        ),
        "hosts": [rep.user.get_full_name() or rep.user.get_username() for rep in hosts],
        "zones": zone_names(),
        # The visitor's own choice; until then the page's script offers the browser's zone.
        "zone_chosen": bool(request.GET.get("tz") or request.POST.get("tz")),
        **extra,
    }


def book_page(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the page. POST: book the chosen time, then the confirmation; a time taken in the
    meantime gets a message and the day's fresh slots (409), bad input its errors (400)."""
    page = _public_page(slug)
    zone = booking.zone_named(
        request.POST.get("tz") or request.GET.get("tz", ""), booking.zone_of_page(page)
    )
    if request.method != "POST":
        return render(
            request, "crm/booking/page.html", _context(request, page, zone, form=GuestForm())
        )
    form = GuestForm(request.POST)
    wanted = request.POST.get("day", "")
    if not form.is_valid():
        context = _context(
            request, page, zone, form=form, wanted=wanted, chosen=request.POST.get("starts_at", "")
        )
        return render(request, "crm/booking/page.html", context, status=400)
    values = form.cleaned_data
    guest = booking.Guest(values["name"], values["email"], values["phone"], values["note"], zone)
    meta = RequestMeta(
        client_ip(request), request.headers.get("User-Agent", ""), request.headers.get("Origin", "")
    )
    try:
        meeting = booking.book(
            page, values["starts_at"], guest, token=request.POST.get("lead", ""), meta=meta
        )
    except booking.SlotTaken as taken:
        context = _context(request, page, zone, form=form, wanted=wanted, taken=str(taken))
        return render(request, "crm/booking/page.html", context, status=409)
    except booking.BookingError as error:
        form.add_error(None, str(error))
        context = _context(request, page, zone, form=form, wanted=wanted)
        return render(request, "crm/booking/page.html", context, status=400)
    confirmation = reverse("crm:booked", args=[meeting.uid])
    return redirect(f"{confirmation}?{urlencode({'tz': zone.key})}")


def book_slots(request: HttpRequest, slug: str) -> HttpResponse:
    """The day picker and the chosen day's slots (htmx swaps them in)."""
    page = _public_page(slug)
    zone = booking.zone_named(request.GET.get("tz", ""), booking.zone_of_page(page))
    return render(
        request, "crm/booking/picker.html", _picker(request, page, zone, request.GET.get("day", ""))
    )


def _meeting_by_uid(uid: str) -> Meeting:
    return get_object_or_404(
        Meeting.objects.select_related("lead", "host", "booking_page"), uid=uid
    )


def booked(request: HttpRequest, uid: str) -> HttpResponse:
    """The confirmation, in the visitor's time zone. The uid (64 random hex digits) is the key:
    only the person who booked has it."""
    meeting = _meeting_by_uid(uid)
    page = meeting.booking_page
    default = booking.zone_of_page(page) if page else booking.UTC_ZONE
    zone = booking.zone_named(request.GET.get("tz", ""), default)
    context = {
        "meeting": meeting,
        "starts": meeting.starts_at.astimezone(zone),
        "ends": meeting.ends_at.astimezone(zone),
        "zone": zone,
        "host": meeting.host.get_full_name() or meeting.host.get_username(),
    }
    return render(request, "crm/booking/booked.html", context)


def meeting_ics(request: HttpRequest, uid: str) -> HttpResponse:
    """ "Add to calendar": the meeting as an .ics file to open in any calendar."""
    meeting = _meeting_by_uid(uid)
    response = HttpResponse(
        booking.ics(meeting, method="PUBLISH"), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="meeting.ics"'
    return response


# --- the rep's own booking -------------------------------------------------------------------


class AvailabilityForm(forms.Form):
    time_zone = forms.ChoiceField(label="Time zone")
    work_days = forms.MultipleChoiceField(
        choices=[(day, day) for day in WEEKDAYS],
        widget=forms.CheckboxSelectMultiple,
        label="Working days",
        error_messages={"required": "Pick at least one working day."},
    )
    work_starts = forms.TimeField(label="From", widget=forms.TimeInput(attrs={"type": "time"}))
    work_ends = forms.TimeField(
        label="To",
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text="Earlier than the start for a night shift; the same for the whole day",
    )
    meeting_minutes = forms.IntegerField(
        min_value=5, max_value=480, label="Meeting length (minutes)"
    )
    buffer_minutes = forms.IntegerField(
        min_value=0, max_value=240, label="Buffer around meetings (minutes)"
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(name, name) for name in zone_names()]


def _initial(rep: Rep | None, page: BookingPage | None) -> dict:
    rep = rep or Rep()
    page = page or BookingPage()
    return {
        "time_zone": rep.time_zone,
        "work_days": [day.strip() for day in rep.work_days.split(",") if day.strip()],
        "work_starts": rep.work_starts,
        "work_ends": rep.work_ends,
        "meeting_minutes": page.meeting_minutes,
        "buffer_minutes": page.buffer_minutes,
    }


def _save_availability(user, values: dict) -> None:
    """The person's working hours on their Rep, and length and buffer on their own page; both
    are made on the first save (the page's address from the username)."""
    rep, _ = Rep.objects.get_or_create(user=user)
    rep.time_zone = values["time_zone"]
    rep.work_days = ",".join(values["work_days"])
    rep.work_starts, rep.work_ends = values["work_starts"], values["work_ends"]
    rep.save(update_fields=["time_zone", "work_days", "work_starts", "work_ends"])
    page = BookingPage.objects.filter(rep=rep).order_by("pk").first()
    if page is None:
        name = user.get_full_name() or user.get_username()
        page = BookingPage(
            rep=rep, slug=_free_slug(user.get_username()), title=f"Book a call with {name}"
        )
    page.meeting_minutes = values["meeting_minutes"]
    page.buffer_minutes = values["buffer_minutes"]
    page.save()


def _free_slug(username: str) -> str:
    base = slugify(username)[:90] or "rep"
    slug, n = base, 1
    while BookingPage.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@workspace
def my_booking(request: HttpRequest) -> HttpResponse:
    user = request.user
    rep = Rep.objects.filter(user=user).first()
    own_page = BookingPage.objects.filter(rep=rep).order_by("pk").first() if rep else None
    form = AvailabilityForm(request.POST or None, initial=_initial(rep, own_page))
    if request.method == "POST":
        if form.is_valid():
            _save_availability(user, form.cleaned_data)
            messages.success(request, "Your availability is saved.")
            return redirect("crm:my_booking")
        status = 400
    else:
        status = 200
    pages = (
        BookingPage.objects.filter(Q(rep__user=user) | Q(team__memberships__rep__user=user))
        .distinct()
        .order_by("pk")
    )
    zone = ZoneInfo(rep.time_zone) if rep else booking.UTC_ZONE
    meetings = list(
        Meeting.objects.filter(
            host=user, status=MeetingStatus.BOOKED, starts_at__gte=timezone.now() - UPCOMING_SINCE
        ).select_related("lead")
    )
    if meetings:
        log_access(user, "booking: upcoming meetings", count=len(meetings), ip=client_ip(request))
    context = {
        "form": form,
        "pages": [(page, booking.booking_link(page)) for page in pages],
        "meetings": [(meeting, meeting.starts_at.astimezone(zone)) for meeting in meetings],
        "zone": zone,
        "now": timezone.now(),
    }
    return render(request, "crm/booking/mine.html", context, status=status)


@workspace
@require_POST
def meeting_mark(request: HttpRequest, pk: int) -> HttpResponse:
    """Held, no-show or cancelled, by the host or anyone who may see the lead."""
    visible = Q(host=request.user) | Q(lead__in=access.visible_leads(request.user))
    meeting = Meeting.objects.filter(visible, pk=pk).first()
    if meeting is None:
        raise Http404("No such meeting.")
    try:
        booking.mark(meeting, request.POST.get("status", ""), by=request.user)
    except booking.BookingError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Marked {MeetingStatus(request.POST['status']).label.lower()}.")
    return redirect("crm:my_booking")


urlpatterns = [
    path("book/<slug:slug>/", book_page, name="book"),
    path("book/<slug:slug>/slots", book_slots, name="book_slots"),
    path("book/meeting/<slug:uid>/", booked, name="booked"),
    path("book/meeting/<slug:uid>.ics", meeting_ics, name="meeting_ics"),
    path("app/booking/", my_booking, name="my_booking"),
    path("app/meetings/<int:pk>/mark", meeting_mark, name="meeting_mark"),
]
