"""The quality layer in the admin: verdicts on every lead, the quarantine review queue (release
with a reason), and the merge screen for two leads that are one person."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join

from leadloop.core.admin import LeadAdmin, ReasonForm, ask_before_acting
from leadloop.core.models import Lead
from leadloop.quality import merging, services
from leadloop.quality.models import EnrichmentRequest, QuarantinedLead


def _messages(lead: Lead) -> str:
    return "; ".join(reason["message"] for reason in lead.quality_reasons)


def reasons_list(lead: Lead) -> str:
    return format_html_join(
        "",
        "<div><b>{}</b>: {}</div>",
        ((r["severity"], r["message"]) for r in lead.quality_reasons),
    )


admin.site.unregister(Lead)


@admin.register(Lead)
class QualityLeadAdmin(LeadAdmin):
    list_display = [*LeadAdmin.list_display[:4], "quality", *LeadAdmin.list_display[4:]]
    list_filter = ["quality", *LeadAdmin.list_filter]
    readonly_fields = [
        *LeadAdmin.readonly_fields,
        "quality",
        "reasons",
        "quality_signals",
        "enrichment",
        "merged_at",
    ]
    raw_id_fields = [*LeadAdmin.raw_id_fields, "duplicate_of"]
    actions = ["merge_two"]

    @admin.display(description="Quality reasons")
    def reasons(self, lead: Lead) -> str:
        return reasons_list(lead)

    @admin.action(description="Merge the two selected leads…")
    def merge_two(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        ids = sorted(queryset.values_list("pk", flat=True))
        if len(ids) != 2:
            self.message_user(request, "Select exactly two leads to merge.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:quality_merge", args=ids))

    def get_urls(self) -> list:
        merge = self.admin_site.admin_view(self.merge_view)
        own = path("merge/<int:first>/<int:second>/", merge, name="quality_merge")
        return [own, *super().get_urls()]

    def merge_view(self, request: HttpRequest, first: int, second: int) -> HttpResponse:
        """Side by side: which lead is kept, and for each differing field whose value wins."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        leads = {pk: get_object_or_404(Lead, pk=pk) for pk in (first, second)}
        if request.method == "POST":
            return self._merge(request, leads)
        a, b = leads[first], leads[second]
        rows = [
            (name, Lead._meta.get_field(name).verbose_name, getattr(a, name), getattr(b, name))
            for name in merging.differing_fields(a, b)
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": Lead._meta,
            "title": "Merge two leads",
            "a": a,
            "b": b,
            "rows": rows,
        }
        return TemplateResponse(request, "admin/quality/merge.html", context)

    def _merge(self, request: HttpRequest, leads: dict[int, Lead]) -> HttpResponse:
        kept_id = int(request.POST.get("kept", 0))
        if kept_id not in leads:
            raise PermissionDenied
        other = next(lead for pk, lead in leads.items() if pk != kept_id)
        take = {
            name for name in merging.CHOOSABLE_FIELDS if request.POST.get(name) == str(other.pk)
        }
        try:
            kept = merging.merge_leads(leads[kept_id], other, take, by=request.user.get_username())
        except merging.MergeRefused as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:core_lead_changelist"))
        self.message_user(request, f"Lead {other.pk} was merged into lead {kept.pk}.")
        return HttpResponseRedirect(reverse("admin:core_lead_change", args=[kept.pk]))


@admin.register(QuarantinedLead)
class QuarantineAdmin(admin.ModelAdmin):
    """The review queue: invalid leads, kept out of the loop until a person releases them."""

    list_display = ["__str__", "email", "phone", "reasons", "source", "captured_at"]
    list_filter = ["source", "captured_at"]
    search_fields = ["first_name", "last_name", "email", "phone"]
    date_hierarchy = "captured_at"
    actions = ["release"]
    fields = ["first_name", "last_name", "email", "phone", "reasons", "quality_signals"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).quarantined()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # quarantined is kept, never lost

    @admin.display(description="Why")
    def reasons(self, lead: Lead) -> str:
        return reasons_list(lead)

    @admin.action(description="Release the selected leads into the loop…")
    def release(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        form = ReasonForm(request.POST if "why" in request.POST else None)
        if form.is_valid():
            by = request.user.get_username()
            for lead in queryset:
                services.release(lead, by=by, why=form.cleaned_data["why"])
            self.message_user(request, f"Released {len(queryset)} lead(s).")
            return None
        return ask_before_acting(
            self,
            request,
            form,
            lines=(f"{lead} ({lead.email or lead.phone}): {_messages(lead)}" for lead in queryset),
            title="Release quarantined leads",
            intro="These leads leave quarantine and join routing, nurture and distribution:",
            submit="Release",
        )


@admin.register(EnrichmentRequest)
class EnrichmentRequestAdmin(admin.ModelAdmin):
    list_display = ["lead", "provider", "status", "attempts", "next_attempt_at", "finished_at"]
    list_filter = ["status", "provider"]
    readonly_fields = [f.name for f in EnrichmentRequest._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
