"""Who may see what. A role is a Django group: admins and marketers see every lead and deal, a
sales manager sees their own and their teams' reps', a sales rep sees their own."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from leadloop.core.models import Lead
from leadloop.crm.models import Deal
from leadloop.routing.models import Membership


class Role:
    ADMIN = "Admin"
    MARKETER = "Marketer"
    MANAGER = "Sales manager"
    REP = "Sales rep"
    ALL = (ADMIN, MARKETER, MANAGER, REP)


def role_of(user: AbstractBaseUser) -> str | None:
    """A superuser is an admin; otherwise the widest role among the user's groups."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    if not hasattr(user, "_leadloop_role"):
        names = set(user.groups.values_list("name", flat=True))
        user._leadloop_role = next((role for role in Role.ALL if role in names), None)
    return user._leadloop_role


def sees_everything(user: AbstractBaseUser) -> bool:
    return role_of(user) in (Role.ADMIN, Role.MARKETER)


def owners_seen_by(user: AbstractBaseUser) -> list[int]:
    """The owners whose leads and deals a sales manager or rep sees."""
    if role_of(user) != Role.MANAGER:
        return [user.pk]
    reps = Membership.objects.filter(team__manager=user).values_list("rep__user_id", flat=True)
    return sorted({user.pk, *reps})


def visible_leads(user: AbstractBaseUser) -> QuerySet[Lead]:
    leads = Lead.objects.filter(merged_at__isnull=True)
    if role_of(user) is None:
        return leads.none()
    if sees_everything(user):
        return leads
    return leads.filter(owner_id__in=owners_seen_by(user))


def visible_deals(user: AbstractBaseUser) -> QuerySet[Deal]:
    deals = Deal.objects.all()
    if role_of(user) is None:
        return deals.none()
    if sees_everything(user):
        return deals
    owners = owners_seen_by(user)
    return deals.filter(Q(owner_id__in=owners) | Q(owner__isnull=True, lead__owner_id__in=owners))


def may_manage_pipelines(user: AbstractBaseUser) -> bool:
    return role_of(user) in (Role.ADMIN, Role.MANAGER)
