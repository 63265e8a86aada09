"""One-off emails to a segment. A broadcast is queued (now or for a time); the worker's sweep
sends the due ones in batches of leads, each batch one transaction with the broadcast's
progress, so a crash resumes where it stopped. Every email is queued in the core outbox under
the key broadcast-<id>-<lead>, so running a batch twice never sends twice; composed as a
workflow's emails are (compose.py: tracked links, open pixel, one-click unsubscribe).

Consent is the outbox's gate (compliance.may_not_send): a person who unsubscribed, refused or
bounced gets nothing. The broadcast asks the same gate up front, so those leads are counted
(`withheld`) rather than queued."""

import time
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from leadloop.compliance import services as compliance
from leadloop.core.models import Lead, Message, MessageChannel
from leadloop.nurture import compose, segments
from leadloop.nurture.models import Broadcast, BroadcastStatus

BATCH = 500  # leads per transaction
LEASE = timedelta(minutes=2)
SWEEP_SECONDS = 2.0  # a sweep's share of the worker: it returns, and comes back at once
SEGMENTS_EVERY = 60.0  # seconds between refreshes of the dynamic segments' members
_segments_refreshed = float("-inf")


def queue_broadcast(broadcast: Broadcast, at=None) -> Broadcast:
    """Ready to send: at once, or at `at`. Sending a sent broadcast again is refused."""
    if broadcast.status == BroadcastStatus.SENT:
        raise ValueError(f"{broadcast} was sent on {broadcast.finished_at:%Y-%m-%d %H:%M}.")
    broadcast.full_clean()
    broadcast.status, broadcast.scheduled_at = BroadcastStatus.QUEUED, at
    broadcast.save(update_fields=["status", "scheduled_at"])
    return broadcast


def sweep() -> int:
    """The worker's sweep of audiences (nurture/apps.py): the dynamic segments' members
    refreshed every SEGMENTS_EVERY seconds (their joined and left events start workflows),
    and the due broadcasts sent for a while; how many changes and emails that made."""
    global _segments_refreshed
    changed = 0
    if time.monotonic() - _segments_refreshed >= SEGMENTS_EVERY:
        _segments_refreshed = time.monotonic()
        changed = segments.refresh_all()
    return changed + send_due()


def send_due(seconds: float = SWEEP_SECONDS) -> int:
    """The worker's sweep: the due broadcasts (queued and due, or sending with a lapsed lease,
    their worker gone) sent batch by batch for about `seconds`; how many emails it queued."""
    now = timezone.now()
    due = Q(status=BroadcastStatus.QUEUED) & (
        Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now)
    ) | Q(status=BroadcastStatus.SENDING, lease_until__lt=now)
    deadline = time.monotonic() + seconds
    queued = 0
    for broadcast in Broadcast.objects.filter(due).order_by("created_at"):
        if _claim(broadcast, due):
            queued += send_broadcast(broadcast, deadline=deadline)
        if time.monotonic() >= deadline:
            break
    return queued


def _claim(broadcast: Broadcast, due: Q) -> bool:
    """If exactly one row is updated, this process sends it (until its lease lapses)."""
    now = timezone.now()
    return bool(
        Broadcast.objects.filter(due, pk=broadcast.pk).update(
            status=BroadcastStatus.SENDING,
            lease_until=now + LEASE,
            started_at=Coalesce("started_at", now),
        )
    )


def send_broadcast(broadcast: Broadcast, deadline: float | None = None) -> int:
    """Queue the broadcast's emails, batch after batch, until the segment is done (the
    broadcast is then `sent`) or the monotonic `deadline` passes (after one batch at least);
    how many it queued."""
    queued, batches, finished = 0, 0, False
    while not finished and (deadline is None or time.monotonic() < deadline or not batches):
        done, finished = _send_batch(broadcast.pk)
        queued, batches = queued + done, batches + 1
    broadcast.refresh_from_db()
    return queued


def _send_batch(broadcast_id: int) -> tuple[int, bool]:
    """1. Lock the broadcast's row and read where it got to (a second sender waits here, then
       goes on after this batch, never over it).
    2. Read the next BATCH leads of the segment by id.
    3. Queue an email to each with an address that the gate lets through; count the others.
    4. Save the progress and the counts, renewing the lease; past the last lead, `sent`."""
    with transaction.atomic():
        broadcast = (
            Broadcast.objects.select_for_update(of=("self",))
            .select_related("segment", "template")
            .get(pk=broadcast_id)
        )
        if broadcast.status == BroadcastStatus.SENT:
            return 0, True
        now = timezone.now()
        audience = segments.leads(broadcast.segment, now).filter(pk__gt=broadcast.last_lead_id)
        batch = list(audience.select_related("owner", "company").order_by("pk")[:BATCH])
        subject, text, html = _content(broadcast)
        queued = withheld = no_email = 0
        for lead in batch:
            if not lead.email:
                no_email += 1
            elif _withheld(lead):
                withheld += 1
            else:
                compose.queue_marketing_email(
                    lead,
                    subject,
                    text,
                    html,
                    kind="broadcast",
                    origin=f"broadcast:{broadcast.pk}",
                    key=f"broadcast-{broadcast.pk}-{lead.pk}",
                )
                queued += 1
        finished = len(batch) < BATCH
        broadcast.queued += queued
        broadcast.withheld += withheld
        broadcast.no_email += no_email
        broadcast.last_lead_id = batch[-1].pk if batch else broadcast.last_lead_id
        broadcast.lease_until = None if finished else now + LEASE
        broadcast.status = BroadcastStatus.SENT if finished else BroadcastStatus.SENDING
        broadcast.started_at = broadcast.started_at or now
        broadcast.finished_at = now if finished else None
        broadcast.save(
            update_fields=[
                "queued", "withheld", "no_email", "last_lead_id", "lease_until", "status",
                "started_at", "finished_at",
            ]
        )  # fmt: skip
    return queued, finished


def _content(broadcast: Broadcast) -> tuple[str, str, str]:
    if broadcast.template is None:
        return broadcast.subject, broadcast.text, broadcast.html
    template = broadcast.template
    return template.subject, template.text, template.html


def _withheld(lead: Lead) -> bool:
    """The outbox's own gate, asked before queuing."""
    probe = Message(
        lead_id=lead.pk, channel=MessageChannel.EMAIL, to=lead.email, to_lead=True, marketing=True
    )
    return compliance.may_not_send(probe) is not None
