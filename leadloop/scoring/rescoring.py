"""Scoring every lead again after the rules or the stage definitions change: a RescoreJob, run
in the background a batch at a time, with its progress on the row.

- One job at a time: a request while a job is queued is folded into it; a request while a job
  runs queues one job after it (the running one has already passed leads the new rules must
  see), and the runner starts it when it finishes.
- Each batch (leads in pk order from `last_lead_id`) is one short transaction: read, score,
  write the scores and the job's progress. Capture waits for at most one batch on SQLite.
- The job is claimed with a lease (durable.claim) that every batch extends; the attempt count
  it bumps fences out a worker presumed dead. The sweep re-nudges a job whose lease ran out,
  and it resumes after its last committed batch.
"""

import json
import logging
import multiprocessing
import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, connections, transaction
from django.db.models import Exists, Q
from django.utils import timezone

from leadloop.core import durable
from leadloop.core.models import Lead, Source
from leadloop.scoring.models import RescoreJob, RescoreStatus, ScoringRequest
from leadloop.scoring.services import Batch, Scored, read_timelines, save

logger = logging.getLogger(__name__)

BATCH_SIZE = 2000
# Every batch extends the lease; a batch takes well under a second, but may wait out SQLite's
# 30 s busy timeout behind a long writer.
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 5
RETRY_BACKOFF = [timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10)]
# Scoring is CPU-bound Python: one process per CPU scores while this one writes. Below this many
# leads, starting the processes costs more than it saves.
WORKERS = os.cpu_count() or 1
PARALLEL_MIN_LEADS = 50_000
MAX_PK = 2**63 - 1
OPEN = Q(status__in=[RescoreStatus.QUEUED, RescoreStatus.RUNNING])


class LostClaim(Exception):
    """Another worker took the job over (this one was presumed dead)."""


def start_rescore(reason: str) -> RescoreJob:
    """Ask for every lead to be scored again; the job is nudged once the caller commits."""
    with transaction.atomic():
        # Only a job that has scored nothing yet takes the new reason: one waiting to retry
        # has scored some leads under the rules as they were.
        queued = (
            RescoreJob.objects.filter(status=RescoreStatus.QUEUED, processed=0)
            .order_by("pk")
            .first()
        )
        if queued is not None:
            if reason not in queued.reason.split("; "):
                queued.reason = f"{queued.reason}; {reason}"[:200]
                RescoreJob.objects.filter(pk=queued.pk).update(reason=queued.reason)
            return queued
        job = RescoreJob.objects.create(reason=reason[:200], next_attempt_at=timezone.now())
        transaction.on_commit(lambda: _nudge(job.pk))
    return job


def _nudge(job_id: int) -> None:
    from leadloop.scoring.tasks import rescore_all

    rescore_all.enqueue(job_id)


def sweep() -> int:
    """Re-nudge the open job whose lease ran out (its worker died) or whose nudge was lost;
    give up on one that keeps dying. A nudge is noted in `heartbeat_at`, so a job waiting for
    a worker is not nudged again every sweep."""
    now = timezone.now()
    due = RescoreJob.objects.filter(OPEN, next_attempt_at__lte=now)
    due.filter(attempts__gte=MAX_ATTEMPTS).update(
        status=RescoreStatus.FAILED,
        finished_at=now,
        last_error=f"Its worker stopped {MAX_ATTEMPTS} times; start a rescore to try again.",
    )
    if RescoreJob.objects.filter(status=RescoreStatus.RUNNING, next_attempt_at__gt=now).exists():
        return 0  # one runs: its worker starts the next when it finishes
    quiet = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - LEASE)
    job = due.filter(quiet, attempts__lt=MAX_ATTEMPTS).order_by("pk").first()
    if job is None:
        return 0
    RescoreJob.objects.filter(pk=job.pk).update(heartbeat_at=now)
    _nudge(job.pk)
    return 1


def run(job_id: int, batch_size: int = BATCH_SIZE) -> RescoreJob | None:
    """The task: claim the job (unless another runs), score every lead, then start the next."""
    job = RescoreJob.objects.filter(pk=job_id).first()
    if job is None or not _claim(job):
        return None
    try:
        _run(job, batch_size)
    except LostClaim:
        logger.warning("rescore %s was taken over by another worker; stopping", job.pk)
        return job
    except Exception as error:
        logger.exception("rescore %s failed after lead %s", job.pk, job.last_lead_id)
        gave_up = job.attempts >= MAX_ATTEMPTS
        _fenced(job).update(
            status=RescoreStatus.FAILED if gave_up else RescoreStatus.QUEUED,
            next_attempt_at=None if gave_up else durable.backoff(job.attempts, RETRY_BACKOFF),
            finished_at=timezone.now() if gave_up else None,
            last_error=repr(error)[:2000],
        )
    job.refresh_from_db()
    following = RescoreJob.objects.filter(status=RescoreStatus.QUEUED).order_by("pk").first()
    if job.status == RescoreStatus.DONE and following is not None:
        _nudge(following.pk)
    return job


