"""Many workers at once, on the real database (each thread its own connection): round robin
stays exactly fair, weighted stays exactly weighted, no lead is assigned twice, and an SLA
timer polled by several workers fires once."""

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from django.db import connections

from leadloop.core.models import Event, Lead, Message
from leadloop.routing import services
from leadloop.routing.models import (
    Assignment,
    AssignmentRequest,
    NoticeKind,
    RoutingSettings,
    SlaTimer,
    TimerStatus,
    WorkStatus,
)
from tests.routing.conftest import MONDAY_10, a_lead, make_rule, make_team

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
JOIN_SECONDS = 60


def at_once(count: int, work: Callable[[int], object]) -> list[object]:
    """Run work(0..count-1) on as many threads, released together; their results in order.
    Each thread closes its own database connection at the end."""
    start = threading.Barrier(count)
    results: list[object] = [None] * count
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            start.wait(timeout=JOIN_SECONDS)
            results[n] = work(n)
        except BaseException as error:  # reported below, with the others
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a worker never finished"
    assert not errors, errors
    return results


def pending_leads(count: int, *, live: bool) -> list[Lead]:
    leads = [a_lead(email=f"lead{n}@customers.example") for n in range(count)]
    services.request_assignment(leads, live=live)
    return leads


def owners() -> Counter:
    return Counter(Lead.objects.values_list("owner__username", flat=True))


def test_eight_workers_polling_at_once_share_forty_leads_ten_each_by_round_robin(
    rep, boss, at_work
):
    RoutingSettings.current()
    make_rule("All", make_team("Sales", rep("ann"), rep("bob"), rep("cat"), rep("dan")))
    pending_leads(40, live=True)

    done = at_once(THREADS, lambda n: services.assign_due())

    assert sum(done) == 40
    assert owners() == {"ann": 10, "bob": 10, "cat": 10, "dan": 10}
    assert Assignment.objects.count() == 40
    assert Assignment.objects.values("lead").distinct().count() == 40
    assert not AssignmentRequest.objects.exclude(status=WorkStatus.DONE).exists()
    assert Message.objects.filter(kind=NoticeKind.NEW_LEAD).count() == 40
    assert SlaTimer.objects.count() == 40


def test_workers_fulfilling_requests_at_once_keep_a_weighted_team_exactly_three_to_one(
    rep, boss, at_work
):
    make_rule(
        "All", make_team("Sales", rep("ann"), rep("bob"), strategy="weighted", weights=[3, 1])
    )
    pending_leads(40, live=False)
    requests = list(AssignmentRequest.objects.order_by("pk"))

    at_once(4, lambda n: [services.fulfil(request) for request in requests[n::4]])

    assert owners() == {"ann": 30, "bob": 10}
    assert Assignment.objects.values("lead").distinct().count() == 40


def test_a_timer_polled_by_several_workers_at_once_fires_once(rep, boss, smtp):
    manager = boss
    make_rule("All", make_team("Sales", rep("ann"), manager=manager), {}, sla_minutes=5)
    with time_machine.travel(MONDAY_10, tick=False):
        pending_leads(10, live=True)
        assert services.assign_due() == 10

    with time_machine.travel(MONDAY_10 + timedelta(minutes=6), tick=True):
        fired = at_once(4, lambda n: services.fire_due_timers())

    assert sum(fired) == 10
    assert Event.objects.filter(type="sla.missed").count() == 10
    assert Message.objects.filter(kind=NoticeKind.SLA_MISSED).count() == 10
    assert SlaTimer.objects.filter(status=TimerStatus.PENDING).count() == 10  # the reassigns


def test_the_routing_settings_stay_one_row_when_many_workers_read_them_first_at_once():
    rows = at_once(THREADS, lambda n: RoutingSettings.current().pk)

    assert RoutingSettings.objects.count() == 1
    assert set(rows) == {RoutingSettings.current().pk}
