"""Notices are rows sent by the worker's poll: a mail server or webhook that is down means a
retry with backoff, never a lost message; a send interrupted by a dying worker is reported,
never repeated."""

from datetime import timedelta

import pytest
import time_machine

from leadloop.compliance.services import record_consents
from leadloop.core import outbox
from leadloop.core.models import Lead, Message, MessageStatus
from leadloop.core.types import ConsentGiven
from leadloop.routing import services
from leadloop.routing.models import NoticeKind, RoutingSettings
from tests.mail_server import serve_smtp
from tests.routing.conftest import MONDAY_10, a_lead, make_rule

pytestmark = pytest.mark.django_db


def at(seconds: float):
    return time_machine.travel(MONDAY_10 + timedelta(seconds=seconds), tick=False)


@pytest.fixture
def rules(rep, boss):
    make_rule("Everyone", rep("ann"), {}, promise="Ann will call you today.")


def assigned_lead(**fields) -> Lead:
    """A live lead assigned at Monday 10:00; its notices written, none sent."""
    with at(0):
        lead = a_lead(**fields)
        services.request_assignment([lead], live=True)
        assert services.assign_due() == 1
    return lead


def send(seconds: float) -> int:
    with at(seconds):
        return outbox.send_due()


def ack(lead: Lead) -> Message:
    return Message.objects.get(lead=lead, kind=NoticeKind.ACKNOWLEDGEMENT)


def test_with_the_mail_server_down_a_notice_waits_with_its_error_and_is_sent_once_it_is_up(
    rules, smtp_down
):
    lead = assigned_lead()

    assert send(0) == 2  # the acknowledgement and the owner's notice, both tried
    waiting = ack(lead)
    assert (waiting.status, waiting.attempts) == (MessageStatus.PENDING, 1)
    assert "Connection refused" in waiting.last_error or "111" in waiting.last_error
    assert waiting.next_attempt_at == MONDAY_10 + timedelta(seconds=10)
    assert send(9) == 0  # backing off

    inbox, server = serve_smtp(smtp_down)
    try:
        assert send(10) == 2
    finally:
        server.stop()

    sent = ack(lead)
    assert (sent.status, sent.attempts) == (MessageStatus.SENT, 2)
    assert sent.sent_at == MONDAY_10 + timedelta(seconds=10)
    assert Lead.objects.get(pk=lead.pk).acknowledged_at == MONDAY_10 + timedelta(seconds=10)
    assert [m["To"] for m in inbox.messages].count("lena@customers.example") == 1
    assert [m["Message-ID"] for m in inbox.to("lena@customers.example")] == [
        f"<{sent.key}@leadloop>"
    ]


def test_each_failure_waits_longer_and_the_last_gives_up(rules, smtp_down):
    lead = assigned_lead()
    clock = 0.0
    waits = []
    while ack(lead).status == MessageStatus.PENDING:
        send(clock)
        notice = ack(lead)
        if notice.next_attempt_at:
            waits.append(notice.next_attempt_at - (MONDAY_10 + timedelta(seconds=clock)))
            clock = (notice.next_attempt_at - MONDAY_10).total_seconds()

    assert waits == [
        timedelta(seconds=10),
        timedelta(minutes=1),
        timedelta(minutes=10),
        timedelta(hours=1),
    ]
    assert (ack(lead).status, ack(lead).attempts) == (MessageStatus.FAILED, 5)
    assert Lead.objects.get(pk=lead.pk).acknowledged_at is None


def test_a_notice_left_sending_by_a_dead_worker_is_failed_as_maybe_sent_not_sent_again(rules, smtp):
    lead = assigned_lead()
    notice = ack(lead)
    with at(1):
        assert outbox._claim(notice)  # the worker marks it `sending`, then dies

    assert send(60) == 1  # within the lease: the owner's notice goes, this one is left
    assert ack(lead).status == MessageStatus.SENDING
    send(60 + outbox.LEASE.total_seconds() + 1)

    lost = ack(lead)
    assert lost.status == MessageStatus.FAILED
    assert "may have been sent" in lost.last_error
    assert smtp.to("lena@customers.example") == []
    assert send(3600) == 0 and smtp.to("lena@customers.example") == []
    assert Lead.objects.get(pk=lead.pk).acknowledged_at is None


def test_a_webhook_that_fails_is_retried_with_the_same_delivery_key(rep, boss, smtp, httpserver):
    httpserver.expect_oneshot_request("/hook").respond_with_data("busy", status=503)
    httpserver.expect_request("/hook").respond_with_data("ok")
    make_rule("Everyone", rep("ann", webhook_url=httpserver.url_for("/hook")), {})
    lead = assigned_lead()

    send(0)
    hook = Message.objects.get(lead=lead, channel="webhook")
    assert hook.status == MessageStatus.PENDING and "503" in hook.last_error
    send(10)

    assert Message.objects.get(pk=hook.pk).status == MessageStatus.SENT
    deliveries = [request.headers["X-Leadloop-Delivery"] for request, _ in httpserver.log]
    assert deliveries == [hook.key, hook.key]


def test_acknowledgements_off_thank_nobody(rules, smtp):
    RoutingSettings.objects.filter(pk=RoutingSettings.current().pk).update(acknowledge=False)
    unthanked = assigned_lead(email="quiet@customers.example", phone="+14155550134")
    send(0)

    kinds = set(Message.objects.values_list("kind", flat=True))
    assert kinds == {NoticeKind.NEW_LEAD}
    assert {m["To"] for m in smtp.messages} == {"ann@reps.example"}
    assert Lead.objects.get(pk=unthanked.pk).acknowledged_at is None


def test_a_phone_only_lead_is_thanked_by_sms_only_with_sms_consent(rules, smtp, settings, tmp_path):
    settings.SMS_BACKEND, settings.SMS_FILE = "file", str(tmp_path / "sms.jsonl")
    no_consent = assigned_lead(email="", phone="+14155550134")
    consented = assigned_lead(email="", phone="+14155550135")
    record_consents([(consented, ConsentGiven("sms", True, "Text me about my request"))])
    send(0)

    withheld = ack(no_consent)
    assert withheld.status == MessageStatus.SUPPRESSED
    assert "SMS consent" in withheld.last_error
    assert Lead.objects.get(pk=no_consent.pk).acknowledged_at is None
    assert ack(consented).status == MessageStatus.SENT
    assert Lead.objects.get(pk=consented.pk).acknowledged_at is not None
    texts = (tmp_path / "sms.jsonl").read_text().splitlines()
    assert len(texts) == 1 and "Ann will call you today." in texts[0]
