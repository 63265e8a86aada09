import json
from datetime import timedelta
from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from leadloop.capture import importer
from leadloop.capture.definitions import DefinitionError, normalise_definition
from leadloop.capture.models import (
    Form,
    FormVersion,
    ImportJob,
    ImportKind,
    ImportStatus,
    PageView,
    Submission,
)
from leadloop.core.admin import JobProgressAdmin, ReadOnlyAdmin
from leadloop.core.models import Source


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


class ImportUploadForm(forms.Form):
    kind = forms.TypedChoiceField(
        choices=ImportKind.choices,
        initial=ImportKind.LEADS,
        required=False,
        empty_value=ImportKind.LEADS,  # a form posted without the choice imports leads
        widget=forms.RadioSelect,
        label="Import",
        help_text="Deal outcomes are the won and lost deals of leads already here, named by "
        "email, phone or lead id: the history the predictive model learns from.",
    )
    file = forms.FileField(
        help_text="A CSV file, UTF-8 (Excel: 'CSV UTF-8'), separated by commas, semicolons or "
        "tabs, with the column names on the first row."
    )
    source = forms.ModelChoiceField(
        Source.objects.all(),
        required=False,
        help_text="Attribute the imported leads to it (a leads import only)",
    )
    region = forms.CharField(
        max_length=2, initial="US", help_text="Country of phone numbers written without +code"
    )
    dry_run = forms.BooleanField(
        required=False, help_text="Check every row and count what would happen; write nothing"
    )

    def clean_region(self) -> str:
        region = self.cleaned_data["region"].strip().upper()
        problems = importer.check_region(region)
        if problems:
            raise forms.ValidationError(problems[0])
        return region


