"""The system audit on hand-made records: each data answer in a case that passes and one that
warns or fails (figures worked out by hand), the questions asked of a person remembered (the
latest wins, with who and when), who may answer, the page and the API."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from leadloop.analytics import audit
from leadloop.analytics.models import AuditAnswer
from leadloop.capture.models import Form, Submission
from leadloop.core.models import Event, Lead, Visitor
from leadloop.crm.access import Role
from leadloop.crm.models import BookingPage, Deal, Meeting, Pipeline
from leadloop.nurture.models import StepRun, Workflow
from leadloop.routing.models import Rep

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
GOOGLE = {"referrer": "https://www.google.com/", "landing_page": "https://cleanpro.example/"}
AD = {"utm_source": "google", "utm_medium": "cpc", "landing_page": "https://cleanpro.example/"}
DIRECT = {"landing_page": "https://cleanpro.example/"}
INTERNAL = {
    "referrer": "https://cleanpro.example/blog",
    "landing_page": "https://cleanpro.example/",
}


def person(username: str, role: str):
    user = get_user_model().objects.create_user(
        username, f"{username}@team.example", "pw", first_name=username.title()
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def lead(n: int, days_ago: float = 1, **fields) -> Lead:
    captured = NOW - timedelta(days=days_ago)
    return Lead.objects.create(email=f"lead{n}@customers.example", captured_at=captured, **fields)


def test_traffic_is_visible_when_most_leads_came_with_a_known_source():
    for n, touch in enumerate([GOOGLE, AD, AD, GOOGLE, DIRECT]):
        lead(n, first_touch=touch)
    lead(9, days_ago=40, first_touch=DIRECT)  # outside the 30 days
    found = audit.traffic_visible(NOW)
    assert (found.state, found.figure) == ("pass", "80%")


def test_traffic_is_guesswork_when_most_leads_are_direct_or_untracked():
    # A referrer from the site itself is not a source either.
    for n, touch in enumerate([GOOGLE, DIRECT, INTERNAL, {}]):
        lead(n, first_touch=touch)
    found = audit.traffic_visible(NOW)
    assert (found.state, found.figure) == ("fail", "25%")
    assert audit.traffic_visible(NOW + timedelta(days=60)).state == "unknown"


def test_relevance_is_the_qualification_rate_against_seed_001s_25_percent():
    stages = ["mql", "lead", "lead", "sql"]
    for n, stage in enumerate(stages):
        lead(n, lifecycle_stage=stage)
    assert (audit.traffic_relevant(NOW).state, audit.traffic_relevant(NOW).figure) == (
        "pass",
        "50%",
    )
    for n in range(4, 12):
        lead(n)
    # 2 of 12 = 17%: between 10% and 25%.
    assert (audit.traffic_relevant(NOW).state, audit.traffic_relevant(NOW).figure) == (
        "warn",
        "17%",
    )


def test_two_sources_must_bring_leads_every_week():
    for week in range(4):
        lead(week, days_ago=7 * week + 1, last_touch=AD)
        lead(10 + week, days_ago=7 * week + 2, first_touch=GOOGLE)
        lead(20 + week, days_ago=7 * week + 3, last_touch=DIRECT)
    found = audit.two_sources(NOW)
    assert (found.state, found.figure) == ("pass", "2")
    assert "Organic search, Paid search" in found.answer
    Lead.objects.filter(email__in=["lead13@customers.example"]).delete()  # organic missed a week
    assert (audit.two_sources(NOW).state, audit.two_sources(NOW).figure) == ("warn", "1")


def test_forms_are_judged_by_completion_where_partials_are_captured():
    for n in range(3):
        lead(n)
    lead(3, capture_state="partial")
    found = audit.forms_short(NOW)
    assert (found.state, found.figure) == ("pass", "75%")
    for n in range(4, 8):
        lead(n, capture_state="partial")
    # 3 finished of 8 started: 38%, under 40%.
    assert (audit.forms_short(NOW).state, audit.forms_short(NOW).figure) == ("fail", "38%")


def form_with(slug: str, fields: int, **extra) -> Form:
    specs = [{"name": f"field{i}", "type": "text", "label": f"Field {i}"} for i in range(fields)]
    specs.append({"name": "email", "type": "email", "label": "Email", "required": True})
    definition = {"steps": [{"fields": specs}]}
    return Form.objects.create(slug=slug, name=slug.title(), definition=definition, **extra)


def test_without_partials_forms_are_judged_by_their_length():
    form_with("quote", 3)  # 4 fields with the email
    assert (audit.forms_short(NOW).state, audit.forms_short(NOW).figure) == ("pass", "4")
    form_with("survey", 11)  # 12 fields
    found = audit.forms_short(NOW)
    assert (found.state, found.figure) == ("fail", "12")
    assert "Survey" in found.answer


def submission(status: str, minutes_ago: float = 60) -> Submission:
    return Submission.objects.create(
        channel="widget", raw="{}", status=status, received_at=NOW - timedelta(minutes=minutes_ago)
    )


def test_every_submission_reaching_the_crm_passes():
    for status in ("accepted", "accepted", "merged", "rejected", "duplicate"):
        submission(status)
    submission("received", minutes_ago=2)  # still being processed, not stuck
    found = audit.submissions_reach_crm(NOW)
    assert (found.state, found.figure) == ("pass", "100%")
    assert found.answer == "Yes: all 3 submissions reached the CRM"


def test_failed_or_stuck_submissions_fail_the_question():
    for _ in range(8):
        submission("accepted")
    submission("failed")
    submission("received", minutes_ago=30)
    found = audit.submissions_reach_crm(NOW)
    assert (found.state, found.figure) == ("fail", "80%")


def visitors(total: int, converted: int) -> None:
    for n in range(total):
        known = lead(1000 + n) if n < converted else None
        Visitor.objects.create(key=f"v{n}", lead=known, first_seen_at=NOW - timedelta(days=2))


def test_conversion_rate_is_visitors_who_became_leads():
    visitors(100, 3)
    assert (audit.conversion_rate(NOW).state, audit.conversion_rate(NOW).figure) == ("pass", "3.0%")


def test_a_site_converting_under_one_percent_fails_and_no_tracking_fails_too():
    assert audit.conversion_rate(NOW).state == "fail"
    visitors(200, 1)
    assert (audit.conversion_rate(NOW).state, audit.conversion_rate(NOW).figure) == ("fail", "0.5%")


def test_a_download_is_a_reason_to_share_details():
    form_with("contact", 2)
    assert audit.lead_magnet(NOW).state == "warn"
    form_with("checklist", 1, download="downloads/office-checklist.pdf")
    assert (audit.lead_magnet(NOW).state, audit.lead_magnet(NOW).figure) == ("pass", "1")


def workflow(name: str, trigger: dict, steps: list, published: bool = True) -> Workflow:
    flow = Workflow.objects.create(name=name, trigger=trigger, steps=steps, is_active=True)
    if published:
        flow.versions.create(number=1, steps=steps)
    return flow


WELCOME = [{"do": "send_email", "subject": "Thanks", "text": "Hi"}]


def test_a_live_workflow_on_form_submission_is_what_happens_automatically():
    workflow("Draft only", {"on": "form_submitted"}, WELCOME, published=False)
    workflow("Tagged", {"on": "tag_added", "tag": "vip"}, WELCOME)
    assert audit.automatic_on_new_lead(NOW).state == "fail"
    workflow("Welcome", {"on": "form_submitted"}, WELCOME)
    found = audit.automatic_on_new_lead(NOW)
    assert (found.state, found.figure) == ("pass", "1")
    assert "Welcome" in found.answer


def test_follow_up_within_five_minutes():
    captured = NOW - timedelta(days=1)
    lead(1, acknowledged_at=captured + timedelta(seconds=40))
    lead(2, first_contact_at=captured + timedelta(minutes=4))
    lead(3, acknowledged_at=captured + timedelta(minutes=9))
    lead(4)
    lead(5, days_ago=2 / 1440)  # two minutes old: not yet due
    found = audit.five_minute_follow_up(NOW)
    assert (found.state, found.figure) == ("warn", "50%")
    for n in range(6, 30):
        lead(n, acknowledged_at=captured + timedelta(minutes=1))
    # 26 of 28.
    assert audit.five_minute_follow_up(NOW).figure == "93%"
    assert audit.five_minute_follow_up(NOW).state == "pass"


def test_email_sequences_must_exist_and_send():
    assert audit.email_sequences(NOW).state == "fail"
    flow = workflow("Welcome", {"on": "form_submitted"}, WELCOME)
    assert audit.email_sequences(NOW).state == "warn"
    enrollment = flow.enrollments.create(lead=lead(1), version=flow.versions.get())
    StepRun.objects.create(
        enrollment=enrollment, version=flow.versions.get(), position=0, kind="send_email",
        at=NOW - timedelta(days=3),
    )  # fmt: skip
    assert (audit.email_sequences(NOW).state, audit.email_sequences(NOW).figure) == ("pass", "1")


def test_engagement_shows_where_leads_are_scored():
    for n in range(9):
        lead(n, scored_at=NOW - timedelta(hours=1))
    lead(9)
    assert (audit.engagement_visible(NOW).state, audit.engagement_visible(NOW).figure) == (
        "pass",
        "90%",
    )
    for n in range(10, 20):
        lead(n)
    assert audit.engagement_visible(NOW).state == "fail"  # 9 of 20 = 45%


def test_sales_has_context_when_leads_have_an_owner_and_a_score():
    rita = person("rita", Role.REP)
    scored = NOW - timedelta(hours=1)
    for n in range(7):
        lead(n, owner=rita, scored_at=scored)
    lead(7, owner=rita)
    lead(8, scored_at=scored)
    lead(9)
    # 7 of 10: between 60% and 90%.
    assert (audit.sales_context(NOW).state, audit.sales_context(NOW).figure) == ("warn", "70%")


def test_booking_needs_a_page_and_people_booking_through_it():
    assert audit.booking(NOW).state == "fail"
    rita = person("rita", Role.REP)
    page = BookingPage.objects.create(slug="rita", rep=Rep.objects.create(user=rita))
    assert audit.booking(NOW).state == "warn"
    starts = NOW + timedelta(days=2)
    Meeting.objects.create(
        lead=lead(1), host=rita, booking_page=page, title="Walk-through", starts_at=starts,
        ends_at=starts + timedelta(minutes=30), created_at=NOW - timedelta(days=1),
    )  # fmt: skip
    assert (audit.booking(NOW).state, audit.booking(NOW).figure) == ("pass", "1")


def test_the_migrations_sales_pipeline_is_a_defined_pipeline():
    found = audit.pipeline_defined(NOW)
    assert found.state == "pass"
    assert found.answer == "Sales: 5 stages"
    Pipeline.objects.all().delete()
    thin = Pipeline.objects.create(name="Thin")
    thin.stages.create(name="Open", outcome="open")
    assert audit.pipeline_defined(NOW).state == "warn"


def won_after(n: int, days_from_contact: float, contacted: bool = True) -> None:
    contact = NOW - timedelta(days=40)
    customer = lead(n, days_ago=45, first_contact_at=contact if contacted else None)
    Event.objects.create(
        lead=customer, type="deal.won", occurred_at=contact + timedelta(days=days_from_contact),
        data={"revenue": "100.00"},
    )  # fmt: skip


def test_time_to_close_is_known_from_five_wins():
    for n, days in enumerate([20, 25, 30, 35, 38]):
        won_after(n, days)
    found = audit.time_to_close(NOW)
    assert (found.state, found.figure) == ("pass", "30 days")


def test_time_to_close_is_unknown_without_first_contacts():
    assert audit.time_to_close(NOW).state == "unknown"
    won_after(1, 30, contacted=False)
    assert audit.time_to_close(NOW).state == "fail"
    won_after(2, 21)
    assert (audit.time_to_close(NOW).state, audit.time_to_close(NOW).figure) == ("warn", "21 days")


def test_stalled_deals_share():
    sales = Pipeline.objects.get(name="Sales")  # stalls after 14 idle days
    new, won = sales.stages.get(name="New"), sales.stages.get(name="Won")

    def deal(n: int, idle_days: int, stage=new) -> Deal:
        return Deal.objects.create(
            lead=lead(n), pipeline=sales, stage=stage, title=f"Deal {n}",
            last_activity_at=NOW - timedelta(days=idle_days),
        )  # fmt: skip

    for n in range(9):
        deal(n, idle_days=3)
    deal(9, idle_days=20)
    deal(10, idle_days=90, stage=won)  # closed: not stalled
    assert (audit.stalled_deals(NOW).state, audit.stalled_deals(NOW).figure) == ("pass", "10%")
    deal(11, idle_days=15)
    deal(12, idle_days=30)
    # 3 of 12 = 25%: the edge of warn.
    assert (audit.stalled_deals(NOW).state, audit.stalled_deals(NOW).figure) == ("warn", "25%")


def test_the_audit_lists_every_question_of_seed_000_by_layer():
    result = audit.run(NOW)
    assert [layer.name for layer in result.layers] == ["Attract", "Capture", "Nurture", "Convert"]
    assert [len(layer.items) for layer in result.layers] == [4, 5, 5, 5]
    asked = [q.key for q in audit.QUESTIONS if q.asks_the_user]
    assert asked == ["predictable_traffic", "calls_to_action", "personalised_follow_up"]
    assert result.counts["ask"] == 3


def test_the_latest_answer_is_remembered_with_who_and_when():
    mona, max_ = person("mona", Role.MARKETER), person("max", Role.MANAGER)
    audit.answer("calls_to_action", "no", "", mona, NOW - timedelta(days=2))
    audit.answer("calls_to_action", "partly", "Only the home page", max_, NOW)
    item = audit.item_for(audit.BY_KEY["calls_to_action"], NOW, audit.latest_answers())
    assert (item.state, item.answer) == ("warn", "Partly: Only the home page")
    assert (item.latest.answered_by, item.latest.answered_at) == (max_, NOW)
    assert AuditAnswer.objects.count() == 2
    with pytest.raises(ValueError):
        audit.answer("booking", "yes", "", mona, NOW)  # the data answers that one
    with pytest.raises(ValueError):
        audit.answer("calls_to_action", "maybe", "", mona, NOW)


def test_the_weakest_layer_is_named():
    mona = person("mona", Role.MARKETER)
    audit.answer("calls_to_action", "no", "", mona, NOW)
    workflow("Welcome", {"on": "form_submitted"}, WELCOME)
    result = audit.run(NOW)
    # Capture: no form (fail), the CTA answer (fail), no visits (fail), no magnet (warn): 1/8.
    # Nurture: a welcome workflow (pass) that sent nothing yet (warn): 3/4. Convert: the Sales
    # pipeline (pass), no booking page (fail): 1/2. Attract: nothing to judge.
    assert [layer.score for layer in result.layers] == [None, 0.125, 0.75, 0.5]
    assert result.weakest.name == "Capture"


def test_the_page_shows_the_badges_and_a_manager_answers_with_htmx(client):
    client.force_login(person("max", Role.MANAGER))
    page = client.get(reverse("analytics:audit"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Do form submissions go directly into your CRM" in html
    assert "Fix it" in html and "hx-post" in html
    url = reverse("analytics:audit_answer", args=["calls_to_action"])
    row = client.post(url, {"reply": "yes", "note": "<b>every page</b>"}, HTTP_HX_REQUEST="true")
    assert row.status_code == 200
    body = row.content.decode()
    assert "Yes: &lt;b&gt;every page&lt;/b&gt;" in body and 'class="badge good"' in body
    bad = client.post(url, {"reply": "maybe"}, HTTP_HX_REQUEST="true")
    assert "Select a valid choice" in bad.content.decode()
    assert client.post(url, {"reply": "maybe"}).status_code == 400
    assert (
        client.post(
            reverse("analytics:audit_answer", args=["booking"]), {"reply": "yes"}
        ).status_code
        == 404
    )
    assert AuditAnswer.objects.get().answered_by.username == "max"


def test_a_rep_reads_the_audit_but_cannot_answer(client):
    client.force_login(person("rita", Role.REP))
    page = client.get(reverse("analytics:audit"))
    assert page.status_code == 200 and "hx-post" not in page.content.decode()
    url = reverse("analytics:audit_answer", args=["calls_to_action"])
    assert client.post(url, {"reply": "yes"}).status_code == 403
    assert not AuditAnswer.objects.exists()


def test_the_api_gives_the_audit(client):
    assert client.get("/api/v1/analytics/audit").status_code == 401
    mona = person("mona", Role.MARKETER)
    audit.answer("personalised_follow_up", "yes", "By service", mona, NOW)
    client.force_login(mona)
    body = client.get("/api/v1/analytics/audit").json()
    assert [layer["name"] for layer in body["layers"]] == [
        "Attract",
        "Capture",
        "Nurture",
        "Convert",
    ]
    nurture = {item["key"]: item for item in body["layers"][2]["items"]}
    assert nurture["personalised_follow_up"]["state"] == "pass"
    assert nurture["personalised_follow_up"]["answered"]["answered_by"] == "mona"
    assert nurture["automatic_on_new_lead"]["state"] == "fail"
    assert nurture["automatic_on_new_lead"]["fix_url"] == "/admin/nurture/workflow/"
    assert body["counts"]["ask"] == 2
