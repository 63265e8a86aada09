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
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Exists, Q
from django.utils import timezone

from leadloop.core import durable
from leadloop.core.models import Lead, Source
from leadloop.scoring.models import RescoreJob, RescoreStatus
from leadloop.scoring.services import Batch

logger = logging.getLogger(__name__)

BATCH_SIZE = 2000
# Every batch extends the lease; a batch takes well under a second, but may wait out SQLite's
# 30 s busy timeout behind a long writer.
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 5
RETRY_BACKOFF = [timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10)]
OPEN = Q(status__in=[RescoreStatus.QUEUED, RescoreStatus.RUNNING])


class LostClaim(Exception):
    """Another worker took the job over (this one was presumed dead)."""


def start_rescore(reason: str) -> RescoreJob:
    """Ask for every lead to be scored again; the job is nudged once the caller commits."""
    with transaction.atomic():
        queued = RescoreJob.objects.filter(status=RescoreStatus.QUEUED).order_by("pk").first()
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
    give up on one that keeps dying."""
    now = timezone.now()
    due = RescoreJob.objects.filter(OPEN, next_attempt_at__lte=now)
    due.filter(attempts__gte=MAX_ATTEMPTS).update(
        status=RescoreStatus.FAILED,
        finished_at=now,
        last_error=f"Its worker stopped {MAX_ATTEMPTS} times; start a rescore to try again.",
    )
    found = list(due.filter(attempts__lt=MAX_ATTEMPTS).order_by("pk").values_list("pk", flat=True))
    # The oldest first: the runner starts the next when it finishes, so one nudge suffices.
    if found:
        _nudge(found[0])
    return len(found[:1])


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
    while True:
        with transaction.atomic():
            done = rescore_batch(job, batch_size)
        if done:
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
    batch.score(leads, batch.timelines(pk_range=(leads[0].pk, leads[-1].pk)))
    job.processed += len(leads)
    job.last_lead_id = leads[-1].pk
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
    return False


@dataclass(slots=True)
class _Channel:
    channel: str


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
    source: _Channel | None
    score_drivers: list | None = None
    scored_at: datetime | None = None


_LEAD_COLUMNS = [
    *("id", "first_name", "last_name", "email", "phone", "lifecycle_stage", "capture_state"),
    *("quality", "score", "score_fit", "score_engagement", "score_intent", "custom_fields"),
    *("enrichment", "quality_signals", "merged_at", "source_id"),
]
_JSON_COLUMNS = {"custom_fields", "enrichment", "quality_signals"}
# Names from the models' metadata; every value is a placeholder.
_READ = (
    f"SELECT {', '.join('l.' + c for c in _LEAD_COLUMNS)}, s.channel "  # noqa: S608
    f"FROM {Lead._meta.db_table} l LEFT JOIN {Source._meta.db_table} s ON s.id = l.source_id "
    "WHERE l.id > %s ORDER BY l.id LIMIT %s"
)


def read_leads(after: int, count: int) -> list[LeadRow]:
    """The next `count` leads after pk `after`, in pk order."""
    with connection.cursor() as cursor:
        cursor.execute(_READ, [after, count])
        found = cursor.fetchall()
    return [_lead_row(row) for row in found]


def _lead_row(row: tuple) -> LeadRow:
    values = dict(zip(_LEAD_COLUMNS, row[:-1], strict=True))
    for name in _JSON_COLUMNS:
        value = values[name]
        # Most leads have no custom fields or enrichment: skip the parse of "{}".
        if isinstance(value, str):
            values[name] = {} if value == "{}" else json.loads(value)
    pk = values.pop("id")
    channel = row[-1]
    return LeadRow(pk=pk, source=_Channel(channel) if channel is not None else None, **values)
