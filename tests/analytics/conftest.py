"""A small business whose figures were worked out by hand: `cleanpro` (the data set) and
`march` (its period, Filters for 1-30 March 2026; the previous period is 30 Jan - 28 Feb).

Two sources: "Google Ads" (paid_search, campaign "spring-search") and "Newsletter" (email,
campaign "newsletter"). Two reps, rita and mark, and a manager, maria. Forms "quote" and
"contact" (the lead.captured event's form). Times are UTC.

| lead | source | form    | owner | captured     | first contact | path (stage.changed unless said)                              |
| L1   | google | quote   | rita  | 03-02 10:00  | +2 min        | mql 03-03 10:00, sql 03-05 10:00, opportunity 03-10 10:00, deal.won 5000 + customer 03-20 10:00 |
| L2   | google | quote   | rita  | 03-03 09:00  | +4 min        | mql 03-04 09:00, sql 03-08 09:00, deal.lost + recycled 03-15 09:00 |
| L3   | google | contact | mark  | 03-05 12:00  | +20 min       | mql 03-07 12:00, disqualified 03-09 12:00                      |
| L4   | news   | quote   | mark  | 03-06 08:00  | +8 min        | mql 03-06 20:00, sql 03-09 08:00                               |
| L5   | news   | contact | rita  | 03-10 09:00  | none          | assigned 03-10 09:01: stuck past its SLA                       |
| L6   | news   | quote   | rita  | 03-12 10:00  | +3 min        | mql 03-13 10:00, sql 03-14 10:00, opportunity 03-16 10:00, deal.won 3000 + customer 03-25 10:00 |
| L7   | google | quote   | mark  | 03-20 10:00  | none          | (none; never assigned)                                          |
| L8   | google | quote   | rita  | 03-29 10:00  | none          | stage set to mql with no event                                  |
| L9   | google | quote   | rita  | 03-15 10:00  | none          | quarantined (invalid): counted nowhere                         |
| F1   | google | quote   | rita  | 02-10 10:00  | +10 min       | mql 02-11 10:00, sql 02-13 10:00, imported proposal.sent 03-02 10:00, deal.won 2000 + customer 03-05 10:00 |
| F2   | news   | contact | mark  | 02-20 10:00  | none          |                                                                 |
| A1   | google | quote   | rita  | 04-02 10:00  | none          | (after the period)                                              |

Proposals (crm): on L1 sent 03-09, accepted 03-12 (and a proposal.sent event naming it, which
must not count twice, and makes L1 an opportunity on 03-09); on L2 sent 03-12, declined; on L6 sent 03-18, accepted 03-22.
Spend: google 03-01 600.00 (300 clicks, 10,000 impressions), 03-15 400.00 (200, 8,000);
newsletter 03-01 200.00; google 02-15 500.00 (previous period); google 04-01 999.00 (after).
Visitors: 20 first seen in March, 5 in February.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from leadloop.analytics import rollups
from leadloop.analytics.kpis import Filters
from leadloop.analytics.models import Spend
from leadloop.core.models import Channel, Event, Lead, Quality, Source, Visitor
from leadloop.crm.access import Role
from leadloop.crm.models import Deal, Pipeline, Proposal, ProposalStatus

MARCH = Filters(start=date(2026, 3, 1), end=date(2026, 3, 30))


def at(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@dataclass
class CleanPro:
    google: Source
    news: Source
    rita: object
    mark: object
    maria: object
    leads: dict[str, Lead]


def _person(username: str, role: str):
    user = get_user_model().objects.create_user(
        username, f"{username}@team.example", f"pw-{username}-2026"
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def _lead(name: str, source: Source, form: str, owner, captured: datetime, **fields) -> Lead:
    lead = Lead.objects.create(
        first_name=name,
        email=f"{name.lower()}@customers.example",
        source=source,
        owner=owner,
        captured_at=captured,
        **fields,
    )
    Event.objects.create(lead=lead, type="lead.captured", occurred_at=captured, data={"form": form})
    return lead


def _path(lead: Lead, *moves: tuple[str, datetime]) -> None:
    """stage.changed events along the moves, the lead left at the last stage."""
    stage = "lead"
    for to, when in moves:
        Event.objects.create(
            lead=lead, type="stage.changed", occurred_at=when, data={"from": stage, "to": to}
        )
        stage = to
    Lead.objects.filter(pk=lead.pk).update(lifecycle_stage=stage)


def _won(lead: Lead, revenue: str, when: datetime) -> None:
    Event.objects.create(lead=lead, type="deal.won", occurred_at=when, data={"revenue": revenue})


def _proposal(lead: Lead, sent: datetime, accepted: datetime | None = None) -> Proposal:
    pipeline = Pipeline.objects.get(name="Sales")
    deal = Deal.objects.create(
        lead=lead, pipeline=pipeline, stage=pipeline.stages.get(name="New"), title="Cleaning"
    )
    return Proposal.objects.create(
        deal=deal,
        title="Office cleaning",
        status=ProposalStatus.ACCEPTED if accepted else ProposalStatus.DECLINED,
        sent_at=sent,
        accepted_at=accepted,
    )


@pytest.fixture
def march() -> Filters:
    return MARCH


@pytest.fixture
def cleanpro(db) -> CleanPro:
    google = Source.objects.create(
        name="Google Ads", channel=Channel.PAID_SEARCH, campaign="spring-search"
    )
    news = Source.objects.create(name="Newsletter", channel=Channel.EMAIL, campaign="newsletter")
    rita, mark = _person("rita", Role.REP), _person("mark", Role.REP)
    maria = _person("maria", Role.MANAGER)
    minutes = timedelta(minutes=1)
    leads = {
        "L1": _lead("L1", google, "quote", rita, at(3, 2), first_contact_at=at(3, 2) + 2 * minutes),
        "L2": _lead("L2", google, "quote", rita, at(3, 3, 9), first_contact_at=at(3, 3, 9, 4)),
        "L3": _lead("L3", google, "contact", mark, at(3, 5, 12), first_contact_at=at(3, 5, 12, 20)),
        "L4": _lead("L4", news, "quote", mark, at(3, 6, 8), first_contact_at=at(3, 6, 8, 8)),
        "L5": _lead("L5", news, "contact", rita, at(3, 10, 9), assigned_at=at(3, 10, 9, 1)),
        "L6": _lead("L6", news, "quote", rita, at(3, 12), first_contact_at=at(3, 12, 10, 3)),
        "L7": _lead("L7", google, "quote", mark, at(3, 20)),
        "L8": _lead("L8", google, "quote", rita, at(3, 29), lifecycle_stage="mql"),
        "L9": _lead("L9", google, "quote", rita, at(3, 15), quality=Quality.INVALID),
        "F1": _lead("F1", google, "quote", rita, at(2, 10), first_contact_at=at(2, 10, 10, 10)),
        "F2": _lead("F2", news, "contact", mark, at(2, 20)),
        "A1": _lead("A1", google, "quote", rita, at(4, 2)),
    }
    _path(leads["L1"], ("mql", at(3, 3)), ("sql", at(3, 5)), ("opportunity", at(3, 10)),
          ("customer", at(3, 20)))  # fmt: skip
    _won(leads["L1"], "5000.00", at(3, 20))
    _path(leads["L2"], ("mql", at(3, 4, 9)), ("sql", at(3, 8, 9)), ("recycled", at(3, 15, 9)))
    Event.objects.create(lead=leads["L2"], type="deal.lost", occurred_at=at(3, 15, 9))
    _path(leads["L3"], ("mql", at(3, 7, 12)), ("disqualified", at(3, 9, 12)))
    _path(leads["L4"], ("mql", at(3, 6, 20)), ("sql", at(3, 9, 8)))
    _path(leads["L6"], ("mql", at(3, 13)), ("sql", at(3, 14)), ("opportunity", at(3, 16)),
          ("customer", at(3, 25)))  # fmt: skip
    _won(leads["L6"], "3000.00", at(3, 25))
    _path(leads["F1"], ("mql", at(2, 11)), ("sql", at(2, 13)), ("customer", at(3, 5)))
    Event.objects.create(lead=leads["F1"], type="proposal.sent", occurred_at=at(3, 2))
    _won(leads["F1"], "2000.00", at(3, 5))
    first = _proposal(leads["L1"], at(3, 9), accepted=at(3, 12))
    Event.objects.create(
        lead=leads["L1"], type="proposal.sent", occurred_at=at(3, 9), data={"proposal": first.pk}
    )
    _proposal(leads["L2"], at(3, 12))
    _proposal(leads["L6"], at(3, 18), accepted=at(3, 22))
    for day, source, cost, clicks, impressions in (
        (date(2026, 3, 1), google, "600.00", 300, 10_000),
        (date(2026, 3, 15), google, "400.00", 200, 8_000),
        (date(2026, 3, 1), news, "200.00", 0, 0),
        (date(2026, 2, 15), google, "500.00", 0, 0),
        (date(2026, 4, 1), google, "999.00", 0, 0),
    ):
        Spend.objects.create(
            day=day,
            source=source,
            campaign=source.campaign,
            channel=source.channel,
            cost=Decimal(cost),
            clicks=clicks,
            impressions=impressions,
        )
    for n in range(25):
        seen = at(3, 1 + n) if n < 20 else at(2, n - 19)
        Visitor.objects.create(key=f"visitor-{n}", first_seen_at=seen, last_seen_at=seen)
    rollups.rebuild()
    return CleanPro(google, news, rita, mark, maria, leads)
