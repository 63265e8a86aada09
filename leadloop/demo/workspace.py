"""CleanPro's sales team for the demo: a manager, three reps and a marketer who can log in, the
demo leads shared among the reps, and a deal for every lead that reached sales — the won and lost
ones closed as their history says, the open ones spread along the pipeline, some with a meeting
booked or a proposal out, some gone quiet — so the board, the lead pages and "my day" are alive
from the first login."""

import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from leadloop.core.models import Event, Lead, LifecycleStage, Source
from leadloop.crm.access import Role
from leadloop.crm.models import (
    BookingPage,
    Deal,
    Meeting,
    Pipeline,
    Proposal,
    ProposalLine,
    Stage,
    StageOutcome,
)
from leadloop.routing.models import Membership, Rep, Team

TEAM = (
    ("maria", "Maria", "Alvarez", Role.MANAGER),
    ("rita", "Rita", "Okafor", Role.REP),
    ("sam", "Sam", "Lindqvist", Role.REP),
    ("tom", "Tom", "Becker", Role.REP),
    ("mark", "Mark", "Ito", Role.MARKETER),
)
REPS = ("rita", "sam", "tom")
TIME_ZONE = "America/New_York"
# How far along the open deals are: most are early, few are negotiating.
OPEN_SPREAD = {"New": 5, "Qualified": 4, "Meeting booked": 3, "Proposal sent": 2, "Negotiation": 1}


@dataclass
class Staffed:
    people: int = 0
    leads_shared: int = 0
    deals: int = 0
    meetings: int = 0
    proposals: int = 0


def password_for(username: str) -> str:
    return f"demo-{username}"


def staff(sources: list[Source], seed: int) -> Staffed:
    """Add the team and their deals for the demo leads of `sources`."""
    rng = random.Random(seed)
    result = Staffed()
    with transaction.atomic():
        users = _people(result)
        reps = [users[name] for name in REPS]
        _team(users["maria"], reps)
        leads = list(
            Lead.objects.filter(source__in=sources)
            .order_by("pk")
            .values_list("pk", "captured_at", "lifecycle_stage")
        )
        _share(leads, reps, result)
        _deals(leads, reps, rng, result)
    return result


def _people(result: Staffed) -> dict:
    users = {}
    model = get_user_model()
    for username, first, last, role in TEAM:
        user = model.objects.filter(username=username).first()
        if user is None:
            user = model.objects.create_user(
                username,
                f"{username}@cleanpro.example",
                password_for(username),
                first_name=first,
                last_name=last,
            )
            result.people += 1
        user.groups.add(Group.objects.get(name=role))
        users[username] = user
    return users


def _team(manager, reps: list) -> None:
    team, _ = Team.objects.get_or_create(name="CleanPro sales", defaults={"manager": manager})
    for position, user in enumerate(reps):
        rep, _ = Rep.objects.get_or_create(
            user=user,
            defaults={
                "time_zone": TIME_ZONE,
                "work_days": "Mon,Tue,Wed,Thu,Fri",
                "work_starts": time(8),
                "work_ends": time(18),
            },
        )
        Membership.objects.get_or_create(team=team, rep=rep, defaults={"position": position})
        BookingPage.objects.get_or_create(
            slug=user.username,
            defaults={"title": f"Meet {user.first_name} from CleanPro", "rep": rep},
        )
    BookingPage.objects.get_or_create(
        slug="cleanpro", defaults={"title": "Book a CleanPro walkthrough", "team": team}
    )


def _share(leads: list[tuple], reps: list, result: Staffed) -> None:
    """Round robin, as the routing layer would have done; each was called within minutes."""
    for index, rep in enumerate(reps):
        mine = [pk for position, (pk, _, _) in enumerate(leads) if position % len(reps) == index]
        for start in range(0, len(mine), 900):
            Lead.objects.filter(pk__in=mine[start : start + 900], owner__isnull=True).update(
                owner=rep
            )
        result.leads_shared += len(mine)


def _deals(leads: list[tuple], reps: list, rng: random.Random, result: Staffed) -> None:
    pipeline = Pipeline.objects.prefetch_related("stages").first()
    if pipeline is None:
        return
    stages = {stage.name: stage for stage in pipeline.stages.all()}
    outcomes = _outcomes([pk for pk, _, _ in leads])
    now = timezone.now()
    deals = []
    for position, (pk, captured_at, stage) in enumerate(leads):
        owner = reps[position % len(reps)]
        outcome = outcomes.get(pk)
        if outcome is not None:
            deals.append(_closed_deal(pk, owner, outcome, pipeline, stages, captured_at))
        elif stage in (LifecycleStage.SQL, LifecycleStage.OPPORTUNITY):
            deals.append(_open_deal(pk, owner, pipeline, stages, captured_at, now, rng))
    Deal.objects.bulk_create(deals, batch_size=2000)
    result.deals += len(deals)
    _meetings_and_proposals(pipeline, stages, now, rng, result)


