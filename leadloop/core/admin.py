from collections.abc import Iterable

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from leadloop.core.models import (
    Company,
    Event,
    EventDelivery,
    Lead,
    LeadTag,
    Message,
    MessageStatus,
    Source,
    Task,
    Visitor,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """For append-only records: visible and filterable, never edited or deleted by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReasonForm(forms.Form):
    why = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Recorded on each lead's timeline with your name.",
    )


def ask_before_acting(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    form: forms.Form,
    *,
    lines: Iterable[str],
    title: str,
    intro: str,
    submit: str,
) -> TemplateResponse:
    """The page an admin action shows while its form (at least a reason) is not yet valid: it
    lists what the action will touch and posts back to the same action and selection."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": title,
        "intro": intro,
        "submit": submit,
        "lines": list(lines),
        "form": form,
        "action": request.POST["action"],
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
    }
    return TemplateResponse(request, "admin/leadloop/reasoned_action.html", context)


class JobProgressAdmin(admin.ModelAdmin):
    """A background job whose change page follows its progress: `done_field` of `total_field`,
    refreshed while its status is one of `running_statuses`."""

    done_field = ""
    total_field = ""
    running_statuses: frozenset[str] = frozenset()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        job = self.get_object(request, object_id)
        done = getattr(job, self.done_field, 0) if job else 0
        total = getattr(job, self.total_field, 0) if job else 0
        extra = {
            "job": job,
            "running": job is not None and job.status in self.running_statuses,
            "percent": min(100, round(100 * done / total)) if total else 0,
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})


class EventInline(admin.TabularInline):
    model = Event
    fields = ["occurred_at", "type", "actor", "data"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-occurred_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "email",
        "phone",
        "company",
        "lifecycle_stage",
        "score",
        "capture_state",
        "source",
        "owner",
        "captured_at",
    ]
    list_filter = ["lifecycle_stage", "capture_state", "source", "owner", "captured_at"]
    search_fields = ["first_name", "last_name", "email", "phone", "company__name"]
    date_hierarchy = "captured_at"
    raw_id_fields = ["company"]
    readonly_fields = [
        "captured_at",
        "updated_at",
        "first_touch",
        "last_touch",
        "score",
        "score_fit",
        "score_engagement",
        "score_intent",
        "score_drivers",
        "scored_at",
    ]
    inlines = [EventInline]


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "created_at"]
    search_fields = ["name", "domain"]


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "channel", "campaign", "api_key_hint", "is_active", "created_at"]
    list_filter = ["channel", "is_active"]
    search_fields = ["name", "campaign"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["api_key_hint"]


@admin.register(Visitor)
class VisitorAdmin(ReadOnlyAdmin):
    list_display = ["key", "lead", "first_seen_at", "last_seen_at"]
    list_filter = ["first_seen_at"]
    search_fields = ["key", "lead__email"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "type", "lead", "actor"]
    list_filter = ["type", "occurred_at"]
    search_fields = ["lead__email", "type", "actor"]
    date_hierarchy = "occurred_at"


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """Every email, SMS and webhook leadloop sent or will send, with why one was not."""

    list_display = ["created_at", "kind", "channel", "to", "status", "attempts", "sent_at"]
    list_filter = ["status", "channel", "kind", "to_lead", "marketing"]
    search_fields = ["to", "subject", "key", "origin"]
    date_hierarchy = "created_at"
    actions = ["send_again"]

    @admin.action(description="Send the selected failed messages again")
    def send_again(self, request: HttpRequest, queryset) -> None:
        count = queryset.filter(status=MessageStatus.FAILED).update(
            status=MessageStatus.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        self.message_user(request, f"{count} message(s) will be sent again.")


@admin.register(EventDelivery)
class EventDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["event", "consumer", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "consumer"]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["title", "lead", "owner", "due_at", "done_at", "origin"]
    list_filter = ["owner", "done_at"]
    search_fields = ["title", "lead__email"]
    raw_id_fields = ["lead"]


@admin.register(LeadTag)
class LeadTagAdmin(ReadOnlyAdmin):
    list_display = ["tag", "lead", "created_at"]
    list_filter = ["tag"]
    search_fields = ["tag", "lead__email"]
    raw_id_fields = ["lead"]
