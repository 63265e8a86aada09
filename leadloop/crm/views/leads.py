"""The lead list, the lead page and the deal page (each the lead's whole story), and the verbs
done from them: log a call, email, text or note, give someone a task, open, move, win, lose
and edit a deal. Every read goes through crm.access; every page that shows a person's details
is written to the access log."""

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from leadloop.compliance.services import log_access
from leadloop.core.models import Event, Lead, LifecycleStage, Quality, Task
from leadloop.crm import access, board, services, story
from leadloop.crm.models import Deal, Meeting
from leadloop.crm.views.common import client_ip, workspace
from leadloop.routing import services as routing
from leadloop.routing.models import ContactChannel, ContactOutcome

LIST_PAGE_SIZE = 50
LOG_KINDS = [*ContactChannel.choices, ("note", "Note")]
# The outcome buttons of each "Log …" row: a click on one logs the attempt (the second click).
CALL_OUTCOMES = [(o, label) for o, label in ContactOutcome.choices if o != ContactOutcome.SENT]
SENT_OUTCOMES = [(ContactOutcome.SENT.value, "Sent"), (ContactOutcome.REACHED.value, "Got a reply")]
# The lead page's "log it in two clicks" rows: kind, button, what the text box asks, outcomes.
CONTACT_LOGS = [
    ("call", "Log call", "What was said", CALL_OUTCOMES),
    ("email", "Log email", "About", SENT_OUTCOMES),
    ("sms", "Log text", "About", SENT_OUTCOMES),
]


# --- forms -----------------------------------------------------------------------------------


class LeadFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    stage = forms.ChoiceField(required=False, choices=[("", "Any stage"), *LifecycleStage.choices])
    owner = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any owner")
    min_score = forms.IntegerField(required=False, label="Score at least")
    quality = forms.ChoiceField(required=False, choices=[("", "Any quality"), *Quality.choices])

    def __init__(self, data, *, user) -> None:
        super().__init__(data)
        self.fields["owner"].queryset = board.owners_for(user)

    def narrow(self, leads: QuerySet[Lead]) -> QuerySet[Lead]:
        """The leads that match the valid filters (a bad value is shown beside its field and
        that filter alone is left out)."""
        self.is_valid()
        values = self.cleaned_data
        if values.get("q"):
            term = values["q"].strip()
            leads = leads.filter(
                Q(first_name__icontains=term)
                | Q(last_name__icontains=term)
                | Q(email__icontains=term)
                | Q(phone__icontains=term)
                | Q(company__name__icontains=term)
            )
        if values.get("stage"):
            leads = leads.filter(lifecycle_stage=values["stage"])
        if values.get("owner"):
            leads = leads.filter(owner=values["owner"])
        if values.get("min_score") is not None:
            leads = leads.filter(score__gte=values["min_score"])
        if values.get("quality"):
            leads = leads.filter(quality=values["quality"])
        return leads


class LogForm(forms.Form):
    kind = forms.ChoiceField(choices=LOG_KINDS)
    outcome = forms.ChoiceField(choices=ContactOutcome.choices, required=False)
    text = forms.CharField(required=False, max_length=5000)

    def clean(self) -> dict:
        values = super().clean()
        kind = values.get("kind")
        if kind == "note" and not values.get("text", "").strip():
            raise forms.ValidationError("A note needs some text.")
        if kind in ContactChannel.values and not values.get("outcome"):
            raise forms.ValidationError("Choose how it went.")
        return values


class TaskForm(forms.Form):
    title = forms.CharField(max_length=200)
    due = forms.DateTimeField(input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"])
    owner = forms.ModelChoiceField(queryset=None, required=False, empty_label="Me")

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = board.owners_for(user)


class DealOpenForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    value = forms.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0"), required=False
    )


