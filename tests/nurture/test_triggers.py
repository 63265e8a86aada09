"""What starts a workflow: a form submitted (one form or any, never an import), a stage entered,
a tag added, events (a second visit to the pricing page), a segment joined; the states swept
by `enroll_by_state` (a score, a quiet spell, a date); the re-entry policies; and never a
quarantined lead."""

import json
from datetime import timedelta

import pytest

from leadloop import journey
from leadloop.core import services as core
from leadloop.core.models import Event, Lead, LifecycleStage, Quality
from leadloop.core.types import LeadIntake
from leadloop.nurture import services
from leadloop.nurture.models import Enrollment, EnrollmentStatus, Reentry, Segment
from tests.nurture.conftest import a_lead, make_workflow, settle

pytestmark = pytest.mark.django_db

TAG = [{"do": "tag", "add": ["nurtured"]}]


def enrolled(workflow) -> list[str]:
    return sorted(
        Enrollment.objects.filter(workflow=workflow).values_list("lead__email", flat=True)
    )


def submit_quote(client, email: str, first_name: str = "Quinn"):
    body = {
        "answers": {
            "email": email,
            "first_name": first_name,
            "service": "regular",
            "frequency": "Monthly",
            "email_consent": True,
        },
        "step": 1,
        "partial": False,
        "visitor_id": f"v-{email}",
    }
    response = client.post(
        "/api/v1/forms/cleanpro-quote/submissions",
        json.dumps(body),
        content_type="application/json",
        HTTP_ORIGIN="http://localhost:8001",
    )
    assert response.status_code in (200, 201), response.content
    return response


def test_a_form_trigger_starts_on_its_form_and_an_any_form_trigger_on_every_capture(
    client, quote_form, api
):
    quotes = make_workflow(TAG, {"on": "form_submitted", "form": "cleanpro-quote"}, name="Quotes")
    demos = make_workflow(TAG, {"on": "form_submitted", "form": "demo"}, name="Demos")
    anything = make_workflow(TAG, {"on": "form_submitted"}, name="Anything")

    submit_quote(client, "quinn@customers.example")
    api({"email": "api@customers.example", "first_name": "Api"})
    settle()

    assert enrolled(quotes) == ["quinn@customers.example"]
    assert enrolled(demos) == []
    assert enrolled(anything) == ["api@customers.example", "quinn@customers.example"]
    quinn = Lead.objects.get(email="quinn@customers.example")
    assert Event.objects.filter(lead=quinn, type="workflow.entered").count() == 2


def test_an_imported_lead_does_not_count_as_a_form_submitted():
    anything = make_workflow(TAG, {"on": "form_submitted"})

    journey.admit([LeadIntake(channel="import", email="imp@customers.example", first_name="Imp")])
    settle()

    assert Lead.objects.filter(email="imp@customers.example").exists()
    assert enrolled(anything) == []


def test_entering_a_stage_starts_its_workflow(clock):
    mql = make_workflow(TAG, {"on": "stage_entered", "stage": "mql"})
    lena = a_lead()

    core.move_stage(lena, LifecycleStage.SUBSCRIBER, by="rita", why="signed up")
    settle()
    assert enrolled(mql) == []

    core.move_stage(lena, LifecycleStage.MQL, by="rita", why="asked for a quote")
    settle()
    assert enrolled(mql) == ["lena@customers.example"]
    assert lena.tags.filter(tag="nurtured").exists()


def test_adding_the_tag_starts_its_workflow_and_another_tag_does_not(clock):
    vip = make_workflow(TAG, {"on": "tag_added", "tag": "vip"})
    lena, otto = a_lead(), a_lead(email="otto@customers.example")

    core.tag(lena, add=["vip"], by="rita")
    core.tag(otto, add=["cold"], by="rita")
    settle()

    assert enrolled(vip) == ["lena@customers.example"]


def test_the_second_visit_to_the_pricing_page_starts_a_revisit_workflow(clock):
    revisit = make_workflow(
        TAG, {"on": "event", "event": "page.viewed", "where": {"path": "/pricing"}, "at_least": 2}
    )
    lena = a_lead()

    core.record_event(lena, "page.viewed", {"path": "/pricing"})
    core.record_event(lena, "page.viewed", {"path": "/about"})
    settle()
    assert enrolled(revisit) == []

    clock.shift(timedelta(hours=1))
    core.record_event(lena, "page.viewed", {"path": "/pricing"})
    settle()
    assert enrolled(revisit) == ["lena@customers.example"]

    clock.shift(timedelta(hours=1))
    core.record_event(lena, "page.viewed", {"path": "/pricing"})  # a third: once is enough
    settle()
    assert Enrollment.objects.filter(workflow=revisit).count() == 1


