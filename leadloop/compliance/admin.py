from django.contrib import admin

from leadloop.compliance.models import Consent, Suppression
from leadloop.core.admin import ReadOnlyAdmin


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "lead", "channel", "granted", "page_url", "ip_address"]
    list_filter = ["channel", "granted", "occurred_at"]
    search_fields = ["lead__email", "wording", "page_url"]
    date_hierarchy = "occurred_at"


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """Addresses that get no marketing (or, bounced, nothing); add one by hand for a request
    that came by phone or letter."""

    list_display = ["address", "channel", "reason", "created_at"]
    list_filter = ["channel", "reason"]
    search_fields = ["address"]
