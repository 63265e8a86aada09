"""CORS for the public capture endpoints, per form: a form answers only the sites it allows."""

import json
import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from leadloop.capture.models import Form
from leadloop.capture.origins import origin_allowed

FORM_PATH = re.compile(r"^/api/v1/forms/(?P<slug>[-\w]+)(/|$)")
TRACK_PATH = "/api/v1/track"
PREFLIGHT_MAX_AGE = "600"


class PublicCaptureCorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        origin = request.headers.get("Origin", "")
        if (
            not origin
            or not self._is_public_capture(request.path)
            or self._same_origin(request, origin)
        ):
            return self.get_response(request)
        if not self._allowed(request.path, origin):
            message = f"This form does not accept requests from {origin}."
            return JsonResponse(
                {"errors": [{"field": None, "message": message}]},
                status=403,
                json_dumps_params={"ensure_ascii": True},
            )
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
        match = FORM_PATH.match(path)
        forms = Form.objects.filter(is_active=True)
        if match:
            forms = forms.filter(slug=match["slug"])
        return any(
            origin_allowed(origin, _allowed_domains(definition))
            for definition in forms.values_list("definition", flat=True)
        )


def _allowed_domains(definition: object) -> list[str]:
    if isinstance(definition, str):
        definition = json.loads(definition)
    settings = definition.get("settings", {}) if isinstance(definition, dict) else {}
    return settings.get("allowed_domains", [])
