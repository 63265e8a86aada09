"""Dynamic segments: the SQL translation of a condition finds exactly the leads `holds` finds,
and refreshing a segment keeps its members (and their joined/left events) up to date."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from leadloop import journey
from leadloop.core.conditions import holds, parse_condition
from leadloop.core.models import Event, EventDelivery, Lead, Source
from leadloop.nurture import segments, services
from leadloop.nurture.models import Enrollment, Segment, SegmentMember, Workflow

pytestmark = pytest.mark.django_db

STAGES = ["subscriber", "lead", "mql", "sql", "customer", "disqualified"]
COUNTRIES = ["US", "us ", "CA", "GB", "DE", "", None]
POSTAL = ["10001", "94016", "94999", "30301", "SW1A 1AA", "K1A 0B1", "94016-1234"]
INDUSTRIES = ["healthcare", "Dental", "retail", "software", ""]
SIZES = [1, 8, 50, 49, 120, 800, 2500, 50.5, "50-100", "", None, True, [], {}]
BUDGETS = [150, 400, 1000, 1500, 2500.5, "call me", None]
DOMAINS = ["gmail.com", "Yahoo.com", "cleanpro.example", "summit-dental.com", "acme.io"]
FREE = [True, False, None, "yes", "", 0, 1]
PATHS = ["/", "/pricing", "/features", "/blog/x"]
NAMES = ["Ann", "ann", "Bob", "Zoë", "Renée", "O'Brien", "", "  Dee  "]


def _maybe(rng: random.Random, values: list, share: float = 0.8):
    """A value from `values`, or (the rest of the time) no such key."""
    from leadloop.core.facts import MISSING

    return rng.choice(values) if rng.random() < share else MISSING


def _population(count: int = 400) -> list[Lead]:
    from leadloop.core.facts import MISSING

    rng = random.Random(6)
    now = timezone.now()
    sources = [
        Source.objects.create(name="Google Ads", channel="paid_search", campaign="spring"),
        Source.objects.create(name="Partner feed", channel="affiliate", campaign="Partner-2026"),
        Source.objects.create(name="Website", channel="organic"),
    ]
    leads = []
    for number in range(count):
        custom = {
            "country": _maybe(rng, COUNTRIES, 0.5),
            "state": _maybe(rng, ["NY", "CA", ""], 0.3),
            "postal_code": _maybe(rng, POSTAL, 0.5),
            "zip": _maybe(rng, POSTAL, 0.2),
            "industry": _maybe(rng, INDUSTRIES, 0.5),
            "company_size": _maybe(rng, SIZES, 0.5),
            "employees": _maybe(rng, [10, 60, 500], 0.2),
            "budget": _maybe(rng, BUDGETS, 0.6),
            "service": _maybe(rng, ["Office clean", "deep clean", "office cleaning"], 0.5),
        }
        enrichment = {
            name: {"value": value, "source": "bench"}
            for name, value in {
                "phone_region": _maybe(rng, ["US", "CA", "GB", ""], 0.5),
                "ip_country": _maybe(rng, ["US", "DE", None], 0.3),
                "industry": _maybe(rng, ["software", "retail"], 0.3),
                "company_size": _maybe(rng, [20, 75, 300], 0.3),
                "company_name": _maybe(rng, ["Summit", ""], 0.4),
            }.items()
            if value is not MISSING
        }
        free = _maybe(rng, FREE, 0.7)
        email = "" if rng.random() < 0.1 else f"p{number}@{rng.choice(DOMAINS)}"
        leads.append(
            Lead(
                first_name=rng.choice(NAMES),
                email=email,
                phone="" if rng.random() < 0.3 else f"+1415555{number:04d}",
                lifecycle_stage=rng.choice(STAGES),
                quality=rng.choice(["valid"] * 8 + ["suspect"]),
                score=rng.randint(-10, 100),
                score_fit=rng.randint(0, 40),
                source=rng.choice([*sources, None]),
                custom_fields={k: v for k, v in custom.items() if v is not MISSING},
                enrichment=enrichment,
                quality_signals={} if free is MISSING else {"email": {"free_mail": free}},
            )
        )
    Lead.objects.bulk_create(leads)
    leads = list(Lead.objects.order_by("pk"))
    events = []
    for lead in leads:
        for _ in range(rng.randint(0, 5)):
            kind = rng.choice(["page.viewed", "page.viewed", "email.opened", "form.submitted"])
            data = {
                "page.viewed": {"path": rng.choice(PATHS)},
                "email.opened": {"campaign": rng.choice(["spring-1", "spring-2"])},
                "form.submitted": {"kind": rng.choice(["demo_request", "quote_request"])},
            }[kind]
            if rng.random() < 0.1:
                data["extra"] = None
            age = timedelta(days=rng.uniform(0, 90))
            events.append(Event(lead=lead, type=kind, data=data, occurred_at=now - age))
    Event.objects.bulk_create(events)
    return leads


FACTS = {  # fact: values a condition on it may name
    "lifecycle_stage": ["mql", "MQL", "sql", "lead", "customer"],
    "quality": ["valid", "suspect"],
    "score": [0, 40, "40", 39.5, 70, -5],
    "score_fit": [10, 20, "x"],
    "first_name": ["ann", "bob", "dee", "zoë", "renée", "o'"],
    "email": ["p1@gmail.com", "gmail"],
    "phone": ["+1415", "5550"],
    "custom_fields.budget": [150, 1000, "1000", 2500.5, "call me"],
    "custom_fields.service": ["office clean", "OFFICE", "clean"],
    "custom_fields.company_size": [50, "50", 49, 100, "50-100", "true", "none", "[]"],
    "custom_fields.country": ["us", "US", "ca", "none"],
    "custom_fields.missing": ["x", 1],
    "enrichment.phone_region": ["us", "gb", ""],
    "enrichment.company_name": ["summit", "sum"],
    "country": ["US", "ca", "de", "gb"],
    "region": ["ny", "ca"],
    "postal_code": ["94016", "10001", "sw1a"],
    "industry": ["dental", "software", "retail"],
    "company_size": [50, 100, 300, "75"],
    "source.channel": ["paid_search", "affiliate", "organic"],
    "source.campaign": ["spring", "partner-2026", "partner"],
    "email_domain": ["gmail.com", "yahoo.com", "cleanpro.example", "gmail"],
    "free_mail": [True, False, "true", "yes"],
}
OPS = ["equals", "not_equals", "in", "gte", "lte", "between", "contains", "starts_with",
       "filled", "empty"]  # fmt: skip
BETWEEN = [[40, 70], ["40", "70"], ["94000", "94999"], ["10000", "11999"], [50, 500],
           ["a", "m"], ["ca", "us"], [1000, "2000"]]  # fmt: skip


# Facts stored as digits in text, which holds would read as numbers (the one difference):
# no gte or lte on them, and ranges only of their own length or of letters.
DIGITS_AS_TEXT = {"postal_code", "phone"}
TEXT_RANGES = [["94000", "94999"], ["10000", "11999"], ["a", "m"], ["ca", "us"]]


def _fact_condition(rng: random.Random) -> dict:
    name = rng.choice(list(FACTS))
    op = rng.choice(OPS)
    while name in DIGITS_AS_TEXT and op in ("gte", "lte"):
        op = rng.choice(OPS)
    values = FACTS[name]
    if op == "in":
        value = rng.sample(values, k=min(len(values), rng.randint(1, 3)))
    elif op == "between":
        value = rng.choice(TEXT_RANGES if name in DIGITS_AS_TEXT else BETWEEN)
    elif op in ("filled", "empty"):
        value = None
    else:
        value = rng.choice(values)
    return {"fact": name, "op": op, "value": value}


def _event_condition(rng: random.Random) -> dict:
    event, where = rng.choice(
        [
            ("page.viewed", {"path": "/pricing"}),
            ("page.viewed", {}),
            ("email.opened", {"campaign": "spring-1"}),
            ("form.submitted", {"kind": "demo_request"}),
            ("page.viewed", {"path": "/pricing", "extra": None}),
            ("deal.won", {}),
        ]
    )
    condition = {"event": event, "where": where, "at_least": rng.choice([1, 1, 2, 3])}
    if rng.random() < 0.6:
        condition["within_days"] = rng.choice([7, 30, 60])
    return condition


def _condition(rng: random.Random, depth: int = 0) -> dict:
    roll = rng.random()
    if depth >= 2 or roll < 0.45:
        return _fact_condition(rng)
    if roll < 0.6:
        return _event_condition(rng)
    if roll < 0.75:
        return {"not": _condition(rng, depth + 1)}
    kind = "all" if roll < 0.88 else "any"
    return {kind: [_condition(rng, depth + 1) for _ in range(rng.randint(2, 3))]}


def test_a_segment_query_finds_exactly_the_leads_holds_finds():
    """Over 400 varied leads (text, numbers, nulls, empty strings, lists, booleans and missing
    keys in custom fields and enrichment; every derived fact; sources; timelines), 400 random
    conditions of every form give the same leads in SQL as `holds` does in Python."""
    leads = _population()
    now = timezone.now()
    timelines = {lead.pk: [] for lead in leads}
    for event in Event.objects.order_by("occurred_at", "pk"):
        timelines[event.lead_id].append(event)
    for lead in leads:
        lead.source  # noqa: B018 (read once, not per condition)
    rng = random.Random(2026)
    checked, nonempty = 0, 0
    for _ in range(400):
        data = _condition(rng)
        condition = parse_condition(data)
        expected = {lead.pk for lead in leads if holds(condition, lead, timelines[lead.pk], now)}
        found = set(
            Lead.objects.filter(segments.lead_filter(data, now)).values_list("pk", flat=True)
        )
        assert found == expected, (data, sorted(found - expected)[:5], sorted(expected - found)[:5])
        checked += 1
        nonempty += 0 < len(expected) < len(leads)
    assert checked == 400 and nonempty > 200  # most conditions split the population


def test_numeric_text_is_compared_as_text_the_one_difference():
    """holds parses "1,500" as a number; the query compares numbers only where a number is
    stored."""
    lead = Lead.objects.create(custom_fields={"budget": "1,500"})
    condition = {"fact": "custom_fields.budget", "op": "gte", "value": 1000}
    assert holds(parse_condition(condition), lead, [], timezone.now())
    assert not Lead.objects.filter(segments.lead_filter(condition)).exists()


@pytest.fixture
def hot(db) -> Segment:
    return Segment.objects.create(
        name="Hot", slug="hot", condition={"fact": "score", "op": "gte", "value": 50}
    )


def test_refresh_adds_joiners_and_removes_leavers_with_their_events(hot):
    """Members follow the condition; each change is an event on the lead's timeline."""
    ann = Lead.objects.create(email="ann@example.com", score=60)
    bob = Lead.objects.create(email="bob@example.com", score=10)

    assert segments.refresh(hot) == segments.Refreshed(joined=1, left=0)
    assert list(SegmentMember.objects.values_list("lead_id", flat=True)) == [ann.pk]
    assert segments.refresh(hot) == segments.Refreshed(0, 0)

    Lead.objects.filter(pk=ann.pk).update(score=20)
    Lead.objects.filter(pk=bob.pk).update(score=90)
    assert segments.refresh(hot) == segments.Refreshed(joined=1, left=1)
    assert list(SegmentMember.objects.values_list("lead_id", flat=True)) == [bob.pk]
    assert [e.type for e in Event.objects.filter(lead=ann).order_by("pk")] == [
        "segment.joined",
        "segment.left",
    ]
    assert Event.objects.get(lead=bob).data == {"segment": "hot"}
    assert segments.count(hot) == 1