def test_a_segment_step_of_one_workflow_starts_a_segment_joined_workflow(clock):
    Segment.objects.create(name="Hot", slug="hot")
    make_workflow([{"do": "segment", "add": ["hot"]}], {"on": "tag_added", "tag": "vip"})
    hot = make_workflow(TAG, {"on": "segment_joined", "segment": "hot"})
    lena = a_lead()

    core.tag(lena, add=["vip"], by="rita")
    settle()

    assert enrolled(hot) == ["lena@customers.example"]
    [run] = Enrollment.objects.filter(workflow=hot)
    assert run.status == EnrollmentStatus.COMPLETED


def test_the_state_sweep_enrolls_leads_over_a_score_once(clock):
    hot = make_workflow(TAG, {"on": "score_crossed", "at_least": 50})
    a_lead(score=49)
    a_lead(email="hi@customers.example", score=50)

    assert services.enroll_by_state() == 1
    assert services.enroll_by_state() == 0
    assert enrolled(hot) == ["hi@customers.example"]


def test_the_state_sweep_enrolls_leads_quiet_for_the_days(clock):
    quiet = make_workflow(TAG, {"on": "inactive", "days": 30})
    lena, otto = a_lead(), a_lead(email="otto@customers.example")
    core.record_event(lena, "page.viewed", {"path": "/"})
    core.record_event(otto, "page.viewed", {"path": "/"})

    clock.shift(timedelta(days=20))
    core.record_event(otto, "page.viewed", {"path": "/pricing"})
    assert services.enroll_by_state() == 0

    clock.shift(timedelta(days=11))
    assert services.enroll_by_state() == 1
    assert enrolled(quiet) == ["lena@customers.example"]


def test_the_state_sweep_enrolls_a_week_before_the_renewal_date(clock):
    renewals = make_workflow(
        TAG, {"on": "date", "field": "custom_fields.renewal_date", "offset_days": -7}
    )
    a_lead(custom_fields={"renewal_date": "2026-03-09"})  # a week from today
    a_lead(email="later@customers.example", custom_fields={"renewal_date": "2026-03-20"})
    a_lead(email="none@customers.example")

    assert services.enroll_by_state() == 1
    assert enrolled(renewals) == ["lena@customers.example"]

    clock.shift(timedelta(days=11))  # 2026-03-13: a week before the 20th
    assert services.enroll_by_state() == 1
    assert enrolled(renewals) == ["later@customers.example", "lena@customers.example"]


def test_reentry_never_keeps_a_lead_to_one_run(clock):
    once = make_workflow(TAG, {"on": "tag_added", "tag": "vip"}, reentry=Reentry.NEVER)
    lena = a_lead()

    core.tag(lena, add=["vip"], by="rita")
    settle()
    core.tag(lena, remove=["vip"], by="rita")
    core.tag(lena, add=["vip"], by="rita")
    settle()

    assert list(Enrollment.objects.filter(workflow=once).values_list("status", flat=True)) == [
        EnrollmentStatus.COMPLETED
    ]


def test_reentry_after_finishing_lets_a_lead_in_again_only_once_the_last_run_ended(clock):
    again = make_workflow(
        [{"do": "wait", "days": 1}], {"on": "tag_added", "tag": "vip"}, reentry="after_finishing"
    )
    lena = a_lead()

    core.tag(lena, add=["vip"], by="rita")
    settle()
    core.tag(lena, remove=["vip"], by="rita")
    core.tag(lena, add=["vip"], by="rita")  # still in the first run: kept out
    settle()
    assert Enrollment.objects.filter(workflow=again).count() == 1

    clock.shift(timedelta(days=1, minutes=1))
    settle()  # the first run completes
    core.tag(lena, remove=["vip"], by="rita")
    core.tag(lena, add=["vip"], by="rita")
    settle()

    statuses = Enrollment.objects.filter(workflow=again).order_by("pk")
    assert list(statuses.values_list("status", flat=True)) == [
        EnrollmentStatus.COMPLETED,
        EnrollmentStatus.ACTIVE,
    ]


def test_a_quarantined_lead_never_enrolls(clock):
    vip = make_workflow(TAG, {"on": "tag_added", "tag": "vip"})
    scored = make_workflow(TAG, {"on": "score_crossed", "at_least": 10}, name="Scored")
    bot = a_lead(email="bot@spam.example", quality=Quality.INVALID, score=99)

    core.tag(bot, add=["vip"], by="import")
    settle()
    services.enroll_by_state()
    services.enroll(vip, [bot], why="by hand")

    assert enrolled(vip) == [] and enrolled(scored) == []
