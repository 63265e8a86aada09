"""How a team shares its leads among the members who can take one now. Each strategy runs
with the team's row locked (select_for_update; SQLite's writers queue on BEGIN IMMEDIATE), so
two workers never give the "next" turn twice."""

from collections.abc import Callable

from django.db.models import Count

from leadloop.core.models import Lead, LifecycleStage
from leadloop.routing.models import Membership, Strategy, Team

# A lead is open (it counts towards a rep's load) until it is won, lost or recycled.
CLOSED_STAGES = [LifecycleStage.CUSTOMER, LifecycleStage.DISQUALIFIED, LifecycleStage.RECYCLED]


def _order(member: Membership) -> tuple[int, int]:
    return member.position, member.pk


def _after_last_turn(team: Team, eligible: list[Membership], members: list[Membership]):
    """The eligible members in turn order, starting after the one who had the last turn."""
    last = next((m for m in members if m.pk == team.last_turn), None)
    ordered = sorted(eligible, key=_order)
    if last is None:
        return ordered
    later = [m for m in ordered if _order(m) > _order(last)]
    return later + [m for m in ordered if _order(m) <= _order(last)]


def round_robin(team: Team, eligible: list[Membership], members: list[Membership]):
    return _after_last_turn(team, eligible, members)[0]


def weighted(team: Team, eligible: list[Membership], members: list[Membership]):
    """Smooth weighted round robin: each turn every eligible member gains its weight in
    credit, the richest takes the lead and pays the total. Weights 3:1 give A A B A, not
    A A A B, and a member who was away does not come back to a burst of leads."""
    total = sum(m.weight for m in eligible)
    for member in eligible:
        member.credit += member.weight
    chosen = max(sorted(eligible, key=_order), key=lambda m: m.credit)
    chosen.credit -= total
    Membership.objects.bulk_update(eligible, ["credit"])
    return chosen


def load_balanced(team: Team, eligible: list[Membership], members: list[Membership]):
    """The member with the fewest open leads; a tie goes round in turn order."""
    open_leads = dict(
        Lead.objects.filter(owner_id__in=[m.rep.user_id for m in eligible])
        .exclude(lifecycle_stage__in=CLOSED_STAGES)
        .values_list("owner_id")
        .annotate(Count("id"))
    )
    in_turn = _after_last_turn(team, eligible, members)
    return min(in_turn, key=lambda m: open_leads.get(m.rep.user_id, 0))


STRATEGIES: dict[str, Callable] = {
    Strategy.ROUND_ROBIN: round_robin,
    Strategy.WEIGHTED: weighted,
    Strategy.LOAD_BALANCED: load_balanced,
}


def next_member(team: Team, eligible: list[Membership], members: list[Membership]) -> Membership:
    """Choose among `eligible` (non-empty) by the team's strategy and record the turn."""
    chosen = STRATEGIES[team.strategy](team, eligible, members)
    team.last_turn = chosen.pk
    Team.objects.filter(pk=team.pk).update(last_turn=chosen.pk)
    return chosen
