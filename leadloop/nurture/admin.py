"""Nurture in the admin: the workflow editor (a "starts when" form and the steps as an ordered
list of rows, one per step, with the fields its kind needs), its actions (publish, activate,
move enrolled leads to the latest version), its report, a raw JSON view, the ready-made
workflows to install; and the records the engine writes (versions, enrollments, step runs),
read-only, with the email templates (and a preview) and segments, editable.

The editor is plain Django forms: the steps are a formset with an order and a remove box per
row, so it works without JavaScript; a small script only shows each row's fields for its kind
and moves, adds and removes rows. Every save goes through definitions.parse_steps and
parse_trigger, and their errors are shown on the step and field they concern."""

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template import TemplateSyntaxError
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from pydantic import ValidationError as SchemaError

from leadloop.core.admin import ReadOnlyAdmin, ask_before_acting
from leadloop.core.models import Lead, LifecycleStage
from leadloop.nurture import definitions, library, personalise, services
from leadloop.nurture.models import (
    EmailTemplate,
    Enrollment,
    EnrollmentStatus,
    Segment,
    SegmentMember,
    StepRun,
    Workflow,
    WorkflowVersion,
)
from leadloop.nurture.report import condition_text, duration_text, summarise, workflow_report

# --- the steps ----------------------------------------------------------------------------

KINDS = [
    ("send_email", "Send an email"),
    ("send_sms", "Send an SMS"),
    ("wait", "Wait"),
    ("wait_for", "Wait for something to happen"),
    ("branch", "Branch: if … then … else …"),
    ("goal", "Check the goal (leave if met)"),
    ("create_task", "Create a task for the owner"),
    ("notify_owner", "Email the owner"),
    ("set_stage", "Set the lifecycle stage"),
    ("adjust_score", "Add or take away score points"),
    ("set_field", "Set a field"),
    ("tag", "Add or remove tags"),
    ("segment", "Add to or remove from segments"),
    ("webhook", "Call a webhook"),
    ("exit", "Leave the workflow"),
]
DURATION = ["days", "hours", "minutes"]
# The form fields each kind of step uses, in the order they are shown.
USES = {
    "send_email": ["template", "subject", "text", "html"],
    "send_sms": ["text"],
    "wait": DURATION,
    "wait_for": ["event", "where", *DURATION, "on_timeout"],
    "branch": ["condition", "then", "else_"],
    "goal": ["condition"],
    "create_task": ["title", *DURATION],
    "notify_owner": ["text"],
    "set_stage": ["stage", "why"],
    "adjust_score": ["points", "why"],
    "set_field": ["field", "value"],
    "tag": ["add", "remove"],
    "segment": ["add", "remove"],
    "webhook": ["url"],
    "exit": ["reason"],
}
# Where pydantic's field names differ from the form's.
FIELD_OF = {"if": "condition", "else": "else_", "timeout": "days", "due_in": "days", "do": "kind"}
TARGETS = ["next", "then", "else_", "on_timeout"]
CONDITION_HELP = (
    'JSON. A field: {"fact": "custom_fields.square_feet", "op": "gte", "value": 5000}. '
    'Something that happened: {"event": "email.opened", "within_days": 2}. '
    'Combine with {"all": [...]}, {"any": [...]}, {"not": {...}}.'
)


def _text(**attrs) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": 3, "cols": 60, **attrs})


