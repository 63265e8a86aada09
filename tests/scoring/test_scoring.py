"""Rule-based scoring with drivers, decay and caps, the shared MQL/SQL definitions, and scoring
as durable work after a capture."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from leadloop.core import services as core
from leadloop.core.models import Event, Lead, LifecycleStage, Quality
from leadloop.scoring import services as scoring
from leadloop.scoring.models import ScoringRequest, ScoringRule, ScoringStatus, StageDefinitions

pytestmark = pytest.mark.django_db

BIG_COMPANY = {"fact": "custom_fields.company_size", "op": "gte", "value": 50}
PRICING = {"event": "page.viewed", "where": {"path": "/pricing"}}
DEMO = {"event": "form.submitted", "where": {"kind": "demo_request"}}


def a_lead(**fields) -> Lead:
    values = {"email": "ada@analytical.example", "first_name": "Ada", **fields}
    return Lead.objects.create(**values)


def happened(lead: Lead, type: str, days_ago: float = 0, **data) -> Event:
    return core.record_event(
        lead, type, data, occurred_at=timezone.now() - timedelta(days=days_ago)
    )


def rule(name: str, group: str, points: int, **how) -> ScoringRule:
    return ScoringRule.objects.create(name=name, group=group, points=points, **how)


def scored(lead: Lead):
    score = scoring.rescore([lead])[lead.pk]
    lead.refresh_from_db()
    return score


def test_a_fit_rule_gives_its_points_once_and_names_itself_as_a_driver():
    rule("Company of 50+", "fit", 20, condition=BIG_COMPANY)
    big, small = a_lead(custom_fields={"company_size": "120"}), a_lead(email="b@x.example")

    assert scored(big).fit == 20 and big.score == 20
    assert big.score_drivers == [
        {"rule": "Company of 50+", "group": "fit", "points": 20, "detail": "matches"}
    ]
    assert scored(small).fit == 0 and small.score_drivers == []


def test_negative_rules_count_against_a_lead():
    rule("Company of 50+", "fit", 20, condition=BIG_COMPANY)
    rule("Free mail", "fit", -10, condition={"fact": "free_mail", "op": "equals", "value": True})
    rule(
        "Quarantined",
        "fit",
        -100,
        condition={"fact": "quality", "op": "equals", "value": "invalid"},
    )
    lead = a_lead(
        custom_fields={"company_size": 80},
        quality=Quality.INVALID,
        quality_signals={"email": {"free_mail": True}},
    )

    score = scored(lead)

    assert score.fit == 20 - 10 - 100
    assert [d["rule"] for d in lead.score_drivers] == ["Quarantined", "Company of 50+", "Free mail"]


def test_event_points_add_up_per_event_and_stop_at_the_cap():
    rule("Pricing page", "intent", 5, per_event=PRICING, cap=12, decays=False)
    lead = a_lead()
    for _ in range(4):
        happened(lead, "page.viewed", path="/pricing")
    happened(lead, "page.viewed", path="/blog")

    score = scored(lead)

    assert score.intent == 12
    assert lead.score_drivers[0]["detail"] == "4 x page.viewed"


def test_engagement_decays_with_the_half_life():
    rule("Email opened", "engagement", 8, per_event={"event": "email.opened"})
    StageDefinitions.current()
    lead = a_lead()
    happened(lead, "email.opened", days_ago=0)
    happened(lead, "email.opened", days_ago=30)  # one half-life (the default 30 days)
    happened(lead, "email.opened", days_ago=60)

    assert scored(lead).engagement == (8 + 4 + 2)


def test_within_days_counts_only_recent_events():
    rule("Recent demo request", "intent", 30, per_event={**DEMO, "within_days": 14}, decays=False)
    lead = a_lead()
    happened(lead, "form.submitted", days_ago=20, kind="demo_request")

    assert scored(lead).intent == 0
    happened(lead, "form.submitted", days_ago=1, kind="demo_request")
    assert scored(lead).intent == 30


@pytest.mark.parametrize(
    "how",
    [
        {},
        {"condition": BIG_COMPANY, "per_event": PRICING},
        {"condition": {"fact": "custom_fields.size", "op": "bigger", "value": 1}},
        {"condition": {"all": []}},
        {"per_event": {"event": "page.viewed", "within_days": 0}},
    ],
)
def test_a_rule_that_does_not_read_is_refused_with_a_reason(how):
    with pytest.raises(ValidationError):
        rule("Broken", "fit", 5, **how)


def test_a_lead_becomes_an_mql_then_an_sql_as_the_shared_definitions_say():
    rule("Company of 50+", "fit", 45, condition=BIG_COMPANY)
    rule("Demo request", "intent", 30, per_event=DEMO)
    rule("Budget stated", "fit", 20, condition={"fact": "custom_fields.budget", "op": "filled"})
    lead = a_lead(custom_fields={"company_size": 200})
    scored(lead)
    assert lead.lifecycle_stage == LifecycleStage.LEAD  # fit, but no intent yet

    happened(lead, "form.submitted", kind="demo_request")
    scored(lead)
    assert lead.lifecycle_stage == LifecycleStage.MQL

    Lead.objects.filter(pk=lead.pk).update(
        custom_fields={"company_size": 200, "budget": "5000", "timeline": "this quarter"}
    )
    lead.refresh_from_db()
    scored(lead)
    assert lead.lifecycle_stage == LifecycleStage.SQL
    changes = [e.data for e in lead.events.filter(type="stage.changed").order_by("id")]
    assert [(c["from"], c["to"], c["automatic"]) for c in changes] == [
        ("lead", "mql", True),
        ("mql", "sql", True),
    ]


def test_a_quarantined_lead_is_never_qualified():
    rule("Company of 50+", "fit", 45, condition=BIG_COMPANY)
    rule("Demo request", "intent", 30, per_event=DEMO)
    lead = a_lead(custom_fields={"company_size": 200}, quality=Quality.INVALID)
    happened(lead, "form.submitted", kind="demo_request")

    scored(lead)

    assert lead.lifecycle_stage == LifecycleStage.LEAD


def test_a_person_moves_a_lead_with_a_reason_and_the_definitions_leave_it_there():
    lead = a_lead()

    with pytest.raises(ValueError, match="Say why"):
        core.move_stage(lead, LifecycleStage.DISQUALIFIED, by="sam", why=" ")
    core.move_stage(lead, LifecycleStage.DISQUALIFIED, by="sam", why="A student.")
    scored(lead)

    assert lead.lifecycle_stage == LifecycleStage.DISQUALIFIED
    change = lead.events.get(type="stage.changed")
    assert (change.actor, change.data["why"], change.data["automatic"]) == (
        "sam",
        "A student.",
        False,
    )


@pytest.mark.django_db(transaction=True)  # the worker runs what was committed
def test_a_capture_is_scored_by_the_worker_after_it_commits(api):
    rule("Budget stated", "fit", 25, condition={"fact": "custom_fields.budget", "op": "filled"})
    lead_id = api({"email": "ada@analytical.example", "fields": {"budget": "900"}}).json()["id"]
    request = ScoringRequest.objects.get(lead_id=lead_id)
    assert request.status == ScoringStatus.PENDING and request.reason == "captured"

    call_command("worker", batch=True, verbosity=0)

    request.refresh_from_db()
    lead = Lead.objects.get(pk=lead_id)
    assert request.status == ScoringStatus.DONE
    assert (lead.score, lead.scored_at is not None) == (25, True)


@pytest.mark.django_db(transaction=True)
def test_the_worker_picks_requests_up_from_their_rows_without_a_task(api):
    from django_tasks_db.models import DBTaskResult

    lead_id = api({"email": "ada@analytical.example"}).json()["id"]
    assert not DBTaskResult.objects.exists()  # nothing enqueued on the capture path

    call_command("worker", batch=True, verbosity=0)

    assert ScoringRequest.objects.get(lead_id=lead_id).status == ScoringStatus.DONE


def test_a_known_visitors_page_view_asks_for_a_new_score(client, quote_form):
    from tests.capture.test_form_api import STEP_TWO, submit

    submit(client, {"answers": STEP_TWO, "visitor_id": "v7"})
    lead = Lead.objects.get()
    client.post(
        "/api/v1/track",
        '{"visitor_id": "v7", "url": "http://localhost:8001/pricing?plan=pro"}',
        content_type="application/json",
    )

    assert lead.events.get(type="page.viewed").data["path"] == "/pricing"
    reasons = set(ScoringRequest.objects.filter(lead=lead).values_list("reason", flat=True))
    assert reasons == {"captured", "page.viewed"}
