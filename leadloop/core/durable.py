"""Durable work: the row is the record, the task is a nudge (ARCHITECTURE.md "Durable work").

Each app keeps its pending work as rows with a status, an attempt count and a due time, and
registers a sweep here. `leadloop worker` runs every sweep periodically, so work whose task was
lost (a worker died, a task raised) is found again from the data and re-enqueued. A sweep
registered with `every` runs that often instead: for work picked up from its rows directly,
with no task to enqueue on the hot path that wrote them. A `slow` sweep (a report's roll-ups,
seconds of work at scale) runs in a loop of its own, so it never holds up a lead's next step.
"""

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F, Model, Q
from django.utils import timezone

logger = logging.getLogger(__name__)


@dataclass
class _Sweep:
    run: Callable[[], int]
    every: float | None
    slow: bool = False
    last_run: float = float("-inf")
    # It found work last time: there may be more, so it runs again at once rather than after
    # its interval (a backlog drains at full speed; an idle worker still sleeps).
    busy: bool = False


_sweeps: dict[str, _Sweep] = {}


def register_sweep(
    name: str, sweep: Callable[[], int], every: float | None = None, *, slow: bool = False
) -> None:
    _sweeps[name] = _Sweep(sweep, every, slow)


def shortest_interval(default: float, *, slow: bool = False) -> float:
    """How long the loop of the fast (or the slow) sweeps may sleep and still run each of them
    on time: not at all while one is busy."""
    sweeps = [s for s in _sweeps.values() if s.slow == slow]
    if any(sweep.busy for sweep in sweeps):
        return 0.0
    return min([default, *(s.every for s in sweeps if s.every)])


def run_sweeps(interval: float | None = None, *, slow: bool | None = None) -> dict[str, int]:
    """Run the registered sweeps that are due (every one when `interval` is None, as a batch
    run does; otherwise those whose `every`, or else `interval`, has passed), only the slow or
    only the fast ones when `slow` says. One failing sweep does not stop the others."""
    found = {}
    now = time.monotonic()
    for name, sweep in _sweeps.items():
        if slow is not None and sweep.slow != slow:
            continue
        due = sweep.busy or now - sweep.last_run >= (sweep.every or interval or 0)
        if interval is not None and not due:
            continue
        sweep.last_run = now
        try:
            found[name] = sweep.run()
        except Exception:
            logger.exception("sweep %s failed", name)
            found[name] = -1
        sweep.busy = found[name] > 0 and sweep.every is not None
    return found


def claim(
    row: Model, *, attempts_field: str, due_field: str, lease: timedelta, still_pending: Q
) -> bool:
    """Take a row for this process: a conditional UPDATE that only one claimer can win.

    Only a row that is due can be taken: a stale nudge (a second task for the row, queued by a
    sweep before the first ran) must not skip a backoff or run while another holds the lease.
    The claim bumps the attempt count and pushes the due time out by `lease`, so if this process
    dies the sweep sees the row again once the lease has passed."""
    now = timezone.now()
    due = Q(**{f"{due_field}__isnull": True}) | Q(**{f"{due_field}__lte": now})
    won = (
        type(row)
        .objects.filter(
            still_pending, due, pk=row.pk, **{attempts_field: getattr(row, attempts_field)}
        )
        .update(**{attempts_field: F(attempts_field) + 1, due_field: now + lease})
    )
    if won:
        row.refresh_from_db(fields=[attempts_field, due_field])
    return bool(won)


def backoff(attempts: int, steps: list[timedelta], now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + steps[min(attempts, len(steps)) - 1]


def claim_each(rows: Iterable[Model], *, lease: timedelta, still_pending: Q) -> list[Model]:
    """The rows this process took, each by `claim` on the usual `attempts` and
    `next_attempt_at` fields: a row another worker took meanwhile is left out."""
    return [
        row
        for row in rows
        if claim(
            row,
            attempts_field="attempts",
            due_field="next_attempt_at",
            lease=lease,
            still_pending=still_pending,
        )
    ]


def retry_later(
    row: Model, error: Exception, steps: list[timedelta], *, failed: str, pending: str = ""
) -> None:
    """After a failed attempt: due again after the backoff step for its attempt count (back in
    status `pending`, when the claim changed it), or, once the steps run out, given up with
    status `failed`; the error is kept on the row either way."""
    gave_up = row.attempts > len(steps)
    row.last_error = repr(error)[:2000]
    row.next_attempt_at = None if gave_up else backoff(row.attempts, steps)
    fields = ["last_error", "next_attempt_at"]
    if gave_up or pending:
        row.status = failed if gave_up else pending
        fields.append("status")
    row.save(update_fields=fields)