def test_quarantined_leads_are_never_in_a_segment(hot):
    Lead.objects.create(email="bot@example.com", score=99, quality="invalid")
    assert segments.count(hot) == 0
    assert segments.refresh(hot) == segments.Refreshed(0, 0)


def test_a_static_segment_is_left_to_the_workflows(hot):
    static = Segment.objects.create(name="VIP", slug="vip")
    lead = Lead.objects.create(email="v@example.com")
    SegmentMember.objects.create(segment=static, lead=lead)
    assert segments.refresh(static) == segments.Refreshed(0, 0)
    assert segments.count(static) == 1


def test_joining_a_dynamic_segment_starts_its_workflow(hot):
    """The sweep's segment.joined event enrolls the lead in a segment_joined workflow."""
    workflow = Workflow.objects.create(
        name="Hot leads",
        trigger={"on": "segment_joined", "segment": "hot"},
        steps=[{"do": "wait", "days": 1}],
        is_active=True,
    )
    services.publish(workflow)
    lead = Lead.objects.create(email="hot@example.com", score=75)

    assert segments.refresh_all() == 1
    journey.follow_up()

    assert Enrollment.objects.get().lead == lead
    assert not EventDelivery.objects.filter(status="pending").exists()


def test_a_refresh_over_many_leads_runs_a_fixed_number_of_queries(
    hot, django_assert_max_num_queries
):
    """Set operations, not a query per lead: 1,200 joiners in a handful of batches."""
    Lead.objects.bulk_create([Lead(score=80) for _ in range(1200)])
    segments.BATCH, batch = 500, segments.BATCH
    try:
        with django_assert_max_num_queries(40):
            assert segments.refresh(hot).joined == 1200
    finally:
        segments.BATCH = batch
    assert SegmentMember.objects.count() == 1200
    assert Event.objects.filter(type="segment.joined").count() == 1200
