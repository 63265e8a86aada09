from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from leadloop.api import api
from leadloop.core.views import floor_insert, health

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("healthz", health, name="health"),
    path("", include("leadloop.capture.urls")),
    path("", include("leadloop.nurture.urls")),
]

if settings.LEADLOOP_BENCH_FLOOR:
    urlpatterns.append(path("bench/floor", floor_insert, name="bench-floor"))
