"""What every page of the workspace needs: a signed-in person with a role, and only the leads
and deals that person may see."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from leadloop.core.models import Lead
from leadloop.crm import access
from leadloop.crm.models import Deal


def workspace(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in, and given one of the roles; anyone else is refused."""

    @login_required
    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if access.role_of(request.user) is None:
            raise PermissionDenied("Your account has no role in the sales workspace yet.")
        return view(request, *args, **kwargs)

    return guarded


def lead_for(request: HttpRequest, pk: int) -> Lead:
    """The lead, if this person may see it; a 404 otherwise (not a 403: no hint it exists)."""
    return get_object_or_404(access.visible_leads(request.user), pk=pk)


def deal_for(request: HttpRequest, pk: int) -> Deal:
    return get_object_or_404(access.visible_deals(request.user), pk=pk)


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None