def _claim(job: RescoreJob) -> bool:
    """Take the job with a lease, unless another job holds a live one (one run at a time)."""
    others = RescoreJob.objects.filter(
        status=RescoreStatus.RUNNING, next_attempt_at__gt=timezone.now()
    ).exclude(pk=job.pk)
    if not durable.claim(
        job,
        attempts_field="attempts",
        due_field="next_attempt_at",
        lease=LEASE,
        still_pending=OPEN & ~Exists(others),
    ):
        return False
    job.status = RescoreStatus.RUNNING
    if not job.processed:
        job.total = Lead.objects.count()
    _fenced(job, RescoreStatus.QUEUED, RescoreStatus.RUNNING).update(
        status=job.status, total=job.total, heartbeat_at=timezone.now()
    )
    return True


def _fenced(job: RescoreJob, *statuses: str):
    """The job's row, as long as this process still holds the claim it took."""
    return RescoreJob.objects.filter(
        pk=job.pk, attempts=job.attempts, status__in=statuses or [RescoreStatus.RUNNING]
    )


def _run(job: RescoreJob, batch_size: int) -> None:
    remaining = Lead.objects.filter(pk__gt=job.last_lead_id).count()
    if WORKERS > 1 and remaining >= PARALLEL_MIN_LEADS:
        _run_parallel(job, batch_size)
    else:
        while True:
            with transaction.atomic():
                if rescore_batch(job, batch_size):
                    break
    _fenced(job).update(
        status=RescoreStatus.DONE, finished_at=timezone.now(), next_attempt_at=None, last_error=""
    )


def rescore_batch(
    job: RescoreJob, batch_size: int = BATCH_SIZE, now: datetime | None = None
) -> bool:
    """Score the next batch of leads after `last_lead_id` and save the job's progress (in the
    caller's transaction). True when there were none left."""
    leads = read_leads(job.last_lead_id, batch_size)
    if not leads:
        return True
    batch = Batch.current(now)
    batch.score(leads, read_timelines(pk_range=(leads[0].pk, leads[-1].pk)))
    _progress(job, len(leads), leads[-1].pk)
    return False


def _progress(job: RescoreJob, count: int, last_lead_id: int) -> None:
    job.processed += count
    job.last_lead_id = last_lead_id
    beat = timezone.now()
    saved = _fenced(job).update(
        processed=job.processed,
        last_lead_id=job.last_lead_id,
        total=max(job.total, job.processed),
        heartbeat_at=beat,
        next_attempt_at=beat + LEASE,
    )
    if not saved:
        raise LostClaim


def _run_parallel(job: RescoreJob, batch_size: int) -> None:
    """Score batches in one process per CPU while this one writes them, in order, a short
    transaction each. Scoring is the slow part (~100 µs a lead in one process).

    The children read outside the writer's transaction, so a lead may change between its read
    and the write: a change that matters asks for the lead to be scored again (a ScoringRequest,
    in the change's transaction), so the writer leaves out every lead with a request newer than
    the read (that request scores it afresh), and moves a lead's stage only if it is still the
    one it was scored from."""
    # A database connection must not cross a fork: the children open their own.
    connections.close_all()
    fork = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(WORKERS, mp_context=fork, initializer=_forget_inherited) as pool:
        pool.submit(int).result()  # every child forked now, before this process reconnects
        in_flight: deque = deque()
        after: int | None = job.last_lead_id
        while True:
            while after is not None and len(in_flight) < 2 * WORKERS:
                last = _batch_end(after, batch_size)
                if last is not None:
                    in_flight.append((pool.submit(score_range, after, last), after, last))
                after = last
            if not in_flight:
                return
            future, first, last = in_flight.popleft()
            count, read_at, scored = future.result()
            with transaction.atomic():
                since = ScoringRequest.objects.filter(
                    lead_id__gt=first, lead_id__lte=last, created_at__gte=read_at
                )
                save(scored, skip=frozenset(since.values_list("lead_id", flat=True)), checked=True)
                _progress(job, count, last)


