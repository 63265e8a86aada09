"""Scoring in the admin: the rules, the shared MQL/SQL definitions, and the work queue."""

from django.contrib import admin

from leadloop.scoring.models import ScoringRequest, ScoringRule, StageDefinitions


@admin.register(ScoringRule)
class ScoringRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "group", "points", "cap", "decays", "is_active", "position"]
    list_filter = ["group", "is_active"]
    list_editable = ["points", "is_active", "position"]
    search_fields = ["name"]


@admin.register(StageDefinitions)
class StageDefinitionsAdmin(admin.ModelAdmin):
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
