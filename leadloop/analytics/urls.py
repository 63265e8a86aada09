from leadloop.analytics.views import attribution, audit

app_name = "analytics"

urlpatterns: list = [
    *attribution.urlpatterns,
    *audit.urlpatterns,
]
