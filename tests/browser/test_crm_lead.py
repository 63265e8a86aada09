"""The lead page in a real browser: a rep opens a lead and reads its timeline, logs a call in two
clicks (the "Log call" row, then how it went) and sees it on the timeline without a reload, the
SLA clock stopped. With LEADLOOP_SCREENSHOTS=1 it also writes docs/crm-lead.png."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leadloop.compliance.models import Consent
from leadloop.core import services as core
from leadloop.core.models import Company, Lead, LifecycleStage, Source, Task
from leadloop.crm.models import Deal, Meeting
from leadloop.routing.models import Assignment, ContactAttempt, SlaTimer, TimerKind
from tests.browser.support import DOCS, SCREENSHOTS, eventually
from tests.browser.test_crm_board import sales_pipeline

pytestmark = pytest.mark.browser

# What Grace did, oldest first: (minutes ago, type, data, actor).
HISTORY = [
    (600, "page.viewed", {"path": "/"}, "visitor"),
    (590, "page.viewed", {"path": "/services/offices"}, "visitor"),
    (585, "page.viewed", {"path": "/pricing"}, "visitor"),
    (580, "lead.captured",
     {"form": "cleanpro-quote", "channel": "paid_search",
      "answers": {"service": "Office deep clean", "size": "3 floors", "when": "This month"}},
     "visitor"),
    (579, "owner.assigned", {"owner": "rita", "why": "rule “Offices”: Closers by round robin"}, "routing"),
    (575, "email.sent", {"kind": "acknowledgement", "subject": "Thanks, Grace: we have your request"}, "system"),
    (300, "email.opened", {"subject": "Thanks, Grace: we have your request"}, "recipient"),
    (120, "email.opened", {"subject": "How Harbor Dental keeps 3 floors spotless"}, "recipient"),
    (118, "email.clicked",
     {"url": "https://cleanpro.example/case-studies/harbor",
      "subject": "How Harbor Dental keeps 3 floors spotless"}, "recipient"),
    (110, "content.downloaded", {"title": "Office hygiene checklist (PDF)"}, "visitor"),
    (100, "page.viewed", {"path": "/pricing"}, "visitor"),
    (95, "stage.changed", {"from": "mql", "to": "sql", "why": "met the shared definition"}, "scoring"),
    (60, "note.added", {"body": "Facilities manager; budget approved for Q2."}, "rita"),
]  # fmt: skip


def grace(owner) -> Lead:
    """Grace Hopper of Apollo Facilities: a lead with a story to tell."""
    now = timezone.now()
    lead = Lead.objects.create(
        first_name="Grace",
        last_name="Hopper",
        email="grace@apollo-facilities.example",
        phone="+14155550123",
        company=Company.objects.create(name="Apollo Facilities", domain="apollo-facilities.example"),
        owner=owner,
        source=Source.objects.create(name="Google Ads", channel="paid_search", campaign="offices-q2"),
        custom_fields={"service": "Office deep clean", "size": "3 floors"},
        enrichment={"company_size": {"value": 180, "source": "clearbit"},
                    "industry": {"value": "Facilities management", "source": "clearbit"}},
        first_touch={"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "offices-q2"},
        last_touch={"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "case-study"},
        lifecycle_stage=LifecycleStage.SQL,
        score=84, score_fit=35, score_engagement=27, score_intent=22,
        score_drivers=[
            {"rule": "Company of 50+ people", "points": 20, "group": "fit"},
            {"rule": "Visited pricing twice", "points": 15, "group": "intent"},
            {"rule": "Clicked a case study", "points": 10, "group": "engagement"},
        ],
        captured_at=now - timedelta(minutes=580),
    )  # fmt: skip
    for minutes, type_, data, actor in HISTORY:
        core.record_event(lead, type_, data, actor, occurred_at=now - timedelta(minutes=minutes))
    assignment = Assignment.objects.create(
        lead=lead, owner=owner, why="rule “Offices”: Closers by round robin",
        assigned_at=now - timedelta(minutes=579),
    )  # fmt: skip
    SlaTimer.objects.create(
        lead=lead, owner=owner, assignment=assignment, kind=TimerKind.ALERT_MANAGER,
        due_at=now + timedelta(minutes=4),
    )  # fmt: skip
    Consent.objects.create(
        lead=lead, channel="email", granted=True,
        wording="Yes, email me my quote and cleaning tips. I can unsubscribe at any time.",
    )  # fmt: skip
    Consent.objects.create(lead=lead, channel="sms", granted=False, wording="Text me updates.")
    Task.objects.create(
        lead=lead, owner=owner, title="Send the 3-floor quote", due_at=now + timedelta(hours=3)
    )
    pipeline = sales_pipeline()
    deal = Deal.objects.create(
        lead=lead, pipeline=pipeline, stage=pipeline.stages.get(name="Qualified"),
        title="HQ cleaning, 3 floors", value=Decimal("38500"), owner=owner,
    )  # fmt: skip
    Meeting.objects.create(
        lead=lead, deal=deal, host=owner, title="Site walkthrough",
        starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, minutes=45),
    )  # fmt: skip
    return lead


def test_a_rep_reads_the_timeline_and_logs_a_call_in_two_clicks(page, live_server, signed_in, rita):
    lead = grace(rita)
    page.set_viewport_size({"width": 1280, "height": 900})
    signed_in(page, rita)
    page.goto(f"{live_server.url}/app/leads/{lead.pk}/")

    timeline = page.locator("#timeline")
    expect(timeline.locator(".entry").first).to_contain_text("Note by rita: Facilities manager")
    expect(timeline).to_contain_text("Visited /pricing")
    expect(timeline).to_contain_text(
        "Submitted form cleanpro-quote: service: Office deep clean, size: 3 floors"
    )
    expect(timeline).to_contain_text("Opened email 'How Harbor Dental keeps 3 floors spotless'")
    expect(page.locator("#next-action")).to_contain_text("Call now")
    if SCREENSHOTS:
        page.screenshot(path=str(DOCS / "crm-lead.png"), full_page=True)

    page.evaluate("window.notReloaded = true")
    page.get_by_text("Log call", exact=True).click()
    page.get_by_role("button", name="No answer").click()

    expect(timeline.locator(".entry").first).to_contain_text("Called: no answer")
    expect(page.locator("#attempts")).to_contain_text("No answer")
    expect(page.locator("#next-action")).not_to_contain_text("Call now")
    expect(page.get_by_role("button", name="No answer")).to_be_hidden()
    assert page.evaluate("window.notReloaded") is True
    assert eventually(
        lambda: ContactAttempt.objects.filter(lead=lead, outcome="no_answer").exists()
    )
    lead.refresh_from_db()
    assert lead.first_contact_at is not None
