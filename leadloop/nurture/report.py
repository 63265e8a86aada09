"""A workflow's report: how many leads it enrolled and how their runs ended, and per published
version and step what the step did: how often it was taken, what it sent, what was opened and
clicked, and how many of the leads who took it converted.

Converted means: the enrollment left through the workflow's goal (exit reason "goal", from the
workflow's goal condition or a goal step), or the lead became a customer (a "deal.won" event, or
a stage change to customer) at or after the moment in question: for the workflow, its entry;
for a step, the step being taken. A lead counts once per step however often it took it.

Every figure comes from a few grouped queries (enrollments by status and reason, step runs by
version and position, messages by origin), never from a loop over leads."""

from django.db.models import Count, Exists, OuterRef, Q

from leadloop.core.models import WON, Event, Message, MessageStatus
from leadloop.nurture.models import Enrollment, EnrollmentStatus, StepRun, Workflow

GOAL = "goal"


def _won_since(lead_ref: str, since_ref: str) -> Exists:
    """The lead became a customer at or after `since_ref`."""
    return Exists(
        Event.objects.filter(lead=OuterRef(lead_ref), occurred_at__gte=OuterRef(since_ref)).filter(
            Q(type=WON) | Q(type="stage.changed", data__to="customer")
        )
    )


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def origin_of(workflow_id: int, version_number: int, position: int) -> str:
    """The `origin` the engine writes on a step's messages (engine.Walk.origin)."""
    return f"workflow:{workflow_id}:v{version_number}:step{position}"


def workflow_report(workflow: Workflow) -> dict:
    """1. Count enrollments by status and exit reason (one grouped query), and the converted.
    2. Count step runs by version and position: taken, distinct leads, converted leads.
    3. Count the workflow's messages by origin: sent, opened, clicked.
    4. Lay the figures over each published version's steps, newest version first."""
    enrollments = Enrollment.objects.filter(workflow=workflow)
    by_status = {status: 0 for status in EnrollmentStatus.values}
    exited: dict[str, int] = {}
    for row in enrollments.values("status", "exit_reason").annotate(n=Count("id")).order_by():
        by_status[row["status"]] += row["n"]
        if row["status"] == EnrollmentStatus.EXITED:
            reason = row["exit_reason"] or "(no reason)"
            exited[reason] = exited.get(reason, 0) + row["n"]
    converted = (
        enrollments.alias(won=_won_since("lead_id", "entered_at"))
        .filter(Q(status=EnrollmentStatus.EXITED, exit_reason=GOAL) | Q(won=True))
        .count()
    )
    enrolled = sum(by_status.values())

    runs = (
        StepRun.objects.filter(enrollment__workflow=workflow)
        .alias(won=_won_since("enrollment__lead_id", "at"))
        .values("version_id", "position")
        .annotate(
            taken=Count("id"),
            leads=Count("enrollment_id", distinct=True),
            converted=Count(
                "enrollment_id",
                distinct=True,
                filter=Q(enrollment__status=EnrollmentStatus.EXITED, enrollment__exit_reason=GOAL)
                | Q(won=True),
            ),
        )
        .order_by()
    )
    step_runs = {(row["version_id"], row["position"]): row for row in runs}

    messages = (
        Message.objects.filter(origin__startswith=f"workflow:{workflow.pk}:v")
        .values("origin")
        .annotate(
            sent=Count("id", filter=Q(status=MessageStatus.SENT)),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        )
        .order_by()
    )
    by_origin = {row["origin"]: row for row in messages}

    versions = []
    for version in workflow.versions.order_by("-number"):
        steps = []
        for position, step in enumerate(version.steps):
            run = step_runs.get((version.pk, position), {})
            sent = by_origin.get(origin_of(workflow.pk, version.number, position), {})
            figures = {
                "taken": run.get("taken", 0),
                "leads": run.get("leads", 0),
                "sent": sent.get("sent", 0),
                "opened": sent.get("opened", 0),
                "clicked": sent.get("clicked", 0),
                "converted": run.get("converted", 0),
            }
            steps.append(
                {
                    "position": position,
                    "label": step.get("label", ""),
                    "kind": step.get("do", ""),
                    "summary": summarise(step),
                    **figures,
                    "open_rate": _rate(figures["opened"], figures["sent"]),
                    "click_rate": _rate(figures["clicked"], figures["sent"]),
                    "conversion_rate": _rate(figures["converted"], figures["leads"]),
                }
            )
        versions.append(
            {
                "number": version.number,
                "published_at": version.published_at.isoformat(),
                "published_by": version.published_by,
                "steps": steps,
            }
        )

    return {
        "workflow": {"id": workflow.pk, "name": workflow.name, "is_active": workflow.is_active},
        "enrolled": enrolled,
        "active": by_status[EnrollmentStatus.ACTIVE],
        "completed": by_status[EnrollmentStatus.COMPLETED],
        "exited": by_status[EnrollmentStatus.EXITED],
        "exited_by_reason": dict(sorted(exited.items(), key=lambda item: (-item[1], item[0]))),
        "failed": by_status[EnrollmentStatus.FAILED],
        "converted": converted,
        "conversion_rate": _rate(converted, enrolled),
        "versions": versions,
    }


def summarise(step: dict) -> str:
    """One line a marketer recognises a step by."""
    kind = step.get("do", "")
    if kind == "send_email":
        return f"email: {step.get('subject') or step.get('template')}"
    if kind == "send_sms":
        return f"SMS: {step.get('text', '')[:60]}"
    if kind == "wait":
        return "wait " + duration_text(step)
    if kind == "wait_for":
        return f"wait for {step.get('event')} (up to {duration_text(step.get('timeout', {}))})"
    if kind in ("branch", "goal"):
        return f"{kind}: if {condition_text(step.get('if'))}"
    if kind == "create_task":
        return f"task: {step.get('title', '')}"
    if kind == "exit":
        return f"exit: {step.get('reason', 'exit step')}"
    if kind == "set_stage":
        return f"stage → {step.get('stage')}"
    if kind == "tag":
        return "tag " + ", ".join(
            [f"+{t}" for t in step.get("add", [])] + [f"-{t}" for t in step.get("remove", [])]
        )
    return kind.replace("_", " ")


def duration_text(duration: dict) -> str:
    parts = [
        f"{duration[unit]} {unit if duration[unit] != 1 else unit[:-1]}"
        for unit in ("days", "hours", "minutes")
        if duration.get(unit)
    ]
    return " ".join(parts) or "0 minutes"


def condition_text(condition: object) -> str:
    if not isinstance(condition, dict):
        return "?"
    if "all" in condition:
        return " and ".join(condition_text(c) for c in condition["all"])
    if "any" in condition:
        return " or ".join(condition_text(c) for c in condition["any"])
    if "not" in condition:
        return f"not ({condition_text(condition['not'])})"
    if "event" in condition:
        where = "".join(f" {k}={v}" for k, v in condition.get("where", {}).items())
        within = f" within {condition['within_days']} d" if condition.get("within_days") else ""
        return f"{condition['event']}{where}{within}"
    return f"{condition.get('fact')} {condition.get('op')} {condition.get('value', '')}".strip()
