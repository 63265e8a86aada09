from django.urls import path
from django.views.generic import RedirectView

from leadloop.crm.views import accounts, pipeline, proposals

app_name = "crm"

urlpatterns = [
    path("app/", RedirectView.as_view(pattern_name="crm:day"), name="home"),
    *accounts.urlpatterns,
    *pipeline.urlpatterns,
    *proposals.urlpatterns,
]
