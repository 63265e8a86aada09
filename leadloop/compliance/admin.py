from django.contrib import admin

from leadloop.compliance.models import Consent
from leadloop.core.admin import ReadOnlyAdmin


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "lead", "channel", "granted", "page_url", "ip_address"]
    list_filter = ["channel", "granted", "occurred_at"]
    search_fields = ["lead__email", "wording", "page_url"]
    date_hierarchy = "occurred_at"
