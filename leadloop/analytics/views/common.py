"""Who may see the measure pages: admins, marketers and sales managers see the whole business;
a sales rep sees the same pages narrowed to their own leads."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse

from leadloop.crm import access
from leadloop.crm.views.common import workspace


def measure(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A workspace page of the measure layer (signed in, with a role)."""
    return wraps(view)(workspace(view))


def owner_in_view(user: AbstractBaseUser, asked: int | None) -> int | None:
    """The owner filter to apply: a rep's own id whatever they asked for; others get theirs."""
    if access.role_of(user) == access.Role.REP:
        return user.pk
    return asked


def may_change_settings(user: AbstractBaseUser) -> bool:
    """Targets, spend and experiments are changed by admins and marketers."""
    return access.role_of(user) in (access.Role.ADMIN, access.Role.MARKETER)


def wants_csv(request: HttpRequest) -> bool:
    return request.GET.get("format") == "csv"
