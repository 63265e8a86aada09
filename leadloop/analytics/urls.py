from leadloop.analytics.views import attribution, audit, dashboard, experiments, spend

app_name = "analytics"

urlpatterns: list = [
    *attribution.urlpatterns,
    *audit.urlpatterns,
    *dashboard.urlpatterns,
    *experiments.urlpatterns,
    *spend.urlpatterns,
]
