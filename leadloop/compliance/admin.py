from django.contrib import admin

from leadloop.compliance.models import AccessLog, Consent, Suppression
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


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdmin):
    """Who was shown whose details: kept for privacy requests and audits, never edited."""

    list_display = ["occurred_at", "user", "what", "lead", "count", "ip_address"]
    list_filter = ["what"]
    search_fields = ["user__username", "lead__email"]
    raw_id_fields = ["lead"]
    date_hierarchy = "occurred_at"
