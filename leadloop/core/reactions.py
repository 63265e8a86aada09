"""Layers that react to events on the timeline: a consumer registers the event types it
reacts to and a handler; every event of those types written through core.services gets an
EventDelivery row for that consumer in the same transaction, and the worker's pass hands the
due ones to the handler. The handler's work and the delivery's "done" commit together, so each
event is handled once per consumer, and one written by a transaction that rolled back never."""

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from leadloop.core import durable, rows
from leadloop.core.models import Event, EventDelivery, WorkStatus

logger = logging.getLogger(__name__)

BATCH = 500
LEASE = timedelta(minutes=2)
BACKOFF = [timedelta(seconds=5), timedelta(minutes=1), timedelta(minutes=10)]
PENDING = Q(status=WorkStatus.PENDING)

Handler = Callable[[list[Event]], None]


@dataclass(frozen=True)
class _Consumer:
    types: Callable[[], set[str]]
    handle: Handler


_consumers: dict[str, _Consumer] = {}


def react(consumer: str, types: set[str] | Callable[[], set[str]], handle: Handler) -> None:
    """From now on, `handle(events)` is called with each new event of these types, in its
    own transaction with the deliveries it settles. `types` may be a function, for a consumer
    whose interests change with its configuration (asked each time events are written)."""
    _consumers[consumer] = _Consumer(types if callable(types) else lambda: types, handle)


def deliveries_for(events: Sequence[Event]) -> list[EventDelivery]:
    """The rows that make these new (saved) events reach their consumers."""
    wanted = {name: consumer.types() for name, consumer in _consumers.items()}
    return [
        EventDelivery(event=event, consumer=name)
        for event in events
        for name, types in wanted.items()
        if event.type in types
    ]


def deliver_due() -> int:
    """The worker's pass: each consumer's due events, a batch at a time, to its handler."""
    due = list(
        EventDelivery.objects.filter(PENDING, next_attempt_at__lte=timezone.now())
        .select_related("event")
        .order_by("pk")[:BATCH]
    )
    by_consumer = defaultdict(list)
    for delivery in durable.claim_each(due, lease=LEASE, still_pending=PENDING):
        by_consumer[delivery.consumer].append(delivery)
    for name, deliveries in by_consumer.items():
        _deliver(name, deliveries)
    return sum(map(len, by_consumer.values()))


def _deliver(name: str, deliveries: list[EventDelivery]) -> None:
    consumer = _consumers.get(name)
    if consumer is None:  # a consumer this version no longer has: nothing will handle these
        _settle(deliveries, WorkStatus.FAILED, "no such consumer")
        return
    try:
        with transaction.atomic():
            consumer.handle([delivery.event for delivery in deliveries])
            _settle(deliveries, WorkStatus.DONE)
    except Exception as error:
        logger.exception("%s failed on %d events", name, len(deliveries))
        for delivery in deliveries:
            durable.retry_later(delivery, error, BACKOFF, failed=WorkStatus.FAILED)


def _settle(deliveries: list[EventDelivery], status: str, error: str = "") -> None:
    EventDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        status=status, next_attempt_at=None, last_error=error
    )


def insert_with_deliveries(events: list[Event]) -> list[Event]:
    """Save new events and, with them, their deliveries."""
    rows.insert(events)
    rows.insert(deliveries_for(events))
    return events
