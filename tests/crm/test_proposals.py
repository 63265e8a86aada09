"""Proposals: a draft from a deal, lines totalled exactly, sent by email with its link, opened
(counted once for the rep's "first opened", never for the team's own looks), accepted by typed
name with time and IP (which wins the deal: a customer, a welcome email, onboarding tasks) or
declined; the public page escapes what anyone typed and hides drafts; the "Proposal follow-up"
workflow nudges after three days unless the proposal was accepted.

The cast: rita, a sales rep who owns Lena Fischer's deal; sam, another rep who must not see it."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from leadloop import journey
from leadloop.core import outbox
from leadloop.core.models import Event, LifecycleStage, Message, Task
from leadloop.crm import proposals, services
from leadloop.crm.models import Deal, ProposalStatus
from leadloop.crm.views.proposals import LineFormSet
from leadloop.nurture import engine
from leadloop.nurture import services as nurture
from leadloop.nurture.models import Workflow
from leadloop.routing.models import RoutingSettings
from tests.crm.conftest import password_of
from tests.mail_server import text_of

Line = proposals.Line
CUSTOMER_IP = "203.0.113.7"


@pytest.fixture
def rita(person):
    return person("rita", first_name="Rita", last_name="Reyes")


@pytest.fixture
def deal(make_deal, make_lead, rita):
    lead = make_lead(first_name="Lena", last_name="Fischer", owner=rita)
    return make_deal(lead=lead, owner=rita, title="Office cleaning", value=Decimal("1250.00"))


@pytest.fixture
def sent(deal, rita):
    """A proposal with two lines, sent."""
    proposal = proposals.draft(deal, by=rita)
    proposals.save_lines(
        proposal,
        [
            Line("Evening cleaning, five nights a week", Decimal("4"), Decimal("240.00")),
            Line("Monthly carpet deep clean", Decimal("1"), Decimal("290.00")),
        ],
    )
    return proposals.send(proposal, by=rita)


def signed_in(client, user):
    assert client.login(username=user.username, password=password_of(user.username))
    return client


def public(proposal) -> str:
    return reverse("crm:proposal_public", args=[proposal.token])


def accept_on_page(client, proposal, name="Lena Fischer", agree=True):
    data = {"full_name": name, **({"agree": "on"} if agree else {})}
    return client.post(
        reverse("crm:proposal_accept", args=[proposal.token]),
        data,
        REMOTE_ADDR=CUSTOMER_IP,
        HTTP_USER_AGENT="Firefox/140",
    )


# --- drafting and lines -----------------------------------------------------------------------


def test_a_draft_starts_from_the_deal_with_one_line_for_its_value(deal, rita):
    proposal = proposals.draft(deal, by=rita)

    [line] = proposal.lines.all()
    assert (proposal.title, proposal.status, proposal.total) == (
        "Office cleaning",
        ProposalStatus.DRAFT,
        Decimal("1250.00"),
    )
    assert (line.description, line.quantity, line.unit_price) == (
        "Office cleaning",
        Decimal("1"),
        Decimal("1250.00"),
    )
    assert proposal.terms and proposal.valid_until == timezone.localdate() + timedelta(days=30)
    assert Event.objects.filter(type="proposal.drafted", data__proposal=proposal.pk).exists()
    assert proposals.draft(deal, by=rita, title="  Spring offer ").title == "Spring offer"


def test_the_total_is_exact_to_the_cent(deal, rita):
    proposal = proposals.draft(deal, by=rita)

    proposals.save_lines(
        proposal,
        [
            Line("Visits", Decimal("3"), Decimal("33.33")),
            Line("Bins", Decimal("1"), Decimal("0.10")),
        ],
    )
    proposal.refresh_from_db()

    assert proposal.total == Decimal("100.09")
    assert [line.amount for line in proposal.lines.all()] == [Decimal("99.99"), Decimal("0.10")]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (Line("Visits", Decimal("0"), Decimal("10")), "Line 1: the quantity must be more than 0"),
        (Line("Visits", Decimal("-2"), Decimal("10")), "quantity must be more than 0"),
        (Line("Visits", Decimal("1"), Decimal("-0.01")), "the price cannot be negative"),
        (Line("  ", Decimal("1"), Decimal("10")), "Line 1 needs a description"),
        (Line("Visits", Decimal("1.005"), Decimal("10")), "at most two decimal places"),
        (Line("Visits", Decimal("NaN"), Decimal("10")), "must be numbers"),
    ],
)
def test_a_bad_line_is_refused_with_a_message_and_nothing_changes(deal, rita, line, message):
    proposal = proposals.draft(deal, by=rita)

    with pytest.raises(proposals.ProposalError, match=message):
        proposals.save_lines(proposal, [line])

    assert proposal.lines.count() == 1
    proposal.refresh_from_db()
    assert proposal.total == Decimal("1250.00")


def test_a_proposal_without_lines_cannot_be_sent(deal, rita):
    proposal = proposals.draft(deal, by=rita)
    proposals.save_lines(proposal, [])

    with pytest.raises(proposals.ProposalError, match="at least one line"):
        proposals.send(proposal, by=rita)


# --- sending ----------------------------------------------------------------------------------


def test_sending_emails_the_link_and_moves_the_deal_to_proposal_sent(sent, deal, smtp):
    RoutingSettings.objects.update_or_create(pk=1, defaults={"business_name": "CleanPro"})

    outbox.send_due()

    [mail] = smtp.to("lena@customers.example")
    link = proposals.public_url(sent)
    assert link in text_of(mail) and "1,250.00" in text_of(mail)
    assert mail["Subject"] == "Your proposal from our team: Office cleaning"
    assert Message.objects.get(kind="proposal.sent").key == f"proposal-{sent.pk}-sent"
    event = Event.objects.get(type="proposal.sent")
    assert event.data == {
        "proposal": sent.pk,
        "deal": deal.pk,
        "total": "1250.00",
        "url": link,
    }
    deal.refresh_from_db()
    assert deal.stage.name == "Proposal sent"
    assert deal.lead.custom_fields["proposal_url"] == link
    with pytest.raises(proposals.ProposalError, match="is sent and cannot be sent again"):
        proposals.send(sent, by=None)


def test_sending_never_moves_a_deal_back(make_deal, make_lead, rita):
    deal = make_deal(lead=make_lead(last_name="Fischer"), stage="Negotiation")

    proposals.send(proposals.draft(deal, by=rita), by=rita)

    deal.refresh_from_db()
    assert deal.stage.name == "Negotiation"


def test_a_sent_proposal_cannot_be_edited(sent):
    with pytest.raises(proposals.ProposalError, match="cannot be changed"):
        proposals.save_lines(sent, [Line("Cheaper", Decimal("1"), Decimal("1"))])


# --- the public page --------------------------------------------------------------------------


def test_the_public_page_shows_the_proposal_escaped_and_unindexed(
    client, make_deal, make_lead, rita
):
    lead = make_lead(first_name="<script>alert(1)</script>", last_name="Fischer")
    proposal = proposals.draft(make_deal(lead=lead), by=rita)
    proposals.save_lines(
        proposal, [Line("<img src=x onerror=alert(2)>", Decimal("1"), Decimal("10"))]
    )
    proposals.send(proposal, by=rita)
    RoutingSettings.objects.update_or_create(pk=1, defaults={"business_name": "CleanPro & Co"})

    page = client.get(public(proposal)).content.decode()

    assert '<meta name="robots" content="noindex">' in page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Fischer" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "CleanPro &amp; Co" in page and "10.00" in page


def test_a_draft_a_withdrawn_or_an_unknown_link_is_not_found(client, deal, sent, rita):
    draft = proposals.draft(deal, by=rita)
    assert client.get(public(draft)).status_code == 404
    assert client.get("/proposal/no-such-token/").status_code == 404
    assert client.get("/proposal/" + "x" * 5000 + "/").status_code == 404

    proposals.withdraw(sent, by=rita)

    assert client.get(public(sent)).status_code == 404
    assert accept_on_page(client, sent).status_code == 404


def test_the_first_opening_is_recorded_once_and_every_opening_counted(client, sent):
    for _ in range(3):
        assert client.get(public(sent), REMOTE_ADDR=CUSTOMER_IP).status_code == 200

    sent.refresh_from_db()
    assert sent.view_count == 3 and sent.first_viewed_at is not None
    [viewed] = Event.objects.filter(type="proposal.viewed")
    assert (viewed.data["proposal"], viewed.data["ip"]) == (sent.pk, CUSTOMER_IP)
    assert Deal.objects.get(pk=sent.deal_id).last_activity_at == sent.first_viewed_at


def test_the_team_looking_at_the_link_is_not_counted(client, sent, rita):
    signed_in(client, rita).get(public(sent))

    sent.refresh_from_db()
    assert (sent.view_count, sent.first_viewed_at) == (0, None)
    assert not Event.objects.filter(type="proposal.viewed").exists()


# --- accepting and declining ------------------------------------------------------------------


def test_accepting_records_who_when_and_where_and_wins_the_deal(client, sent, deal):
    before = timezone.now()

    response = accept_on_page(client, sent, name="  lena   FISCHER ")

    assert response.status_code == 302 and response.url == public(sent)
    sent.refresh_from_db()
    assert sent.status == ProposalStatus.ACCEPTED
    assert (sent.accepted_name, sent.accepted_ip, sent.accepted_user_agent) == (
        "lena FISCHER",
        CUSTOMER_IP,
        "Firefox/140",
    )
    assert before <= sent.accepted_at <= timezone.now()
    accepted = Event.objects.get(type="proposal.accepted")
    assert (accepted.data["name"], accepted.data["ip"]) == ("lena FISCHER", CUSTOMER_IP)
    deal.refresh_from_db()
    deal.lead.refresh_from_db()
    assert deal.stage.name == "Won" and deal.lead.lifecycle_stage == LifecycleStage.CUSTOMER
    assert Message.objects.filter(kind="deal.welcome", to="lena@customers.example").count() == 1
    assert Task.objects.filter(lead=deal.lead, origin__startswith="onboarding").count() == 4
    page = client.get(public(sent)).content.decode()
    assert "Accepted by <strong>lena FISCHER</strong>" in page and CUSTOMER_IP in page
    assert 'name="full_name"' not in page


def test_accepting_twice_does_nothing_the_second_time(client, sent):
    accept_on_page(client, sent)
    first = Event.objects.get(type="proposal.accepted").occurred_at

    again = accept_on_page(client, sent, name="Someone Else")
    proposals.accept(sent, "Lena Fischer", "198.51.100.1", "")

    assert again.status_code == 302
    sent.refresh_from_db()
    assert (sent.accepted_name, sent.accepted_at) == ("Lena Fischer", first)
    assert Event.objects.filter(type="proposal.accepted").count() == 1
    assert Event.objects.filter(type="deal.won").count() == 1
    assert Message.objects.filter(kind="deal.welcome").count() == 1


def test_the_name_must_match_the_lead_and_the_box_be_ticked(client, sent):
    wrong = accept_on_page(client, sent, name="Lena F.")
    unticked = accept_on_page(client, sent, agree=False)
    blank = accept_on_page(client, sent, name="   ")

    assert wrong.status_code == unticked.status_code == blank.status_code == 400
    assert "Type your full name as shown: Lena Fischer." in wrong.content.decode()
    assert "Tick the box to accept these terms." in unticked.content.decode()
    assert "This field is required." in blank.content.decode()
    sent.refresh_from_db()
    assert sent.status == ProposalStatus.SENT


def test_any_name_is_accepted_when_the_lead_has_no_full_name(make_deal, make_lead, rita):
    proposal = proposals.send(proposals.draft(make_deal(lead=make_lead()), by=rita), by=rita)

    proposals.accept(proposal, "Dana Okafor", CUSTOMER_IP, "")

    proposal.refresh_from_db()
    assert proposal.accepted_name == "Dana Okafor"


def test_an_expired_proposal_cannot_be_accepted(client, sent):
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        page = client.get(public(sent)).content.decode()
        refused = accept_on_page(client, sent)
        with pytest.raises(proposals.ProposalError, match="expired"):
            proposals.accept(sent, "Lena Fischer", CUSTOMER_IP, "")

    assert "This proposal has expired" in page and 'name="full_name"' not in page
    assert refused.status_code == 400 and "has expired" in refused.content.decode()
    sent.refresh_from_db()
    assert sent.status == ProposalStatus.SENT and not Event.objects.filter(type="deal.won")


def test_declining_keeps_the_reason_and_leaves_the_deal_to_the_rep(client, sent, deal):
    response = client.post(
        reverse("crm:proposal_decline", args=[sent.token]),
        {"reason": "Too <b>expensive</b> for us"},
        REMOTE_ADDR=CUSTOMER_IP,
    )

    assert response.status_code == 302
    sent.refresh_from_db()
    assert sent.status == ProposalStatus.DECLINED and sent.declined_at is not None
    assert sent.decline_reason == "Too <b>expensive</b> for us"
    assert Event.objects.get(type="proposal.declined").data["reason"] == sent.decline_reason
    deal.refresh_from_db()
    assert deal.stage.name == "Proposal sent"
    with pytest.raises(proposals.ProposalError, match="is declined and can no longer be accepted"):
        proposals.accept(sent, "Lena Fischer", CUSTOMER_IP, "")
    assert "You declined this proposal" in client.get(public(sent)).content.decode()


# --- the workspace ----------------------------------------------------------------------------


def lines_post(title: str, rows: list[tuple[str, str, str]], **extra) -> dict:
    data = {
        "title": title,
        "terms": "Pay within <b>30</b> days",
        "valid_until": (timezone.localdate() + timedelta(days=14)).isoformat(),
        "lines-TOTAL_FORMS": str(len(rows)),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "100",
        **extra,
    }
    for number, (description, quantity, price) in enumerate(rows):
        data |= {
            f"lines-{number}-description": description,
            f"lines-{number}-quantity": quantity,
            f"lines-{number}-unit_price": price,
        }
    return data


def test_a_rep_drafts_edits_and_sends_from_the_workspace(client, deal, rita, smtp):
    signed_in(client, rita)

    made = client.post(reverse("crm:proposal_new", args=[deal.pk]))
    proposal = deal.proposals.get()
    assert made.url == reverse("crm:proposal", args=[proposal.pk])
    editor = client.get(made.url)
    assert editor.status_code == 200 and "1,250.00" in editor.content.decode()
    assert 'name="lines-1-description"' in editor.content.decode()  # a blank line to add one

    saved = client.post(
        made.url,
        lines_post("Cleaning for Fischer GmbH", [("Visits", "3", "33.33"), ("", "1", "")]),
    )
    assert saved.status_code == 302
    proposal.refresh_from_db()
    assert (proposal.title, proposal.total) == ("Cleaning for Fischer GmbH", Decimal("99.99"))

    client.post(reverse("crm:proposal_send", args=[proposal.pk]))
    outbox.send_due()

    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.SENT
    assert proposals.public_url(proposal) in text_of(smtp.to("lena@customers.example")[0])
    page = client.get(made.url).content.decode()
    assert proposals.public_url(proposal) in page and "Withdraw" in page
    late = client.post(made.url, lines_post("Cheaper", [("Visits", "1", "1")]), follow=True)
    assert "This proposal is sent and cannot be changed" in late.content.decode()
    proposal.refresh_from_db()
    assert proposal.total == Decimal("99.99")


def test_a_bad_line_in_the_editor_is_shown_beside_the_form(client, deal, rita):
    proposal = proposals.draft(deal, by=rita)
    signed_in(client, rita)

    negative = client.post(
        reverse("crm:proposal", args=[proposal.pk]), lines_post("T", [("Visits", "1", "-5")])
    )
    unreadable = client.post(
        reverse("crm:proposal", args=[proposal.pk]), lines_post("T", [("Visits", "lots", "5")])
    )

    assert negative.status_code == unreadable.status_code == 400
    assert "Line 1: the price cannot be negative." in negative.content.decode()
    assert "Enter a number." in unreadable.content.decode()
    proposal.refresh_from_db()
    assert proposal.total == Decimal("1250.00")


def test_the_live_total_adds_the_lines_that_read(client, deal, rita):
    proposal = proposals.draft(deal, by=rita)
    signed_in(client, rita)

    response = client.post(
        reverse("crm:proposal_total", args=[proposal.pk]),
        lines_post("T", [("Visits", "3", "33.33"), ("Half typed", "2", "1."), ("Bins", "x", "1")]),
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200 and "101.99" in response.content.decode()


def test_someone_elses_proposal_is_not_found(client, sent, person):
    sam = signed_in(client, person("sam"))

    for name in (
        "crm:proposal",
        "crm:proposal_send",
        "crm:proposal_withdraw",
        "crm:proposal_total",
    ):
        method = sam.get if name == "crm:proposal" else sam.post
        assert method(reverse(name, args=[sent.pk])).status_code == 404
    assert sam.post(reverse("crm:proposal_new", args=[sent.deal_id])).status_code == 404
    sent.refresh_from_db()
    assert sent.status == ProposalStatus.SENT


def test_withdrawing_from_the_workspace_stops_the_link(client, sent, rita):
    signed_in(client, rita)

    client.post(reverse("crm:proposal_withdraw", args=[sent.pk]))
    again = client.post(reverse("crm:proposal_withdraw", args=[sent.pk]), follow=True)

    sent.refresh_from_db()
    assert sent.status == ProposalStatus.WITHDRAWN
    assert "already withdrawn" in again.content.decode()
    assert Event.objects.filter(type="proposal.withdrawn").count() == 1


def test_the_editor_formset_ignores_the_untouched_blank_line():
    formset = LineFormSet(
        lines_post("T", [("Visits", "2", "10"), ("", "1", "")], **{"lines-INITIAL_FORMS": "1"}),
        initial=[{"description": "Visits", "quantity": 1, "unit_price": 10}],
        prefix="lines",
    )
    assert formset.is_valid(), formset.errors


# --- seed 000, end to end ---------------------------------------------------------------------


def test_cleanpro_a_lead_a_deal_a_proposal_sent_opened_accepted_won(
    client, make_lead, rita, pipeline, smtp
):
    """Seed 000: the rep sends a proposal through the CRM, which tracks when the lead opens
    it; once it is signed the deal moves to Won, a welcome email goes out and onboarding
    tasks are made."""
    RoutingSettings.objects.update_or_create(pk=1, defaults={"business_name": "CleanPro"})
    lead = make_lead(
        first_name="Maria", last_name="Lopez", email="maria@northgate.example", owner=rita
    )
    deal = services.open_deal(lead, title="5,000 sq ft office", value=Decimal("1800"), by=rita)
    proposal = proposals.draft(deal, by=rita)
    proposals.save_lines(
        proposal,
        [
            Line("Evening office cleaning (per month)", Decimal("1"), Decimal("1650.00")),
            Line("Carpet and window deep clean", Decimal("2"), Decimal("187.50")),
        ],
    )
    proposals.send(proposal, by=rita)
    outbox.send_due()
    [offer] = smtp.to("maria@northgate.example")
    link = proposals.public_url(proposal)
    assert link in text_of(offer) and "2,025.00" in text_of(offer)

    path = link.removeprefix("http://127.0.0.1:8000")
    opened = client.get(path, REMOTE_ADDR=CUSTOMER_IP).content.decode()
    assert "CleanPro" in opened and "2,025.00" in opened
    accept_on_page(client, proposal, name="Maria Lopez")
    outbox.send_due()

    deal.refresh_from_db()
    lead.refresh_from_db()
    assert deal.stage.name == "Won" and lead.lifecycle_stage == LifecycleStage.CUSTOMER
    [welcome] = [m for m in smtp.to("maria@northgate.example") if m is not offer]
    assert welcome["Subject"] == "Welcome aboard" and "Hi Maria" in text_of(welcome)
    tasks = Task.objects.filter(lead=lead, origin__startswith="onboarding").order_by("due_at")
    assert tasks.count() == 4 and {task.owner for task in tasks} == {rita}
    timeline = list(lead.events.order_by("occurred_at", "pk").values_list("type", flat=True))
    for step in ("proposal.sent", "proposal.viewed", "proposal.accepted", "deal.won"):
        assert step in timeline
    assert timeline.index("proposal.viewed") < timeline.index("proposal.accepted")


# --- the three-day follow-up (a ready-made workflow) ------------------------------------------


@pytest.fixture
def follow_up_installed(db):
    """Installed as a user does (`leadloop nurture templates install proposal-follow-up`), then
    published and switched on as the admin does."""
    engine._parsed.clear()
    call_command("nurture", "templates", "install", "proposal-follow-up", stdout=StringIO())
    workflow = Workflow.objects.get(name="Proposal follow-up")
    nurture.publish(workflow, by="admin")
    Workflow.objects.filter(pk=workflow.pk).update(is_active=True)
    nurture.forget_watched_types()
    return workflow


def settle() -> None:
    for _ in range(20):
        if not journey.follow_up():
            return
    raise AssertionError("the worker still had work after 20 passes")


def test_a_proposal_not_accepted_in_three_days_gets_a_follow_up_and_a_call_task(
    follow_up_installed, deal, rita, smtp
):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        proposal = proposals.send(proposals.draft(deal, by=rita), by=rita)
        settle()
        clock.shift(timedelta(days=2, hours=23))
        settle()
        assert not Message.objects.filter(kind="nurture").exists()

        clock.shift(timedelta(hours=1, minutes=5))
        settle()
        settle()

    [nudge] = Message.objects.filter(kind="nurture")
    assert nudge.subject == "Any questions about your proposal, Lena?"
    assert proposals.public_url(proposal) in nudge.body
    mails = [m for m in smtp.to("lena@customers.example") if "Any questions" in m["Subject"]]
    assert len(mails) == 1
    [task] = Task.objects.filter(lead=deal.lead)
    assert task.title == "Call Lena: proposal not accepted after three days" and task.owner == rita


def test_a_proposal_accepted_within_three_days_gets_no_follow_up(follow_up_installed, deal, rita):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        proposal = proposals.send(proposals.draft(deal, by=rita), by=rita)
        settle()
        clock.shift(timedelta(days=1))
        proposals.accept(proposal, "Lena Fischer", CUSTOMER_IP, "")
        settle()
        clock.shift(timedelta(days=3))
        settle()

    assert not Message.objects.filter(kind="nurture").exists()
    assert not Task.objects.filter(lead=deal.lead).exclude(origin__startswith="onboarding")
    exited = Event.objects.get(type="workflow.exited", data__workflow="Proposal follow-up")
    assert exited.data["reason"] == "proposal accepted"


def test_a_declined_proposal_gets_no_follow_up(follow_up_installed, deal, rita):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        proposal = proposals.send(proposals.draft(deal, by=rita), by=rita)
        settle()
        proposals.decline(proposal, "", CUSTOMER_IP, "")
        clock.shift(timedelta(days=3, hours=1))
        settle()

    assert not Message.objects.filter(kind="nurture").exists()
    assert not Task.objects.filter(lead=deal.lead).exists()
