"""The measure layer in the back office."""

from django.contrib import admin

from leadloop.analytics.models import Experiment, Variant

# Experiments (leadloop/analytics/experiments.py)


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 2
    fields = ["key", "name", "is_control", "weight", "form_version", "subject"]


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    """Made here with its variants; started, stopped and decided on its page under Measure,
    where its results are (a winner changes the form, so it is not just a field to edit)."""

    list_display = ["name", "kind", "form", "workflow", "step_label", "status", "started_at"]
    list_filter = ["kind", "status"]
    fields = ["name", "kind", "form", "workflow", "step_label", "metric", "min_sample"]
    readonly_fields = ["status", "started_at", "decided_at", "decided_by", "winner"]
    inlines = [VariantInline]

    def get_fields(self, request, obj=None) -> list[str]:
        return self.fields + (self.readonly_fields if obj else [])

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "form_version":
            kwargs["queryset"] = db_field.related_model.objects.select_related("form")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
