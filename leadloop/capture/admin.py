import json

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from leadloop.capture.definitions import DefinitionError, normalise_definition
from leadloop.capture.models import Form, FormVersion, ImportJob, PageView, Submission
from leadloop.core.admin import ReadOnlyAdmin


class FormAdminForm(forms.ModelForm):
    class Meta:
        model = Form
        fields = ["name", "slug", "definition", "source", "download", "is_active"]

    def clean_definition(self) -> dict:
        definition = self.cleaned_data["definition"]
        try:
            return normalise_definition(definition)
        except DefinitionError as error:
            raise forms.ValidationError(str(error)) from None


class FormVersionInline(admin.TabularInline):
    model = FormVersion
    fields = ["number", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Form)
class FormAdmin(admin.ModelAdmin):
    form = FormAdminForm
    list_display = ["name", "slug", "version", "is_active", "links", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [FormVersionInline]

    @admin.display(description="Links")
    def links(self, form: Form) -> str:
        return format_html(
            '<a href="/p/{0}">page</a> · <a href="/p/{0}/chat">chat</a> · '
            '<code>&lt;script src="/widget.js" data-form="{0}"&gt;&lt;/script&gt;</code>',
            form.slug,
        )


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "channel",
        "form",
        "source",
        "status",
        "is_partial",
        "lead",
        "attempts",
    ]
    list_filter = ["status", "channel", "is_partial", "form", "source", "received_at"]
    search_fields = ["raw", "lead__email", "idempotency_key"]
    date_hierarchy = "received_at"

    @admin.display(description="Raw body")
    def pretty_raw(self, submission: Submission) -> str:
        try:
            text = json.dumps(json.loads(submission.raw), indent=2, ensure_ascii=False)
        except ValueError:
            text = submission.raw
        return format_html("<pre>{}</pre>", text)

    fields = [
        "received_at",
        "channel",
        "form",
        "form_version",
        "source",
        "status",
        "errors",
        "lead",
        "is_partial",
        "visitor_key",
        "ip_address",
        "user_agent",
        "origin",
        "idempotency_key",
        "attempts",
        "next_attempt_at",
        "last_error",
        "pretty_raw",
    ]
    readonly_fields = fields


@admin.register(PageView)
class PageViewAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "visitor", "url", "stitched"]
    list_filter = ["stitched", "occurred_at"]
    search_fields = ["url", "visitor__key"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "file",
        "status",
        "dry_run",
        "processed_rows",
        "created_count",
        "merged_count",
        "rejected_count",
    ]
    list_filter = ["status", "dry_run"]
    readonly_fields = [
        "status",
        "total_rows",
        "processed_rows",
        "created_count",
        "merged_count",
        "rejected_count",
        "rejects",
        "attempts",
        "last_error",
        "started_at",
        "heartbeat_at",
        "finished_at",
    ]
