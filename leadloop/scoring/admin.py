"""Scoring in the admin: the rules (with their JSON export and import), the shared MQL/SQL
definitions, the work queue, and the rescoring jobs with their progress.

Saving or deleting a rule or the definitions starts a rescore of every lead once the change
commits; several changes in a row fold into one queued job (rescoring.start_rescore)."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html_join

from leadloop.core import services as core
from leadloop.core.admin import JobProgressAdmin, ReasonForm, ask_before_acting
from leadloop.core.models import Lead, LifecycleStage
from leadloop.quality.admin import QualityLeadAdmin
from leadloop.scoring import rescoring, rules_io
from leadloop.scoring.models import (
    RescoreJob,
    RescoreStatus,
    ScoringModel,
    ScoringRequest,
    ScoringRule,
    StageDefinitions,
)


class RescoresOnChange(admin.ModelAdmin):
    """Every saved or deleted change to what scores a lead starts a rescore of every lead."""

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        rescoring.start_rescore(f"{obj} changed by {request.user}")

    def delete_model(self, request: HttpRequest, obj) -> None:
        super().delete_model(request, obj)
        rescoring.start_rescore(f"{obj} deleted by {request.user}")

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        super().delete_queryset(request, queryset)
        rescoring.start_rescore(f"rules deleted by {request.user}")


class RulesUploadForm(forms.Form):
    file = forms.FileField(help_text="A file written by “Export rules as JSON” (or by hand)")


@admin.register(ScoringRule)
class ScoringRuleAdmin(RescoresOnChange):
    list_display = ["name", "group", "points", "cap", "decays", "is_active", "position"]
    list_filter = ["group", "is_active"]
    list_editable = ["points", "is_active", "position"]
    search_fields = ["name"]
    actions = ["export_selected"]

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("export/", wrap(self.export_view), name="scoring_scoringrule_export"),
            path("import/", wrap(self.import_view), name="scoring_scoringrule_import"),
            *super().get_urls(),
        ]

    @admin.action(description="Export the rules and definitions as JSON")
    def export_selected(self, request: HttpRequest, queryset) -> HttpResponse:
        data = rules_io.export_rules()
        chosen = set(queryset.values_list("name", flat=True))
        data["rules"] = [rule for rule in data["rules"] if rule["name"] in chosen]
        return _json_download(data)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return _json_download(rules_io.export_rules())

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        form = RulesUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                data = json.loads(form.cleaned_data["file"].read().decode("utf-8"))
                report = rules_io.import_rules(data)
            except (UnicodeDecodeError, ValueError) as error:
                # RulesFileError is a ValueError: the file is refused whole, with every reason.
                form.add_error("file", str(error))
            else:
                started = " A rescore of every lead has started." if report.changed else ""
                self.message_user(request, f"Imported: {report}.{started}", messages.SUCCESS)
                return redirect("admin:scoring_scoringrule_changelist")
        return TemplateResponse(
            request,
            "admin/scoring/scoringrule/import.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "Import scoring rules from JSON",
                "form": form,
            },
        )


def _json_download(data: dict) -> HttpResponse:
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="scoring-rules-{stamp}.json"'
    return response


@admin.register(StageDefinitions)
class StageDefinitionsAdmin(RescoresOnChange):
    list_display = ["__str__", "half_life_days"]

    def has_add_permission(self, request) -> bool:
        return not StageDefinitions.objects.exists()


@admin.register(ScoringRequest)
class ScoringRequestAdmin(admin.ModelAdmin):
    list_display = ["lead", "reason", "status", "attempts", "next_attempt_at", "created_at"]
    list_filter = ["status", "reason"]
    readonly_fields = [f.name for f in ScoringRequest._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(RescoreJob)
class RescoreJobAdmin(JobProgressAdmin):
    """Started by rule changes (or `leadloop scoring rescore`), then only watched here."""

    done_field, total_field = "processed", "total"
    running_statuses = frozenset({RescoreStatus.QUEUED, RescoreStatus.RUNNING})

    list_display = ["created_at", "reason", "status", "progress", "heartbeat_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in RescoreJob._meta.fields]
    actions = ["start_rescore"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a job's record is written by the job, never by hand

    @admin.display(description="Progress")
    def progress(self, job: RescoreJob) -> str:
        if not job.total:
            return f"{job.processed:,}"
        return f"{job.processed:,} / {job.total:,} ({job.processed / job.total:.0%})"

    @admin.action(description="Rescore every lead now (folds into a queued rescore)")
    def start_rescore(self, request: HttpRequest, queryset) -> None:
        job = rescoring.start_rescore(f"requested by {request.user}")
        self.message_user(request, f"Rescore job {job.pk} is {job.get_status_display().lower()}.")


@admin.register(ScoringModel)
class ScoringModelAdmin(admin.ModelAdmin):
    """Trained versions of the predictive model; a person chooses the active one."""

    list_display = ["__str__", "trained_on", "auc", "brier", "is_active", "created_at"]
    fields = ["version", "created_at", "trained_on", "is_active", "metrics", "features"]
    readonly_fields = fields
    actions = ["make_active"]

    @admin.display(description="hold-out AUC")
    def auc(self, model: ScoringModel) -> str:
        return f"{model.metrics.get('auc', 0):.3f}"

    @admin.display(description="Brier score")
    def brier(self, model: ScoringModel) -> str:
        return f"{model.metrics.get('brier', 0):.4f}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # trained by `leadloop scoring train` or the weekly retrain

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        if not ScoringModel.objects.filter(is_active=True).exists():
            self.message_user(
                request,
                "No active model: the rules decide. Train one with `leadloop scoring train` once "
                "enough leads have a known outcome (won or lost).",
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    @admin.action(description="Make the selected version the active model")
    def make_active(self, request: HttpRequest, queryset) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version.", messages.WARNING)
            return
        from leadloop.scoring import predictive  # scikit-learn only when a model is used

        model = predictive.activate(queryset.get().version)
        updated = predictive.apply_all(model)
        self.message_user(request, f"{model} is active; {updated:,} leads have its probability.")


def _driver_parts(driver: dict) -> tuple[str, str, str]:
    if "points" in driver:
        return driver["rule"], f"{driver['points']:+d} points", driver["group"]
    return driver["rule"], f"{driver['weight']:+.2f} log-odds", "predictive model"


class StageMoveForm(ReasonForm):
    stage = forms.ChoiceField(choices=LifecycleStage.choices)
    field_order = ["stage", "why"]


admin.site.unregister(Lead)


@admin.register(Lead)
class ScoringLeadAdmin(QualityLeadAdmin):
    """A lead's stage changes only through a stage move with a reason (an event on its
    timeline), never by editing the field; its score shows the rules that gave the points."""

    readonly_fields = [
        *QualityLeadAdmin.readonly_fields,
        "lifecycle_stage",
        "why_this_score",
        "conversion_probability",
    ]
    actions = [*QualityLeadAdmin.actions, "move_to_stage"]

    @admin.display(description="Why this score")
    def why_this_score(self, lead: Lead) -> str:
        return format_html_join(
            "", "<div>{}: {} ({})</div>", map(_driver_parts, lead.score_drivers)
        )

    @admin.action(description="Move the selected leads to a stage…")
    def move_to_stage(self, request: HttpRequest, queryset) -> HttpResponse | None:
        form = StageMoveForm(request.POST if "why" in request.POST else None)
        if form.is_valid():
            stage, why = form.cleaned_data["stage"], form.cleaned_data["why"]
            for lead in queryset:
                core.move_stage(lead, stage, by=request.user.get_username(), why=why)
            label = LifecycleStage(stage).label
            self.message_user(request, f"Moved {len(queryset)} lead(s) to {label}.")
            return None
        return ask_before_acting(
            self,
            request,
            form,
            lines=(f"{lead} (now {lead.get_lifecycle_stage_display()})" for lead in queryset),
            title="Move leads to a stage",
            intro="Each move is kept on the lead's timeline with your reason:",
            submit="Move",
        )
