"""A broadcast to a segment reaches a real SMTP server once per person who may hear from us:
not those who unsubscribed, bounced or refused, never twice however often it is re-run, and
resumed where it stopped when its worker dies.

The cast, in a segment of leads in the US:
- ann and abe: opted in, nothing against them: they get it;
- bob: unsubscribed (a refusal on record, his address suppressed);
- cara: her address bounced (suppressed, no refusal);
- dan: refused email consent when he filled in the form (no suppression);
- eve: no email address;
- fay: in Germany, outside the segment."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from leadloop.compliance import services as compliance
from leadloop.compliance.models import ConsentChannel, SuppressionReason
from leadloop.core import outbox
from leadloop.core.models import Lead, Message, MessageStatus
from leadloop.core.types import ConsentGiven
from leadloop.nurture import broadcasts
from leadloop.nurture.models import Broadcast, BroadcastStatus, EmailTemplate, Segment
from tests.mail_server import text_of

pytestmark = pytest.mark.django_db


def _lead(name: str, country: str = "US", email: str | None = None) -> Lead:
    address = f"{name}@customers.example" if email is None else email
    lead = Lead.objects.create(
        first_name=name.title(), email=address, custom_fields={"country": country}
    )
    if address:
        granted = ConsentGiven(ConsentChannel.EMAIL, name != "dan", "Emails about offers")
        compliance.record_consents([(lead, granted)])
    return lead


@pytest.fixture
def cast(db) -> dict[str, Lead]:
    leads = {name: _lead(name) for name in ("ann", "abe", "bob", "cara", "dan")}
    leads["eve"] = _lead("eve", email="")
    leads["fay"] = _lead("fay", country="DE")
    compliance.withdraw(leads["bob"], ConsentChannel.EMAIL, wording="Unsubscribe link")
    compliance.suppress("cara@customers.example", ConsentChannel.EMAIL, SuppressionReason.BOUNCED)
    return leads


@pytest.fixture
def spring(cast) -> Broadcast:
    us = Segment.objects.create(
        name="US", slug="us", condition={"fact": "country", "op": "equals", "value": "us"}
    )
    template = EmailTemplate.objects.create(
        name="Spring offer",
        subject="Spring offer for {{ lead.first_name }}",
        text="Hi {{ lead.first_name }}, 20% off: https://cleanpro.example/spring",
        html='<p>Hi {{ lead.first_name }}, <a href="https://cleanpro.example/spring">20% off</a></p>',
    )
    return Broadcast.objects.create(name="Spring", segment=us, template=template)


def test_a_broadcast_reaches_only_those_who_may_hear_from_us(spring, smtp):
    broadcasts.queue_broadcast(spring)

    assert broadcasts.send_due() == 2
    outbox.send_due()

    assert sorted(str(m["To"]) for m in smtp.messages) == [
        "abe@customers.example",
        "ann@customers.example",
    ]
    spring.refresh_from_db()
    assert spring.status == BroadcastStatus.SENT and spring.finished_at is not None
    assert (spring.queued, spring.withheld, spring.no_email) == (2, 3, 1)


def test_its_email_is_tracked_and_carries_a_one_click_unsubscribe(spring, smtp):
    broadcasts.queue_broadcast(spring)
    broadcasts.send_due()
    outbox.send_due()

    email = smtp.to("ann@customers.example")[0]
    assert email["Subject"] == "Spring offer for Ann"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/n/u/" in email["List-Unsubscribe"]
    html = text_of(email, "html")
    assert "/n/c/" in html and "/n/o/" in html
    assert "https://cleanpro.example/spring" not in html
    assert "Unsubscribe: http" in text_of(email)
    message = Message.objects.get(to="ann@customers.example")
    assert message.kind == "broadcast" and message.marketing
    assert message.key == f"broadcast-{spring.pk}-{message.lead_id}"


def test_a_lead_who_unsubscribes_after_queuing_is_withheld_by_the_outbox(spring, cast, smtp):
    broadcasts.queue_broadcast(spring)
    broadcasts.send_due()
    compliance.withdraw(cast["abe"], ConsentChannel.EMAIL, wording="Replied 'stop'")

    outbox.send_due()

    assert [str(m["To"]) for m in smtp.messages] == ["ann@customers.example"]
    assert Message.objects.get(to="abe@customers.example").status == MessageStatus.SUPPRESSED


def test_running_it_again_never_sends_twice(spring, smtp):
    broadcasts.queue_broadcast(spring)
    broadcasts.send_due()
    outbox.send_due()
    # As if its progress were lost: sent from the first lead again.
    Broadcast.objects.filter(pk=spring.pk).update(status=BroadcastStatus.QUEUED, last_lead_id=0)

    broadcasts.send_due()
    outbox.send_due()

    assert len(smtp.messages) == 2
    assert Message.objects.filter(kind="broadcast").count() == 2
    with pytest.raises(ValueError, match="was sent"):
        broadcasts.queue_broadcast(Broadcast.objects.get(pk=spring.pk))


def test_a_broadcast_whose_worker_died_resumes_after_its_last_batch(spring, smtp, monkeypatch):
    """Batches of two: the worker stops after the first; once its lease lapses the sweep
    takes the broadcast up at the third lead."""
    monkeypatch.setattr(broadcasts, "BATCH", 2)
    broadcasts.queue_broadcast(spring)
    assert broadcasts.send_due(seconds=0) == 2  # one batch, then the time is up
    spring.refresh_from_db()
    assert spring.status == BroadcastStatus.SENDING and spring.last_lead_id > 0

    assert broadcasts.send_due() == 0  # its lease still holds
    with time_machine.travel(timezone.now() + broadcasts.LEASE + timedelta(seconds=1)):
        broadcasts.send_due()
    outbox.send_due()

    spring.refresh_from_db()
    assert spring.status == BroadcastStatus.SENT
    assert (spring.queued, spring.withheld, spring.no_email) == (2, 3, 1)
    assert len(smtp.messages) == 2


def test_a_scheduled_broadcast_waits_for_its_time(spring, smtp):
    broadcasts.queue_broadcast(spring, at=timezone.now() + timedelta(hours=1))
    assert broadcasts.send_due() == 0
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        assert broadcasts.send_due() == 2