class DealEditForm(forms.ModelForm):
    value = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"))

    class Meta:
        model = Deal
        fields = ["title", "value", "expected_close", "owner"]
        widgets = {"expected_close": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = board.owners_for(user)


# --- helpers ---------------------------------------------------------------------------------


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _lead(request: HttpRequest, pk: int) -> Lead:
    """The lead with what its page shows of it, if this person may see it (a 404 otherwise)."""
    leads = access.visible_leads(request.user).select_related("company", "source", "owner")
    return get_object_or_404(leads, pk=pk)


def _deal(request: HttpRequest, pk: int) -> Deal:
    deals = access.visible_deals(request.user).select_related(
        "stage", "pipeline", "owner", "lead__company", "lead__source", "lead__owner"
    )
    return get_object_or_404(deals, pk=pk)


def _errors_of(form: forms.Form) -> str:
    return " ".join(
        message if name == "__all__" else f"{form.fields[name].label or name}: {message}"
        for name, errors in form.errors.items()
        for message in errors
    )


def _refused(request: HttpRequest, message: str, back: str) -> HttpResponse:
    """A request that cannot be done as asked: a 400 saying why (as text to an htmx form,
    which shows it beside itself; as a page with a way back otherwise)."""
    if _is_htmx(request):
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    context = {"message": message, "back": back}
    return render(request, "crm/leads/refused.html", context, status=400)


def _back(request: HttpRequest, default: str) -> str:
    """Where a form asked to return to (a page of this site), else `default`."""
    wanted = request.POST.get("back", "")
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return wanted if wanted and safe else default


def _story_context(request: HttpRequest, lead: Lead) -> dict:
    lead_story = story.lead_story(lead, request.user)
    return {
        "story": lead_story,
        "lead": lead,
        "zone": lead_story.zone,
        "contact_logs": CONTACT_LOGS,
        "task_form": TaskForm(user=request.user, auto_id="task-%s"),
    }


# --- pages -----------------------------------------------------------------------------------


@require_GET
@workspace
def lead_list(request: HttpRequest) -> HttpResponse:
    form = LeadFilterForm(request.GET, user=request.user)
    leads = form.narrow(access.visible_leads(request.user)).select_related("company", "owner")
    page = Paginator(leads.order_by("-captured_at", "-pk"), LIST_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    if page.object_list:
        log_access(request.user, "lead list", count=len(page.object_list), ip=client_ip(request))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"page": page, "form": form, "query": query.urlencode()}
    return render(request, "crm/leads/list.html", context)


@require_GET
@workspace
def lead_page(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(request, pk)
    log_access(request.user, "lead page", lead=lead, ip=client_ip(request))
    return render(request, "crm/leads/lead.html", _story_context(request, lead))


@require_GET
@workspace
def deal_page(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _deal(request, pk)
    lead = deal.lead
    log_access(request.user, "lead page", lead=lead, ip=client_ip(request))
    context = _story_context(request, lead) | {
        "deal": deal,
        "stages": list(deal.pipeline.stages.all()),
        "deal_meetings": list(Meeting.objects.filter(deal=deal).select_related("host")),
        "proposals": list(deal.proposals.all()),
        "edit_form": DealEditForm(instance=deal, user=request.user),
    }
    return render(request, "crm/leads/deal.html", context)


@require_GET
@workspace
def lead_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    """Older events, for the timeline's "show older" (`before` is the oldest event shown)."""
    lead = _lead(request, pk)
    before_id = request.GET.get("before", "")
    before = (
        Event.objects.filter(lead=lead, pk=int(before_id)).first() if before_id.isdigit() else None
    )
    if before is None:
        return HttpResponse("before must be an event of this lead.", status=400)
    entries, has_older = story.timeline(lead, before)
    zone = story.zone_of(request.user)
    context = {"lead": lead, "entries": entries, "has_older": has_older, "zone": zone}
    return render(request, "crm/leads/entries.html", context)


# --- verbs on a lead -------------------------------------------------------------------------


@require_POST
@workspace
def lead_log(request: HttpRequest, pk: int) -> HttpResponse:
    """Log a call, email or text (a contact attempt: the first one stops the SLA clock) or a
    note. An htmx form gets the refreshed timeline, contact attempts and next best action."""
    lead = _lead(request, pk)
    page = reverse("crm:lead", args=[lead.pk])
    form = LogForm(request.POST)
    if not form.is_valid():
        return _refused(request, _errors_of(form), page)
    kind, text = form.cleaned_data["kind"], form.cleaned_data["text"].strip()
    if kind == "note":
        services.add_note(lead, text, by=request.user)
    else:
        routing.log_contact_attempt(
            lead, request.user, kind, form.cleaned_data["outcome"], note=text
        )
    if not _is_htmx(request):
        messages.success(request, "Logged.")
        return redirect(_back(request, page))
    lead.refresh_from_db(fields=["first_contact_at"])
    return render(request, "crm/leads/logged.html", _story_context(request, lead))


@require_POST
@workspace
def lead_task(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(request, pk)
    page = reverse("crm:lead", args=[lead.pk])
    # A due time typed without a zone is the person's own local time.
    with timezone.override(story.zone_of(request.user)):
        form = TaskForm(request.POST, user=request.user)
        valid = form.is_valid()
    if not valid:
        return _refused(request, _errors_of(form), page)
    values = form.cleaned_data
    services.add_task(
        lead,
        values["title"],
        due_at=values["due"],
        owner=values["owner"] or request.user,
        by=request.user,
    )
    messages.success(request, f"Task “{values['title']}” added.")
    return redirect(_back(request, page))


@require_POST
@workspace
def task_done(request: HttpRequest, pk: int) -> HttpResponse:
    """Tick off a task: only one on a lead this person may see."""
    task = get_object_or_404(
        Task.objects.select_related("lead").filter(lead__in=access.visible_leads(request.user)),
        pk=pk,
    )
    services.complete_task(task, by=request.user)
    messages.success(request, f"Done: {task.title}")
    return redirect(_back(request, reverse("crm:lead", args=[task.lead_id])))


@require_POST
@workspace
def deal_open(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _lead(request, pk)
    page = reverse("crm:lead", args=[lead.pk])
    form = DealOpenForm(request.POST)
    if not form.is_valid():
        return _refused(request, _errors_of(form), page)
    try:
        deal = services.open_deal(
            lead,
            title=form.cleaned_data["title"],
            value=form.cleaned_data["value"] or Decimal("0.00"),
            by=request.user,
        )
    except services.DealError as refusal:
        return _refused(request, str(refusal), page)
    messages.success(request, f"Deal “{deal.title}” opened.")
    return redirect("crm:deal", pk=deal.pk)


# --- verbs on a deal -------------------------------------------------------------------------


def _deal_verb(request: HttpRequest, pk: int, verb) -> HttpResponse:
    """Do `verb(deal)` and return to the deal page; a DealError is a 400 saying why."""
    deal = _deal(request, pk)
    page = reverse("crm:deal", args=[deal.pk])
    try:
        done = verb(deal)
    except services.DealError as refusal:
        return _refused(request, str(refusal), page)
    messages.success(request, done)
    return redirect(page)


@require_POST
@workspace
def deal_stage(request: HttpRequest, pk: int) -> HttpResponse:
    def move(deal: Deal) -> str:
        stage_pk = request.POST.get("stage", "")
        stage = stage_pk.isdigit() and deal.pipeline.stages.filter(pk=int(stage_pk)).first()
        if not stage:
            raise services.DealError("Choose one of this pipeline's stages.")
        services.move_deal(deal, stage, by=request.user, reason=request.POST.get("reason", ""))
        return f"Moved to {stage.name}."

    return _deal_verb(request, pk, move)


@require_POST
@workspace
def deal_win(request: HttpRequest, pk: int) -> HttpResponse:
    def win(deal: Deal) -> str:
        services.win(deal, by=request.user)
        return "Won. The customer gets the welcome email and the onboarding tasks are made."

    return _deal_verb(request, pk, win)


@require_POST
@workspace
def deal_lose(request: HttpRequest, pk: int) -> HttpResponse:
    def lose(deal: Deal) -> str:
        services.lose(deal, request.POST.get("reason", ""), by=request.user)
        return "Marked as lost."

    return _deal_verb(request, pk, lose)


@require_POST
@workspace
def deal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    def edit(deal: Deal) -> str:
        form = DealEditForm(request.POST, instance=deal, user=request.user)
        if not form.is_valid():
            raise services.DealError(_errors_of(form))
        form.save()
        return "Saved."

    return _deal_verb(request, pk, edit)


urlpatterns = [
    path("app/leads/", lead_list, name="leads"),
    path("app/leads/<int:pk>/", lead_page, name="lead"),
    path("app/leads/<int:pk>/log", lead_log, name="lead_log"),
    path("app/leads/<int:pk>/tasks", lead_task, name="lead_task"),
    path("app/leads/<int:pk>/deals", deal_open, name="deal_open"),
    path("app/leads/<int:pk>/timeline", lead_timeline, name="lead_timeline"),
    path("app/tasks/<int:pk>/done", task_done, name="task_done"),
    path("app/deals/<int:pk>/", deal_page, name="deal"),
    path("app/deals/<int:pk>/stage", deal_stage, name="deal_stage"),
    path("app/deals/<int:pk>/win", deal_win, name="deal_win"),
    path("app/deals/<int:pk>/lose", deal_lose, name="deal_lose"),
    path("app/deals/<int:pk>/edit", deal_edit, name="deal_edit"),
]
