"""The JSON API under /api/v1/: one NinjaAPI, a router per app."""

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from leadloop.analytics.api import router as analytics_router
from leadloop.capture.api import router as capture_router
from leadloop.nurture.api import router as nurture_router
from leadloop.quality.api import router as quality_router
from leadloop.routing.api import router as routing_router

api = NinjaAPI(title="leadloop API", version="1", urls_namespace="api-v1")
api.add_router("/", capture_router)
api.add_router("/", quality_router)
api.add_router("/", routing_router)
api.add_router("/", nurture_router)
api.add_router("/analytics/", analytics_router)


def _errors(request: HttpRequest, status: int, errors: list[dict]) -> HttpResponse:
    return api.create_response(request, {"errors": errors}, status=status)


@api.exception_handler(AuthenticationError)
def unauthorized(request: HttpRequest, exc: Exception) -> HttpResponse:
    message = "Send a source API key as 'Authorization: Bearer <key>' (leadloop sources add NAME)."
    return _errors(request, 401, [{"field": None, "message": message}])


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _errors(request, 404, [{"field": None, "message": "Not found."}])


@api.exception_handler(ValidationError)
def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {
            "field": ".".join(str(p) for p in e.get("loc", [])[1:]) or None,
            "message": e.get("msg", ""),
        }
        for e in exc.errors
    ]
    return _errors(request, 422, errors)