class StepForm(forms.Form):
    """One step as a marketer fills it in: its kind, an optional label other steps can jump to,
    and the fields its kind uses (the rest are hidden by the page's script)."""

    kind = forms.ChoiceField(
        choices=[("", "— choose what this step does —"), *KINDS], required=False
    )
    label = forms.CharField(
        required=False, max_length=50, help_text="A name other steps can go to, e.g. no-answer"
    )
    template = forms.ChoiceField(required=False, help_text="Or write the subject and text here")
    subject = forms.CharField(required=False, max_length=200)
    text = forms.CharField(
        required=False,
        widget=_text(rows=5),
        help_text="{{ lead.first_name }}, {{ owner.name }}, {{ lead.<custom field> }} fill in",
    )
    html = forms.CharField(required=False, widget=_text(), label="HTML (optional)")
    event = forms.CharField(required=False, help_text="e.g. email.clicked, contact.attempted")
    where = forms.CharField(
        required=False,
        widget=_text(rows=1),
        help_text='JSON the event\'s data must contain, e.g. {"outcome": "no_answer"}',
    )
    days = forms.IntegerField(required=False, min_value=0)
    hours = forms.IntegerField(required=False, min_value=0)
    minutes = forms.IntegerField(required=False, min_value=0)
    condition = forms.CharField(required=False, widget=_text(), help_text=CONDITION_HELP)
    then = forms.ChoiceField(required=False, label="If yes, go to")
    else_ = forms.ChoiceField(required=False, label="If no, go to")
    on_timeout = forms.ChoiceField(required=False, label="If it does not happen, go to")
    title = forms.CharField(required=False, max_length=200)
    stage = forms.ChoiceField(required=False, choices=[("", "—"), *LifecycleStage.choices])
    points = forms.IntegerField(required=False)
    why = forms.CharField(required=False, max_length=200)
    field = forms.CharField(required=False, help_text="custom_fields.<name>, first_name, phone…")
    value = forms.CharField(required=False, help_text="Text, or JSON (a number, true, a list)")
    add = forms.CharField(required=False, help_text="Comma-separated")
    remove = forms.CharField(required=False, help_text="Comma-separated")
    url = forms.URLField(required=False, assume_scheme="https")
    reason = forms.CharField(required=False, max_length=100, help_text="Shown in the report")
    next = forms.ChoiceField(required=False, label="Then go to")

    def __init__(self, *args, labels: list[str], templates: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        targets = [("", "the next step"), *((label, label) for label in labels)]
        for name in TARGETS:
            self.fields[name].choices = targets
            self.fields[name].error_messages["invalid_choice"] = (
                "No step is labelled %(value)s: label a step so, or choose another."
            )
        self.fields["next"].choices = [("", "the next step (or the end)"), *targets[1:]]
        self.fields["template"].choices = [("", "—"), *((s, s) for s in templates)]

    def clean_where(self) -> dict:
        return _json_field(self.cleaned_data["where"], dict, "a JSON object, e.g. {}") or {}

    def clean_condition(self) -> Any:
        return _json_field(self.cleaned_data["condition"], dict, "a JSON object")

    def clean_value(self) -> Any:
        raw = self.cleaned_data["value"]
        try:
            return json.loads(raw)
        except ValueError:
            return raw


def _json_field(raw: str, kind: type, what: str) -> Any:
    if not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise ValidationError(f"This is not valid JSON ({error}).") from None
    if not isinstance(value, kind):
        raise ValidationError(f"Write {what}.")
    return value


class BaseStepFormSet(forms.BaseFormSet):
    def steps(self) -> list[tuple[forms.Form, dict]]:
        """The rows that are steps, in their order, each with the step it makes."""
        return [
            (form, to_step(form.cleaned_data))
            for form in self.ordered_forms
            if form.cleaned_data.get("kind") and not self._should_delete_form(form)
        ]


StepFormSet = forms.formset_factory(
    StepForm, formset=BaseStepFormSet, extra=1, can_order=True, can_delete=True
)


def to_step(data: dict) -> dict:
    """A row's fields as the step's JSON: only the fields its kind uses, only those filled."""
    kind = data["kind"]
    step: dict[str, Any] = {"label": data.get("label", "").strip(), "do": kind}
    duration = {unit: data[unit] for unit in DURATION if data.get(unit)}
    for name in USES[kind]:
        value = data.get(name)
        if name in DURATION:
            continue
        if name in ("add", "remove"):
            step[name] = [part.strip() for part in (value or "").split(",") if part.strip()]
        elif name == "condition":
            step["if"] = value
        elif name == "else_":
            step["else"] = value
        elif name == "value":
            step["value"] = value
        elif value not in (None, "", {}):
            step[name] = value
    if kind == "wait":
        step.update(duration)
    elif kind == "wait_for":
        step["timeout"] = duration
    elif kind == "create_task" and duration:
        step["due_in"] = duration
    if data.get("next"):
        step["next"] = data["next"]
    return {key: value for key, value in step.items() if value != "" or key == "value"}


def from_step(step: dict) -> dict:
    """A step's JSON as a row's initial values."""
    data: dict[str, Any] = {"kind": step.get("do", ""), "label": step.get("label", "")}
    for key, value in step.items():
        if key in ("do", "label"):
            continue
        if key in ("timeout", "due_in"):
            data.update(value)
        elif key in ("add", "remove"):
            data[key] = ", ".join(value)
        elif key in ("if", "where"):
            data[FIELD_OF.get(key, key)] = json.dumps(value, ensure_ascii=False)
        elif key == "value":
            data[key] = value if isinstance(value, str) else json.dumps(value)
        else:
            data[FIELD_OF.get(key, key)] = value
    return data


def steps_formset(data, steps: list[dict]) -> StepFormSet:
    """The formset of a workflow's steps; the labels its selects offer are those the rows
    hold (as posted, so a label typed now can be chosen now)."""
    if data is not None:
        labels = [
            value.strip()
            for key, value in data.items()
            if key.startswith("steps-") and key.endswith("-label") and value.strip()
        ]
    else:
        labels = [step["label"] for step in steps if step.get("label")]
    templates = list(EmailTemplate.objects.order_by("slug").values_list("slug", flat=True))
    return StepFormSet(
        data,
        prefix="steps",
        initial=[from_step(step) for step in steps],
        form_kwargs={"labels": list(dict.fromkeys(labels)), "templates": templates},
    )


def check_steps(rows: list[tuple[forms.Form, dict]]) -> list[dict] | None:
    """The steps, or None with each problem added to its row: labels first (duplicates,
    targets that name no step), then everything parse_steps says, by step and field."""
    labelled: dict[str, forms.Form] = {}
    ok = True
    for form, step in rows:
        label = step.get("label")
        if label and label in labelled:
            form.add_error("label", f"Another step is already labelled {label!r}.")
            ok = False
        labelled.setdefault(label, form)
    for form, step in rows:
        for key in ("next", "then", "else", "on_timeout"):
            if step.get(key) and step[key] not in labelled:
                form.add_error(FIELD_OF.get(key, key), f"No step is labelled {step[key]!r}.")
                ok = False
    if not ok:
        return None
    steps = [step for _, step in rows]
    try:
        definitions.parse_steps(steps)
    except SchemaError as error:
        for problem in error.errors():
            where, message = problem["loc"], problem["msg"].removeprefix("Value error, ")
            form, step = rows[where[0]]
            name = FIELD_OF.get(str(where[2]), str(where[2])) if len(where) > 2 else None
            if name not in form.fields or name not in ["kind", *USES[step["do"]]]:
                name = None
            form.add_error(name, message)
        return None
    except ValueError as error:
        rows[0][0].add_error(None, str(error))
        return None
    return steps


# --- the trigger --------------------------------------------------------------------------

TRIGGER_KINDS = [
    ("form_submitted", "A form is submitted"),
    ("event", "Something happens (an event)"),
    ("tag_added", "A tag is added"),
    ("segment_joined", "The lead joins a segment"),
    ("stage_entered", "The lead reaches a lifecycle stage"),
    ("score_crossed", "The score reaches a threshold"),
    ("inactive", "No activity for a number of days"),
    ("date", "A date in the lead's fields comes round"),
]
TRIGGER_USES = {
    "form_submitted": ["form"],
    "event": ["event", "where", "at_least", "within_days"],
    "tag_added": ["tag"],
    "segment_joined": ["segment"],
    "stage_entered": ["stage"],
    "score_crossed": ["at_least"],
    "inactive": ["days"],
    "date": ["field", "offset_days"],
}


class WorkflowForm(forms.ModelForm):
    """The workflow's settings, its trigger as a small form (`t_*` fields), and its steps as a
    formset (built here, checked in clean, shown by the change form template)."""

    trigger_on = forms.ChoiceField(choices=TRIGGER_KINDS, label="Starts when")
    t_form = forms.CharField(
        required=False, label="Form", help_text="The form's slug; empty for any form"
    )
    t_event = forms.CharField(required=False, label="Event", help_text="e.g. webinar.attended")
    t_where = forms.CharField(
        required=False,
        label="Where (JSON)",
        widget=_text(rows=1),
        help_text='What its data must contain, e.g. {"path": "/pricing"}',
    )
    t_at_least = forms.IntegerField(
        required=False, label="At least", help_text="times (an event) or points (a score)"
    )
    t_within_days = forms.IntegerField(required=False, min_value=1, label="Within days")
    t_tag = forms.CharField(required=False, label="Tag")
    t_segment = forms.CharField(required=False, label="Segment", help_text="The segment's slug")
    t_stage = forms.ChoiceField(required=False, choices=LifecycleStage.choices, label="Stage")
    t_days = forms.IntegerField(required=False, min_value=1, label="Days without activity")
    t_field = forms.CharField(
        required=False, label="Date field", help_text="e.g. custom_fields.renewal_date"
    )
    t_offset_days = forms.IntegerField(
        required=False, label="Days from the date", help_text="-7: a week before; 3: three after"
    )

    class Meta:
        model = Workflow
        fields = ["name", "description", "goal", "exit_on_sales_conversation", "reentry"]
        widgets = {"description": _text(), "goal": _text()}
        help_texts = {"goal": "Leads who meet it leave, counted as converted. " + CONDITION_HELP}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        trigger = self.instance.trigger or {"on": "form_submitted"}
        self.initial.setdefault("trigger_on", trigger.get("on"))
        for key, value in trigger.items():
            if key != "on":
                self.initial.setdefault(
                    f"t_{key}", json.dumps(value) if isinstance(value, dict) else value
                )
        self.steps_formset = steps_formset(
            self.data if self.is_bound else None, self.instance.steps
        )

    def clean_t_where(self) -> dict:
        return _json_field(self.cleaned_data["t_where"], dict, "a JSON object, e.g. {}") or {}

    def clean(self) -> dict:
        cleaned = super().clean()
        trigger = self.trigger()
        try:
            definitions.parse_trigger(trigger)
        except SchemaError as error:
            for problem in error.errors():
                name = f"t_{problem['loc'][-1]}" if len(problem["loc"]) > 1 else None
                self.add_error(name if name in self.fields else None, problem["msg"])
        else:
            self.instance.trigger = trigger
        if not self.steps_formset.is_valid():
            raise ValidationError("A step needs fixing: see the steps below.")
        steps = check_steps(self.steps_formset.steps())
        if steps is None:
            raise ValidationError("A step needs fixing: see the steps below.")
        self.instance.steps = steps
        return cleaned

    def trigger(self) -> dict:
        on = self.cleaned_data.get("trigger_on") or "form_submitted"
        trigger: dict[str, Any] = {"on": on}
        for name in TRIGGER_USES[on]:
            value = self.cleaned_data.get(f"t_{name}")
            if value not in (None, "") and not (name == "where" and value == {}):
                trigger[name] = value
            elif name == "form":
                trigger[name] = ""
        return trigger


class ConfirmForm(forms.Form):
    confirm = forms.BooleanField(label="Yes, move them", required=True)


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    form = WorkflowForm
    change_form_template = "admin/nurture/workflow/change_form.html"
    change_list_template = "admin/nurture/workflow/change_list.html"
    list_display = ["name", "starts_when", "step_count", "is_active", "published_version", "active"]
    list_filter = ["is_active"]
    search_fields = ["name", "description"]
    readonly_fields = ["is_active"]
    actions = ["publish_selected", "activate", "deactivate", "move_to_latest"]
    fieldsets = [
        (None, {"fields": ["name", "description", "is_active"]}),
        (
            "Starts when",
            {
                "fields": [
                    "trigger_on",
                    *(
                        f"t_{name}"
                        for name in dict.fromkeys(
                            n for names in TRIGGER_USES.values() for n in names
                        )
                    ),
                ]
            },
        ),
        ("Leaving", {"fields": ["goal", "exit_on_sales_conversation", "reentry"]}),
    ]

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .annotate(
                active_count=Count("enrollments", filter=Q(enrollments__status="active")),
            )
        )

    @admin.display(description="Starts when")
    def starts_when(self, workflow: Workflow) -> str:
        return trigger_text(workflow.trigger)

    @admin.display(description="Steps (draft)")
    def step_count(self, workflow: Workflow) -> int:
        return len(workflow.steps)

    @admin.display(description="Published")
    def published_version(self, workflow: Workflow) -> str:
        version = workflow.published
        return f"v{version.number}" if version else "not yet"

    @admin.display(description="Active leads", ordering="active_count")
    def active(self, workflow: Workflow) -> int:
        return workflow.active_count

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("install/", wrap(self.install_view), name="nurture_workflow_install"),
            path("<int:pk>/publish/", wrap(self.publish_view), name="nurture_workflow_publish"),
            path("<int:pk>/activate/", wrap(self.activate_view), name="nurture_workflow_activate"),
            path("<int:pk>/report/", wrap(self.report_view), name="nurture_workflow_report"),
            path("<int:pk>/json/", wrap(self.json_view), name="nurture_workflow_json"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context["adminform"].form
        context.update(
            steps=form.steps_formset,
            kinds_fields=json.dumps(USES),
            trigger_fields=json.dumps({k: [f"t_{n}" for n in v] for k, v in TRIGGER_USES.items()}),
            version=obj.published if obj else None,
            unpublished=bool(obj and (obj.published is None or obj.published.steps != obj.steps)),
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _workflow(self, request: HttpRequest, pk: int, change: bool = True) -> Workflow:
        workflow = Workflow.objects.filter(pk=pk).first()
        if workflow is None:
            raise Http404
        allowed = self.has_change_permission if change else self.has_view_permission
        if not allowed(request, workflow):
            raise PermissionDenied
        return workflow

    def _back(self, workflow: Workflow) -> HttpResponseRedirect:
        return redirect("admin:nurture_workflow_change", workflow.pk)

    # --- actions on one workflow (the buttons of its page) ---------------------------------

    def publish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return require_POST(self._publish)(request, pk)

    def _publish(self, request: HttpRequest, pk: int) -> HttpResponse:
        workflow = self._workflow(request, pk)
        self._publish_one(request, workflow)
        return self._back(workflow)

    def _publish_one(self, request: HttpRequest, workflow: Workflow) -> None:
        try:
            version = services.publish(workflow, by=request.user.get_username())
        except (SchemaError, ValueError) as error:
            self.message_user(request, f"{workflow} was not published: {error}", messages.ERROR)
            return
        moving = Enrollment.objects.filter(workflow=workflow, status="active").exclude(
            version=version
        )
        after = (
            f" {moving.count()} enrolled lead(s) stay on their version until moved."
            if moving.exists()
            else ""
        )
        self.message_user(
            request,
            f"Published {workflow} as version {version.number}: leads who enroll from now on "
            f"walk it.{after}",
            messages.SUCCESS,
        )

    def activate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        workflow = self._workflow(request, pk)
        self._set_active(request, Workflow.objects.filter(pk=workflow.pk), "on" in request.POST)
        return self._back(workflow)

    def _set_active(self, request: HttpRequest, queryset, on: bool) -> None:
        if on:
            unpublished = queryset.filter(versions__isnull=True)
            for workflow in unpublished:
                self.message_user(
                    request,
                    f"{workflow} has no published version: publish it before activating it.",
                    messages.WARNING,
                )
            queryset = queryset.exclude(pk__in=unpublished.values("pk"))
        names = [str(w) for w in queryset]
        for workflow in queryset:
            workflow.is_active = on
            workflow.save(update_fields=["is_active"])  # post_save refreshes what is watched
        if names:
            state = "active: leads who meet the trigger enroll" if on else "inactive"
            self.message_user(request, f"{', '.join(names)}: now {state}.", messages.SUCCESS)

    def report_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        workflow = self._workflow(request, pk, change=False)
        return TemplateResponse(
            request,
            "admin/nurture/workflow/report.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": workflow,
                "title": f"Report: {workflow}",
                "report": workflow_report(workflow),
            },
        )

    def json_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The whole workflow as JSON, to read, copy, or edit as a fallback to the editor."""
        workflow = self._workflow(request, pk, change=False)
        form = WorkflowJsonForm(request.POST or None, initial={"workflow_json": as_json(workflow)})
        if request.method == "POST":
            if not self.has_change_permission(request, workflow):
                raise PermissionDenied
            if form.is_valid():
                try:
                    save_json(workflow, form.cleaned_data["workflow_json"])
                except ValidationError as error:
                    problems = (
                        [f"{name}: {m}" for name, ms in error.message_dict.items() for m in ms]
                        if hasattr(error, "error_dict")
                        else error.messages
                    )
                    form.add_error("workflow_json", problems)
                else:
                    self.message_user(request, f"Saved {workflow} from JSON.", messages.SUCCESS)
                    return self._back(workflow)
        return TemplateResponse(
            request,
            "admin/nurture/workflow/json.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": workflow,
                "title": f"{workflow} as JSON",
                "form": form,
                "can_change": self.has_change_permission(request, workflow),
            },
        )

    def install_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            key = request.POST.get("key", "")
            try:
                workflow, templates = library.install(key, copy="copy" in request.POST)
            except KeyError:
                self.message_user(request, f"No ready-made workflow {key!r}.", messages.ERROR)
            except library.AlreadyInstalled as error:
                self.message_user(request, str(error), messages.WARNING)
            else:
                made = f" and {len(templates)} email template(s)" if templates else ""
                self.message_user(
                    request,
                    f"Installed {workflow}{made} as an inactive draft: edit it, publish it, then "
                    "activate it.",
                    messages.SUCCESS,
                )
                return self._back(workflow)
            return redirect("admin:nurture_workflow_install")
        installed = set(Workflow.objects.values_list("name", flat=True))
        ready = [
            {
                "key": key,
                "name": item.name,
                "description": item.description,
                "trigger": trigger_text(item.trigger),
                "steps": [step_text(step) for step in item.steps],
                "installed": item.name in installed,
            }
            for key, item in library.READY_MADE.items()
        ]
        return TemplateResponse(
            request,
            "admin/nurture/workflow/install.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "Install a ready-made workflow",
                "ready": ready,
            },
        )

    # --- actions on the selected workflows --------------------------------------------------

    @admin.action(description="Publish the selected workflows' drafts")
    def publish_selected(self, request: HttpRequest, queryset) -> None:
        for workflow in queryset:
            self._publish_one(request, workflow)

    @admin.action(description="Activate the selected workflows")
    def activate(self, request: HttpRequest, queryset) -> None:
        self._set_active(request, queryset, True)

    @admin.action(description="Deactivate the selected workflows")
    def deactivate(self, request: HttpRequest, queryset) -> None:
        self._set_active(request, queryset, False)

    @admin.action(description="Move enrolled leads to the latest version…")
    def move_to_latest(self, request: HttpRequest, queryset) -> HttpResponse | None:
        form = ConfirmForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            for workflow in queryset:
                if workflow.published is None:
                    continue
                moved, left = services.move_to_latest(workflow)
                self.message_user(
                    request,
                    f"{workflow}: {moved} lead(s) moved to version {workflow.published.number}, "
                    f"{left} left (their step no longer exists).",
                    messages.SUCCESS,
                )
            return None
        return ask_before_acting(
            self,
            request,
            form,
            lines=[move_line(workflow) for workflow in queryset],
            title="Move enrolled leads to the latest version",
            intro=(
                "Each active lead on an older version goes on from the same step number in the "
                "latest version; a lead whose step no longer exists leaves the workflow "
                '("step removed"):'
            ),
            submit="Move them",
        )


def move_line(workflow: Workflow) -> str:
    latest = workflow.published
    if latest is None:
        return f"{workflow}: nothing is published, nothing moves."
    older = Enrollment.objects.filter(workflow=workflow, status=EnrollmentStatus.ACTIVE).exclude(
        version=latest
    )
    length = len(latest.steps)
    moving = older.filter(position__lt=length).count()
    leaving = older.filter(position__gte=length).count()
    return (
        f"{workflow}: {moving} lead(s) move to version {latest.number}, {leaving} leave "
        "(their step no longer exists)."
    )


def trigger_text(trigger: dict) -> str:
    on = trigger.get("on")
    if on == "form_submitted":
        return f"form {trigger['form']} submitted" if trigger.get("form") else "any form submitted"
    if on == "event":
        return f"{condition_text(trigger)} happens"
    if on == "tag_added":
        return f"tag {trigger.get('tag')} added"
    if on == "segment_joined":
        return f"joins segment {trigger.get('segment')}"
    if on == "stage_entered":
        return f"reaches stage {trigger.get('stage')}"
    if on == "score_crossed":
        return f"score reaches {trigger.get('at_least')}"
    if on == "inactive":
        return f"no activity for {trigger.get('days')} days"
    if on == "date":
        return f"{trigger.get('offset_days', 0):+d} days from {trigger.get('field')}"
    return str(on)


def step_text(step: dict) -> str:
    if step.get("do") == "wait":
        return "wait " + duration_text(step)
    return summarise(step)


# --- the raw JSON -------------------------------------------------------------------------

JSON_FIELDS = ["name", "description", "trigger", "steps", "goal", "reentry"]


def as_json(workflow: Workflow) -> str:
    data = {name: getattr(workflow, name) for name in JSON_FIELDS}
    data["exit_on_sales_conversation"] = workflow.exit_on_sales_conversation
    return json.dumps(data, indent=2, ensure_ascii=False)


class WorkflowJsonForm(forms.Form):
    workflow_json = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 30, "cols": 100}), label="JSON"
    )

    def clean_workflow_json(self) -> dict:
        value = _json_field(self.cleaned_data["workflow_json"], dict, "a JSON object")
        return value or {}


def save_json(workflow: Workflow, data: dict) -> None:
    """Apply the fields the JSON names, checked as the model checks them (ValidationError)."""
    unknown = set(data) - {*JSON_FIELDS, "exit_on_sales_conversation"}
    if unknown:
        raise ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    for name, value in data.items():
        setattr(workflow, name, value)
    workflow.full_clean(exclude=["is_active", "created_at"])
    with transaction.atomic():
        workflow.save()


# --- the records the engine writes --------------------------------------------------------


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(ReadOnlyAdmin):
    list_display = ["workflow", "number", "step_count", "published_at", "published_by"]
    list_filter = ["workflow"]
    fields = ["workflow", "number", "published_at", "published_by", "pretty_steps"]
    readonly_fields = fields

    @admin.display(description="Steps")
    def step_count(self, version: WorkflowVersion) -> int:
        return len(version.steps)

    @admin.display(description="Steps")
    def pretty_steps(self, version: WorkflowVersion) -> str:
        return format_html("<pre>{}</pre>", json.dumps(version.steps, indent=2, ensure_ascii=False))


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyAdmin):
    list_display = [
        "lead", "workflow", "version", "status", "exit_reason", "position", "due_at", "entered_at",
        "finished_at",
    ]  # fmt: skip
    list_filter = ["status", "exit_reason", "workflow"]
    search_fields = ["lead__email", "lead__first_name", "lead__last_name"]
    list_select_related = ["lead", "workflow", "version__workflow"]
    date_hierarchy = "entered_at"


@admin.register(StepRun)
class StepRunAdmin(ReadOnlyAdmin):
    list_display = ["at", "enrollment", "version", "position", "kind", "outcome", "message_key"]
    list_filter = ["kind", "version__workflow"]
    search_fields = ["message_key", "enrollment__lead__email"]
    list_select_related = ["enrollment__lead", "enrollment__workflow", "version__workflow"]
    date_hierarchy = "at"


SAMPLE = {
    "first_name": "Sam",
    "last_name": "Sample",
    "email": "sam@example.com",
    "phone": "+14155550123",
    "custom_fields": {"square_feet": 5000, "service": "office"},
}


def sample_lead() -> Lead:
    """An unsaved lead to render previews with (never a real lead's details)."""
    return Lead(**SAMPLE)


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "subject", "updated_at"]
    search_fields = ["name", "slug", "subject", "text"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["preview"]
    fields = ["name", "slug", "subject", "text", "html", "preview"]

    @admin.display(description="Preview (for a sample lead, Sam Sample)")
    def preview(self, template: EmailTemplate) -> str:
        if template.pk is None:
            return "Save to see a preview."
        context = personalise.context_of(
            sample_lead(), unsubscribe_url="https://example.com/unsubscribe"
        )
        try:
            subject = personalise.render(template.subject, context)
            text = personalise.render(template.text, context)
            html = personalise.render(template.html, context, html=True) if template.html else ""
        except TemplateSyntaxError as error:
            return format_html('<p class="errornote">This template does not read: {}</p>', error)
        return format_html(
            '<div style="max-width: 48em"><p><strong>Subject:</strong> {}</p>'
            '<pre style="white-space: pre-wrap">{}</pre>{}</div>',
            subject,
            text,
            format_html("<hr><div>{}</div>", html) if html else "",
        )


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "member_count", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(members_count=Count("members"))

    @admin.display(description="Kind")
    def kind(self, segment: Segment) -> str:
        return "dynamic" if segment.is_dynamic else "static list"

    @admin.display(description="Members", ordering="members_count")
    def member_count(self, segment: Segment) -> int:
        return segment.members_count


@admin.register(SegmentMember)
class SegmentMemberAdmin(ReadOnlyAdmin):
    list_display = ["lead", "segment", "joined_at"]
    list_filter = ["segment"]
    search_fields = ["lead__email"]
    list_select_related = ["lead", "segment"]
