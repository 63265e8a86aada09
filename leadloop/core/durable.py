"""Durable work: the row is the record, the task is a nudge (ARCHITECTURE.md "Durable work").

Each app keeps its pending work as rows with a status, an attempt count and a due time, and
registers a sweep here. `leadloop worker` runs every sweep periodically, so work whose task was
lost (a worker died, a task raised) is found again from the data and re-enqueued.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db.models import F, Model, Q
from django.utils import timezone

logger = logging.getLogger(__name__)
_sweeps: dict[str, Callable[[], int]] = {}


def register_sweep(name: str, sweep: Callable[[], int]) -> None:
    _sweeps[name] = sweep


def run_sweeps() -> dict[str, int]:
    """Run every registered sweep; one failing sweep does not stop the others."""
    found = {}
    for name, sweep in _sweeps.items():
        try:
            found[name] = sweep()
        except Exception:
            logger.exception("sweep %s failed", name)
            found[name] = -1
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