def _outcomes(lead_ids: list[int]) -> dict[int, Event]:
    found = {}
    for start in range(0, len(lead_ids), 900):
        for event in Event.objects.filter(
            lead_id__in=lead_ids[start : start + 900], type__in=("deal.won", "deal.lost")
        ).only("lead_id", "type", "data", "occurred_at"):
            found[event.lead_id] = event
    return found


def _closed_deal(pk, owner, outcome: Event, pipeline, stages, captured_at) -> Deal:
    won = outcome.type == "deal.won"
    value = Decimal(outcome.data.get("revenue", "0")) if won else _price_of(pk)
    return Deal(
        lead_id=pk,
        pipeline=pipeline,
        stage=stages["Won" if won else "Lost"],
        title=f"Cleaning contract #{pk}",
        value=value,
        owner=owner,
        created_at=captured_at,
        stage_entered_at=outcome.occurred_at,
        last_activity_at=outcome.occurred_at,
        closed_at=outcome.occurred_at,
        lost_reason="" if won else outcome.data.get("reason", "").replace("_", " "),
    )


def _open_deal(pk, owner, pipeline, stages, captured_at, now, rng) -> Deal:
    name = rng.choices(list(OPEN_SPREAD), weights=list(OPEN_SPREAD.values()))[0]
    # One in five has gone quiet for longer than the pipeline's stall limit.
    idle_days = (
        rng.uniform(pipeline.stall_days + 1, 45) if rng.random() < 0.2 else rng.uniform(0, 9)
    )
    last_activity = max(captured_at, now - timedelta(days=idle_days))
    return Deal(
        lead_id=pk,
        pipeline=pipeline,
        stage=stages[name],
        title=f"Cleaning contract #{pk}",
        value=_price_of(pk),
        owner=owner,
        expected_close=(now + timedelta(days=rng.randint(5, 60))).date(),
        position=rng.random() * 1000,
        created_at=captured_at,
        stage_entered_at=last_activity,
        last_activity_at=last_activity,
    )


def _price_of(pk: int) -> Decimal:
    """A believable monthly contract: a few hundred to a few thousand dollars."""
    return Decimal(400 + (pk * 7919) % 4600).quantize(Decimal("1")) + Decimal("0.00")


def _meetings_and_proposals(pipeline, stages: dict[str, Stage], now, rng, result: Staffed) -> None:
    """A meeting in the coming days for the "Meeting booked" deals, a sent proposal for the
    "Proposal sent" and "Negotiation" ones."""
    booked = Deal.objects.filter(pipeline=pipeline, stage=stages["Meeting booked"]).select_related(
        "owner"
    )
    meetings = []
    for deal in booked:
        day = (now + timedelta(days=rng.randint(0, 6))).date()
        starts = datetime.combine(day, time(13 + rng.randint(0, 6)), tzinfo=UTC)
        meetings.append(
            Meeting(
                lead_id=deal.lead_id,
                deal=deal,
                host=deal.owner,
                title="CleanPro walkthrough",
                starts_at=starts,
                ends_at=starts + timedelta(minutes=30),
                location="On site",
            )
        )
    Meeting.objects.bulk_create(meetings, batch_size=2000)
    result.meetings += len(meetings)
    quoting = Deal.objects.filter(
        pipeline=pipeline,
        stage__in=[stages["Proposal sent"], stages["Negotiation"]],
        stage__outcome=StageOutcome.OPEN,
    )
    for deal in quoting:
        sent = max(deal.created_at, now - timedelta(days=rng.uniform(0, 10)))
        proposal = Proposal.objects.create(
            deal=deal,
            title=f"Proposal: {deal.title}",
            terms="Monthly service, 30 days' notice. Prices include supplies.",
            valid_until=(sent + timedelta(days=30)).date(),
            status="sent",
            total=deal.value,
            sent_at=sent,
            created_at=sent,
        )
        ProposalLine.objects.create(
            proposal=proposal,
            description="Recurring office cleaning (monthly)",
            unit_price=deal.value,
        )
        result.proposals += 1
