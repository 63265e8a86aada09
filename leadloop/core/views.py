from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from leadloop.core.models import Company


def health(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@csrf_exempt
def floor_insert(request: HttpRequest) -> HttpResponse:
    """The benchmark's floor: the same server stack doing one raw insert per request.
    Only routed when LEADLOOP_BENCH_FLOOR is set."""
    Company.objects.create(name="floor")
    return HttpResponse(status=201)