class ImportMappingForm(forms.Form):
    """One select per CSV column, pre-filled with the guessed target: what the kind of import
    offers, and for leads a custom field named after the column."""

    def __init__(self, *args, headers: list[str], kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.headers = headers
        self.kind = kind
        guess = importer.guess_mapping(headers, kind)
        common = importer.target_choices(kind)
        for index, header in enumerate(headers):
            self.fields[f"column_{index}"] = forms.ChoiceField(
                label=header,
                choices=[*common, *self._custom_choice(header, guess[header])],
                initial=guess[header],
                required=False,
            )

    def _custom_choice(self, header: str, guess: str) -> list[tuple[str, str]]:
        if self.kind != ImportKind.LEADS:
            return []
        custom = guess if guess.startswith("fields.") else None
        custom = custom or f"fields.{importer.custom_field_name(header)}"
        return [(custom, f"Custom field “{custom.removeprefix('fields.')}”")]

    def clean(self) -> dict:
        cleaned = super().clean()
        self.mapping = {h: cleaned.get(f"column_{i}", "") for i, h in enumerate(self.headers)}
        for problem in importer.check_mapping(self.headers, self.mapping, self.kind):
            self.add_error(None, problem)
        return cleaned

    def rows(self) -> list[tuple]:
        return [(self[f"column_{i}"], h) for i, h in enumerate(self.headers)]


UPLOAD_SALT = "leadloop.capture.import-upload"


@admin.register(ImportJob)
class ImportJobAdmin(JobProgressAdmin):
    """Import jobs are started from the upload and mapping pages, then only watched here."""

    done_field, total_field = "processed_rows", "total_rows"
    running_statuses = frozenset({ImportStatus.QUEUED, ImportStatus.RUNNING})

    list_display = ["created_at", "kind", "file", "status", "dry_run", "progress", "outcome"]
    list_filter = ["kind", "status", "dry_run"]
    fields = [
        "kind",
        "status",
        "file",
        "source",
        "default_region",
        "dry_run",
        "mapping",
        "total_rows",
        "processed_rows",
        "created_count",
        "merged_count",
        "rejected_count",
        "quarantined_count",
        "rejects",
        "attempts",
        "last_error",
        "created_by",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
    ]
    readonly_fields = fields
    actions = ["requeue"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a job's record is written by the import, never by hand

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.upload_view), name="capture_importjob_import"),
            path("import/mapping/", wrap(self.mapping_view), name="capture_importjob_mapping"),
            path(
                "<int:job_id>/rejects/",
                wrap(self.rejects_view),
                name="capture_importjob_rejects",
            ),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        return redirect("admin:capture_importjob_import")

    @admin.display(description="Progress")
    def progress(self, job: ImportJob) -> str:
        if not job.total_rows:
            return f"{job.processed_rows:,}"
        return f"{job.processed_rows:,} / {job.total_rows:,} ({job.processed_rows / job.total_rows:.0%})"

    @admin.display(description="New · merged (or already imported) · rejected")
    def outcome(self, job: ImportJob) -> str:
        return f"{job.created_count:,} · {job.merged_count:,} · {job.rejected_count:,}"

    @admin.action(
        description="Requeue the selected failed imports (they resume where they stopped)"
    )
    def requeue(self, request: HttpRequest, queryset) -> None:
        again = sum(importer.requeue(job) for job in queryset.filter(status=ImportStatus.FAILED))
        self.message_user(request, f"Requeued {again} import(s).")

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportUploadForm(
            request.POST or None,
            request.FILES or None,
            initial={"kind": request.GET.get("kind", ImportKind.LEADS)},
        )
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            name = default_storage.save(f"imports/{Path(upload.name).name}", upload)
            try:
                importer.preview(default_storage, name)
            except importer.ImportFileError as error:
                default_storage.delete(name)
                form.add_error("file", str(error))
            else:
                source = form.cleaned_data["source"]
                token = signing.dumps(
                    {
                        "kind": form.cleaned_data["kind"],
                        "file": name,
                        "source": source.pk if source else None,
                        "region": form.cleaned_data["region"],
                        "dry_run": form.cleaned_data["dry_run"],
                    },
                    salt=UPLOAD_SALT,
                )
                return redirect(f"{reverse('admin:capture_importjob_mapping')}?upload={token}")
        return self._render(request, "upload.html", "Import from CSV", {"form": form})

    def mapping_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        token = request.GET.get("upload", "")
        try:
            upload = signing.loads(token, salt=UPLOAD_SALT, max_age=timedelta(days=1))
            layout, samples = importer.preview(default_storage, upload["file"], rows=3)
        except (signing.BadSignature, importer.ImportFileError, OSError):
            self.message_user(
                request, "That upload has expired; upload the file again.", messages.ERROR
            )
            return redirect("admin:capture_importjob_import")
        kind = upload.get("kind", ImportKind.LEADS)  # a token signed before kinds: leads
        form = ImportMappingForm(request.POST or None, headers=layout.headers, kind=kind)
        if request.method == "POST" and form.is_valid():
            job = importer.create_job(
                file_name=upload["file"],
                mapping=form.mapping,
                kind=kind,
                source=Source.objects.filter(pk=upload["source"]).first(),
                region=upload["region"],
                dry_run=upload["dry_run"],
                created_by=request.user,
            )
            self.message_user(request, f"Import {job.pk} is queued; this page follows it.")
            return redirect("admin:capture_importjob_change", job.pk)
        columns = [
            (bound, header, [row[i] if i < len(row) else "" for row in samples])
            for i, (bound, header) in enumerate(form.rows())
        ]
        context = {
            "form": form,
            "columns": columns,
            "upload": upload,
            "file": Path(upload["file"]).name,
        }
        return self._render(request, "mapping.html", "Map the columns", context)

    def rejects_view(self, request: HttpRequest, job_id: int) -> FileResponse:
        job = get_object_or_404(ImportJob, pk=job_id)
        if not self.has_view_permission(request, job) or not job.rejects:
            raise Http404
        return FileResponse(
            job.rejects.open("rb"),
            as_attachment=True,
            filename=f"import-{job.pk}-rejects.csv",
            content_type="text/csv; charset=utf-8",
        )

    def _render(
        self, request: HttpRequest, template: str, title: str, context: dict
    ) -> HttpResponse:
        return TemplateResponse(
            request,
            f"admin/capture/importjob/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": title,
                **context,
            },
        )
