"""Routing in the admin: reps and teams with their availability, the ordered assignment rules,
the routing settings (fallback owner, SLA, acknowledgement), and the records of routing's work.
On a lead: its owner changes only through "Reassign…" with a reason; attempts are logged."""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse

from leadloop.core.admin import ReadOnlyAdmin, ReasonForm, ask_before_acting
from leadloop.core.models import Lead
from leadloop.routing import services
from leadloop.routing.models import (
    Assignment,
    AssignmentRequest,
    AssignmentRule,
    ContactAttempt,
    Membership,
    Rep,
    RoutingSettings,
    SlaTimer,
    Team,
)
from leadloop.scoring.admin import ScoringLeadAdmin


@admin.register(Rep)
class RepAdmin(admin.ModelAdmin):
    list_display = ["__str__", "time_zone", "work_days", "work_starts", "work_ends", "daily_capacity", "away_until", "is_active"]  # fmt: skip
    list_filter = ["is_active", "time_zone"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "user__email"]
    raw_id_fields = ["user"]


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ["rep", "position", "weight"]
    extra = 1


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "strategy", "manager", "members"]
    inlines = [MembershipInline]

    @admin.display(description="Members")
    def members(self, team: Team) -> int:
        return team.memberships.count()


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "team", "rep", "sla_minutes", "takes_over", "is_active"]
    list_editable = ["position", "is_active"]
    list_filter = ["is_active", "team"]
    search_fields = ["name"]


@admin.register(RoutingSettings)
class RoutingSettingsAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return not RoutingSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["assigned_at", "lead", "owner", "previous_owner", "team", "rule", "by", "why"]
    list_filter = ["by", "team", "rule", "assigned_at"]
    search_fields = ["lead__email", "owner__username", "why"]
    date_hierarchy = "assigned_at"


@admin.register(SlaTimer)
class SlaTimerAdmin(ReadOnlyAdmin):
    list_display = ["due_at", "kind", "lead", "owner", "status", "fired_at"]
    list_filter = ["status", "kind"]


@admin.register(AssignmentRequest)
class AssignmentRequestAdmin(ReadOnlyAdmin):
    list_display = ["lead", "live", "status", "attempts", "next_attempt_at", "created_at"]
    list_filter = ["status", "live"]


@admin.register(ContactAttempt)
class ContactAttemptAdmin(admin.ModelAdmin):
    """Attempts are logged (here, through the API, or the sales workspace), never edited."""

    list_display = ["attempted_at", "lead", "by", "channel", "outcome"]
    list_filter = ["channel", "outcome", "attempted_at"]
    fields = ["lead", "channel", "outcome", "note", "attempted_at"]
    raw_id_fields = ["lead"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ContactAttempt, form, change: bool) -> None:
        logged = services.log_contact_attempt(
            obj.lead, request.user, obj.channel, obj.outcome, obj.note, obj.attempted_at
        )
        obj.pk = logged.pk


class ReassignForm(ReasonForm):
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_active=True))
    field_order = ["owner", "why"]


class AssignmentInline(admin.TabularInline):
    model = Assignment
    fk_name = "lead"
    fields = ["assigned_at", "owner", "previous_owner", "team", "rule", "by", "why"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ContactAttemptInline(AssignmentInline):
    model = ContactAttempt
    fields = ["attempted_at", "by", "channel", "outcome", "note"]
    readonly_fields = fields


admin.site.unregister(Lead)


@admin.register(Lead)
class RoutingLeadAdmin(ScoringLeadAdmin):
    """A lead's owner changes only through "Reassign…" (or routing), with a reason."""

    readonly_fields = [
        *ScoringLeadAdmin.readonly_fields,
        "owner",
        "acknowledged_at",
        "assigned_at",
        "first_contact_at",
    ]
    inlines = [AssignmentInline, ContactAttemptInline, *ScoringLeadAdmin.inlines]
    actions = [*ScoringLeadAdmin.actions, "reassign"]

    @admin.action(description="Reassign the selected leads…")
    def reassign(self, request: HttpRequest, queryset) -> HttpResponse | None:
        form = ReassignForm(request.POST if "why" in request.POST else None)
        if form.is_valid():
            owner, why = form.cleaned_data["owner"], form.cleaned_data["why"]
            for lead in queryset:
                services.reassign(lead, owner, by=request.user.get_username(), why=why)
            self.message_user(request, f"{len(queryset)} lead(s) now belong to {owner}.")
            return None
        return ask_before_acting(
            self,
            request,
            form,
            lines=(f"{lead} (owner: {lead.owner or 'nobody'})" for lead in queryset),
            title="Reassign leads",
            intro="Each change is kept on the lead's timeline with your reason:",
            submit="Reassign",
        )
