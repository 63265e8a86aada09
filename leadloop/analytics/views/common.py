"""Who may see the measure pages: admins, marketers and sales managers see the whole business;
a sales rep sees the same pages narrowed to their own leads."""

from collections.abc import Callable

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse

from leadloop.crm import access
from leadloop.crm.views.common import workspace

# The measure pages are workspace pages: signed in, with a role.
measure: Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]] = workspace


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
