from django.urls import path
from django.views.generic import RedirectView

from leadloop.crm.views import accounts, booking, day, leads, pipeline, proposals

app_name = "crm"

urlpatterns = [
    path("app/", RedirectView.as_view(pattern_name="crm:day"), name="home"),
    *accounts.urlpatterns,
    *booking.urlpatterns,
    *pipeline.urlpatterns,
    *leads.urlpatterns,
    *day.urlpatterns,
    *proposals.urlpatterns,
]
