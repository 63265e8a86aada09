from leadloop.analytics.views import attribution, audit, dashboard, spend

app_name = "analytics"

urlpatterns: list = [
    *attribution.urlpatterns,
    *audit.urlpatterns,
    *dashboard.urlpatterns,
    *spend.urlpatterns,
]
