from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from leadloop.api import api
from leadloop.core.views import floor_insert, health
from leadloop.nurture import inbound

urlpatterns = [
    path("", RedirectView.as_view(url="/app/", permanent=False)),
    path("", include("leadloop.crm.urls")),
    path("", include("leadloop.analytics.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("healthz", health, name="health"),
    path("", include("leadloop.capture.urls")),
    path("", include("leadloop.nurture.urls")),
    # Providers' webhooks: anymail's for email (bounces, complaints, opens, replies), Twilio's
    # for texts to our number (see nurture/inbound.py).
    path("anymail/", include("anymail.urls")),
    path("sms/twilio/inbound", inbound.twilio_sms, name="twilio-sms-inbound"),
]

if settings.LEADLOOP_BENCH_FLOOR:
    urlpatterns.append(path("bench/floor", floor_insert, name="bench-floor"))
