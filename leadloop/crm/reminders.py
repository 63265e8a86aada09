"""Task reminders by email: a sweep (every 30 s) emails each task's owner once, shortly before
the task is due. The claim (reminded_at set by a conditional UPDATE) and the queued email commit
together, so two workers never both remind, and a crash between them loses neither."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from leadloop.core import outbox
from leadloop.core.models import MessageChannel, Task
from leadloop.crm import story

logger = logging.getLogger(__name__)

AHEAD = timedelta(minutes=15)
BATCH = 200


def remind_due_tasks() -> int:
    """1. Find open tasks due within the next 15 minutes (or already late) not yet reminded,
    whose owner has an email. 2. Claim each by setting reminded_at where it is still null.
    3. If this process won the claim, queue the email in the same transaction."""
    now = timezone.now()
    due = (
        Task.objects.filter(
            done_at__isnull=True,
            reminded_at__isnull=True,
            due_at__lte=now + AHEAD,
            owner__isnull=False,
        )
        .exclude(owner__email="")
        .order_by("due_at")
        .values_list("pk", flat=True)
    )
    reminded = 0
    for task_id in list(due[:BATCH]):
        try:
            reminded += _remind(task_id, now)
        except Exception:
            logger.exception("reminding of task %s failed; it stays due", task_id)
    return reminded


def _remind(task_id: int, now) -> int:
    with transaction.atomic():
        won = Task.objects.filter(
            pk=task_id, reminded_at__isnull=True, done_at__isnull=True
        ).update(reminded_at=now)
        if not won:
            return 0
        task = Task.objects.select_related("lead", "owner").get(pk=task_id)
        outbox.queue(
            task.lead,
            MessageChannel.EMAIL,
            task.owner.email,
            _body(task),
            subject=f"Reminder: {task.title}",
            kind="task.reminder",
            to_lead=False,
            origin=f"task {task.pk}",
            key=f"task-reminder-{task.pk}",
        )
        return 1


def _body(task: Task) -> str:
    due = timezone.localtime(task.due_at, story.zone_of(task.owner))
    link = settings.SITE_URL + reverse("crm:lead", args=[task.lead_id])
    return (
        f"{task.title}\n\n"
        f"Due: {due:%a %d %b %Y %H:%M} ({due.tzname()})\n"
        f"Lead: {task.lead}\n\n"
        f"Open the lead: {link}\n"
    )
