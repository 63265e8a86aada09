"""The back office for the sales workspace: pipelines and their stages, the onboarding task
templates, booking pages. Deals, meetings and proposals are worked in the workspace itself and
only listed here."""

from django.contrib import admin

from leadloop.crm.models import (
    BookingPage,
    Deal,
    Meeting,
    OnboardingItem,
    OnboardingTemplate,
    Pipeline,
    Proposal,
    ProposalLine,
    Stage,
)


class StageInline(admin.TabularInline):
    model = Stage
    extra = 1
    fields = ["position", "name", "probability", "outcome"]


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "stall_days", "onboarding"]
    inlines = [StageInline]


class OnboardingItemInline(admin.TabularInline):
    model = OnboardingItem
    extra = 1


@admin.register(OnboardingTemplate)
class OnboardingTemplateAdmin(admin.ModelAdmin):
    inlines = [OnboardingItemInline]


@admin.register(BookingPage)
class BookingPageAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "slug",
        "rep",
        "team",
        "meeting_minutes",
        "buffer_minutes",
        "is_active",
    ]
    prepopulated_fields = {"slug": ["title"]}


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    list_display = ["title", "pipeline", "stage", "value", "owner", "expected_close", "closed_at"]
    list_filter = ["pipeline", "stage"]
    search_fields = ["title", "lead__email"]
    raw_id_fields = ["lead"]
    readonly_fields = ["stage", "closed_at", "lost_reason", "stage_entered_at", "last_activity_at"]


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):
    list_display = ["title", "host", "starts_at", "status"]
    list_filter = ["status"]
    raw_id_fields = ["lead", "deal"]


class ProposalLineInline(admin.TabularInline):
    model = ProposalLine
    extra = 0


@admin.register(Proposal)
class ProposalAdmin(admin.ModelAdmin):
    list_display = ["title", "deal", "status", "total", "sent_at", "accepted_at"]
    list_filter = ["status"]
    raw_id_fields = ["deal"]
    inlines = [ProposalLineInline]
    readonly_fields = [
        "token",
        "sent_at",
        "first_viewed_at",
        "view_count",
        "accepted_at",
        "accepted_name",
        "accepted_ip",
        "accepted_user_agent",
    ]
