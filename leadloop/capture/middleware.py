"""CORS for the public capture endpoints, per form: a form answers only the sites it allows."""

import re
from collections.abc import Callable

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse

from leadloop.capture.models import Form
from leadloop.capture.origins import (
    ALLOWED_DOMAINS_CACHE_KEY,
    ALLOWED_DOMAINS_CACHE_SECONDS,
    origin_allowed,
)

FORM_PATH = re.compile(r"^/api/v1/forms/(?P<slug>[-\w]+)(/|$)")
TRACK_PATH = "/api/v1/track"
PREFLIGHT_MAX_AGE = "600"


class PublicCaptureCorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        origin = request.headers.get("Origin", "")
        if not origin or not self._is_public_capture(request.path):
            return self.get_response(request)
        if self._same_origin(request, origin):
            return self.get_response(request)
        if not self._allowed(request.path, origin):
            message = f"This form does not accept requests from {origin}."
            return JsonResponse({"errors": [{"field": None, "message": message}]}, status=403)
        if request.method == "OPTIONS":
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response["Access-Control-Allow-Headers"] = "Content-Type"
            response["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        else:
            response = self.get_response(request)
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
        return response

    @staticmethod
    def _is_public_capture(path: str) -> bool:
        return path == TRACK_PATH or bool(FORM_PATH.match(path))

    @staticmethod
    def _same_origin(request: HttpRequest, origin: str) -> bool:
        return origin == f"{request.scheme}://{request.get_host()}"

    @staticmethod
    def _allowed(path: str, origin: str) -> bool:
        """A form's own domains for its endpoints; any active form's for the page-view beacon.
        An unknown or inactive form lets the request through, so the widget reads its 404."""
        domains_by_form = allowed_domains_by_form()
        match = FORM_PATH.match(path)
        if match is None:
            return any(origin_allowed(origin, domains) for domains in domains_by_form.values())
        domains = domains_by_form.get(match["slug"])
        return domains is None or origin_allowed(origin, domains)


def allowed_domains_by_form() -> dict[str, list[str]]:
    """Each active form's allowed domains; cached briefly because every beacon asks."""
    domains = cache.get(ALLOWED_DOMAINS_CACHE_KEY)
    if domains is None:
        domains = {
            slug: definition.get("settings", {}).get("allowed_domains", [])
            for slug, definition in Form.objects.filter(is_active=True).values_list(
                "slug", "definition"
            )
        }
        cache.set(ALLOWED_DOMAINS_CACHE_KEY, domains, ALLOWED_DOMAINS_CACHE_SECONDS)
    return domains