# What a child inherited and must neither use nor let be garbage-collected: finalising a
# connection sends the server a goodbye on the parent's socket. (Children leave by os._exit,
# which runs no finalisers.)
_inherited: list = []


def _forget_inherited() -> None:
    """In a child, before anything: drop whatever connection survived close_all() (one held in
    an open transaction is only marked closed), so the child opens its own."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _inherited.append(conn.connection)
            conn.connection = None


def score_range(after: int, last: int) -> tuple[int, datetime, Scored]:
    """In a child: score the leads with pk in (after, last] without saving them."""
    read_at = timezone.now()
    leads = read_leads(after, last - after, last=last)
    batch = Batch.current()
    _, scored = batch.compute(leads, read_timelines(pk_range=(after + 1, last)))
    return len(leads), read_at, scored


def _batch_end(after: int, size: int) -> int | None:
    """The pk of the `size`th lead after `after` (or of the last lead); None if there is none."""
    with connection.cursor() as cursor:
        cursor.execute(_NTH_AFTER, [after, size - 1])
        found = cursor.fetchone() or (None,)
        if found[0] is None:
            cursor.execute(_LAST_AFTER, [after])
            found = cursor.fetchone()
    return found[0]


@dataclass(slots=True)
class _SourceRow:
    channel: str
    campaign: str


@dataclass(slots=True)
class LeadRow:
    """What scoring reads and writes of a lead (facts.py's fields), read without building a
    model instance: the ORM's were most of a batch's time."""

    pk: int
    first_name: str
    last_name: str
    email: str
    phone: str
    lifecycle_stage: str
    capture_state: str
    quality: str
    score: int
    score_fit: int
    score_engagement: int
    score_intent: int
    custom_fields: dict
    enrichment: dict
    quality_signals: dict
    merged_at: object
    source_id: int | None
    source: _SourceRow | None
    score_drivers: list | None = None
    scored_at: datetime | None = None


_LEAD_COLUMNS = [
    *("id", "first_name", "last_name", "email", "phone", "lifecycle_stage", "capture_state"),
    *("quality", "score", "score_fit", "score_engagement", "score_intent", "custom_fields"),
    *("enrichment", "quality_signals", "merged_at", "source_id"),
]
_JSON_POSITIONS = [
    _LEAD_COLUMNS.index(c) for c in ("custom_fields", "enrichment", "quality_signals")
]
# Names from the models' metadata; every value is a placeholder.
_SELECT = (
    f"SELECT {', '.join('l.' + c for c in _LEAD_COLUMNS)}, s.channel, s.campaign "  # noqa: S608
    f"FROM {Lead._meta.db_table} l LEFT JOIN {Source._meta.db_table} s ON s.id = l.source_id "
)
_READ = _SELECT + "WHERE l.id > %s AND l.id <= %s ORDER BY l.id LIMIT %s"
_NTH_AFTER = (
    f"SELECT id FROM {Lead._meta.db_table} "  # noqa: S608
    "WHERE id > %s ORDER BY id LIMIT 1 OFFSET %s"
)
_LAST_AFTER = f"SELECT max(id) FROM {Lead._meta.db_table} WHERE id > %s"  # noqa: S608


def read_leads(after: int, count: int, last: int = MAX_PK) -> list[LeadRow]:
    """The next `count` leads after pk `after` (up to pk `last`), in pk order."""
    with connection.cursor() as cursor:
        cursor.execute(_READ, [after, last, count])
        found = cursor.fetchall()
    return [_lead_row(row) for row in found]


def read_leads_by_id(lead_ids: list[int]) -> list[LeadRow]:
    """These leads, in pk order (the ids a few hundred at a time, under any placeholder limit)."""
    found = []
    with connection.cursor() as cursor:
        for start in range(0, len(lead_ids), 500):
            chunk = lead_ids[start : start + 500]
            where = f"WHERE l.id IN ({', '.join(['%s'] * len(chunk))}) ORDER BY l.id"
            cursor.execute(_SELECT + where, chunk)
            found += cursor.fetchall()
    return sorted((_lead_row(row) for row in found), key=lambda lead: lead.pk)


def _lead_row(row: tuple) -> LeadRow:
    """A row of _READ: LeadRow's fields in order, then the source's channel and campaign."""
    values = list(row)
    for position in _JSON_POSITIONS:
        value = values[position]
        # Most leads have no custom fields or enrichment: skip the parse of "{}".
        if isinstance(value, str):
            values[position] = {} if value == "{}" else json.loads(value)
    campaign = values.pop()
    channel = values.pop()
    source = _SourceRow(channel, campaign) if channel is not None else None
    return LeadRow(*values, source=source)
