from leadloop.analytics.views import attribution

app_name = "analytics"

urlpatterns: list = [
    *attribution.urlpatterns,
]
