"""A lead's story, read for the lead page and the deal page: who they are, where they came
from, what they did (the timeline, each event in words), why they are here (score and stage
history), what they agreed to, who owns them, what is open, and the next best action.

Every part is one query whatever the lead's history holds (no per-row lookups: an event is
described from its own data), so a lead with thousands of events reads as fast as a new one."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone
from django.utils.timesince import timesince

from leadloop.compliance.models import Consent
from leadloop.core.models import Event, Lead, LifecycleStage, Task
from leadloop.crm.models import Deal, Meeting, MeetingStatus, Proposal, ProposalStatus
from leadloop.routing.models import (
    Assignment,
    ContactAttempt,
    ContactOutcome,
    Rep,
    SlaTimer,
    TimerStatus,
)

TIMELINE_PAGE = 100
ANSWERS_SHOWN = 6
TEXT_SHOWN = 300
UTC = ZoneInfo("UTC")
STAGE_LABELS = dict(LifecycleStage.choices)
OUTCOME_LABELS = dict(ContactOutcome.choices)
CONTACT_VERBS = {"call": "Called", "email": "Emailed", "sms": "Texted"}
# A lead in one of these stages is not waiting for its first call.
SETTLED = {LifecycleStage.CUSTOMER, LifecycleStage.DISQUALIFIED}


def zone_of(user: AbstractBaseUser | None) -> ZoneInfo:
    """The time zone a person reads times in: their rep profile's, else UTC."""
    if user is None:
        return UTC
    name = Rep.objects.filter(user_id=user.pk).values_list("time_zone", flat=True).first()
    return ZoneInfo(name) if name else UTC


# --- the timeline, in words ------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One event as the lead page shows it."""

    id: int
    occurred_at: datetime
    kind: str  # the event type's first part ("email", "page", "deal"): its colour on the page
    text: str
    actor: str


def _clip(text: object, limit: int = TEXT_SHOWN) -> str:
    text = str(text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _answers(answers: object) -> str:
    """In the order of their names: PostgreSQL's JSON keeps no order of its own."""
    if not isinstance(answers, dict) or not answers:
        return ""
    named = sorted(answers.items())[:ANSWERS_SHOWN]
    shown = [f"{key}: {_clip(value, 80)}" for key, value in named]
    more = len(answers) - ANSWERS_SHOWN
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _submitted(data: dict) -> str:
    form = data.get("form") or data.get("kind") or ""
    answers = _answers(data.get("answers"))
    text = f"Submitted form {form}" if form else f"Came in by {data.get('channel') or 'a form'}"
    return f"{text}: {answers}" if answers else text


def _updated(data: dict) -> str:
    changes = data.get("changes")
    changed = ", ".join(changes) if isinstance(changes, dict | list) and changes else ""
    text = _submitted(data).replace("Submitted form", "Submitted again: form", 1)
    return f"{text} (changed {changed})" if changed else text


def _email_name(data: dict) -> str:
    return _clip(data.get("subject") or data.get("origin") or data.get("kind") or "an email", 120)


def _contact(data: dict) -> str:
    verb = CONTACT_VERBS.get(data.get("channel"), "Contacted")
    outcome = OUTCOME_LABELS.get(data.get("outcome"), data.get("outcome") or "")
    text = f"{verb}: {outcome.lower()}" if outcome else verb
    return f"{text}: {_clip(data['note'])}" if data.get("note") else text


def _stage(data: dict) -> str:
    was = STAGE_LABELS.get(data.get("from"), data.get("from") or "?")
    now = STAGE_LABELS.get(data.get("to"), data.get("to") or "?")
    why = f" ({_clip(data['why'], 120)})" if data.get("why") else ""
    return f"Stage: {was} → {now}{why}"


def _generic(event_type: str, data: dict) -> str:
    """An event no describer knows: its type in words, and a title if it has one."""
    words = event_type.replace(".", " ").replace("_", " ").capitalize()
    title = data.get("title") or data.get("name") or ""
    return f"{words}: {_clip(title, 120)}" if title else words


Describer = Callable[[dict, str], str]
DESCRIBERS: dict[str, Describer] = {
    "page.viewed": lambda d, a: f"Visited {_clip(d.get('path') or d.get('url') or 'a page', 200)}",
    "lead.captured": lambda d, a: _submitted(d),
    "lead.partial_captured": lambda d, a: f"Started a form (not finished): {_submitted(d)}",
    "lead.updated": lambda d, a: _updated(d),
    "form.submitted": lambda d, a: _submitted(d),
    "email.sent": lambda d, a: f"Was sent email '{_email_name(d)}'",
    "sms.sent": lambda d, a: f"Was sent a text ({d.get('kind') or 'sms'})",
    "notice.sent": lambda d, a: f"Team notified: {d.get('kind') or 'notice'} to {d.get('to', '')}",
    "email.opened": lambda d, a: f"Opened email '{_email_name(d)}'",
    "email.clicked": lambda d, a: f"Clicked {_clip(d.get('url'), 200)} in '{_email_name(d)}'",
    "email.replied": lambda d, a: f"Replied to '{_email_name(d)}': {_clip(d.get('text'))}",
    "email.bounced": lambda d, a: "Email bounced",
    "email.complained": lambda d, a: "Marked an email as spam",
    "email.unsubscribed": lambda d, a: "Unsubscribed from email",
    "sms.replied": lambda d, a: f"Replied by text: {_clip(d.get('text') or d.get('body'))}",
    "sms.opted_out": lambda d, a: "Opted out of texts",
    "sms.opted_in": lambda d, a: "Opted in to texts",
    "content.downloaded": lambda d, a: f"Downloaded {_clip(d.get('title') or d.get('file'), 120)}",
    "webinar.attended": lambda d, a: (
        f"Attended webinar {_clip(d.get('webinar') or d.get('title'))}"
    ),
    "meeting.booked": lambda d, a: f"Booked a meeting: {_clip(d.get('title') or '', 120)}",
    "note.added": lambda d, a: f"Note by {a}: {_clip(d.get('body'), 2000)}",
    "contact.attempted": lambda d, a: _contact(d),
    "stage.changed": lambda d, a: _stage(d),
    "owner.assigned": lambda d, a: f"Assigned to {d.get('owner')}: {_clip(d.get('why'), 200)}",
    "sla.missed": lambda d, a: (
        f"First contact overdue by {d.get('minutes')} min; {d.get('alerted')} alerted"
    ),
    "task.created": lambda d, a: f"Task: {_clip(d.get('title'), 200)}",
    "task.done": lambda d, a: f"Task done: {_clip(d.get('title'), 200)}",
    "tag.added": lambda d, a: f"Tagged {d.get('tag')}",
    "tag.removed": lambda d, a: f"Untagged {d.get('tag')}",
    "segment.joined": lambda d, a: f"Joined segment {d.get('segment')}",
    "segment.left": lambda d, a: f"Left segment {d.get('segment')}",
    "score.adjusted": lambda d, a: f"Score {d.get('points', 0):+} ({_clip(d.get('why'), 120)})",
    "lead.enriched": lambda d, a: (
        f"Enriched by {d.get('provider')}: {', '.join(d.get('fields') or [])}"
    ),
    "deal.created": lambda d, a: f"Deal opened: {d.get('title')} ({d.get('value')})",
    "deal.stage_changed": lambda d, a: f"Deal moved: {d.get('from')} → {d.get('to')}",
    "deal.won": lambda d, a: f"Deal won: {d.get('revenue')}",
    "deal.lost": lambda d, a: f"Deal lost: {_clip(d.get('reason'), 200)}",
}


def describe(event: Event) -> str:
    data = event.data if isinstance(event.data, dict) else {}
    describer = DESCRIBERS.get(event.type)
    if describer is None:
        return _generic(event.type, data)
    try:
        return describer(data, event.actor or "system")
    except (TypeError, ValueError):  # an old event whose data had another shape
        return _generic(event.type, data)


def _entry(event: Event) -> Entry:
    kind = event.type.split(".", 1)[0]
    return Entry(event.pk, event.occurred_at, kind, describe(event), event.actor)


def timeline(lead: Lead, before: Event | None = None) -> tuple[list[Entry], bool]:
    """A page of the timeline, newest first, older than `before` if given; and whether there
    are older events still (one row more is read to know)."""
    events = Event.objects.filter(lead=lead)
    if before is not None:
        events = events.filter(
            Q(occurred_at__lt=before.occurred_at)
            | Q(occurred_at=before.occurred_at, pk__lt=before.pk)
        )
    rows = list(events.order_by("-occurred_at", "-pk")[: TIMELINE_PAGE + 1])
    return [_entry(event) for event in rows[:TIMELINE_PAGE]], len(rows) > TIMELINE_PAGE


# --- the story -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """What to do next about the lead, and why."""

    title: str
    reason: str


@dataclass
class Story:
    lead: Lead
    zone: ZoneInfo
    now: datetime
    assignment: Assignment | None
    sla_due_at: datetime | None
    consents: list[Consent]
    stage_history: list[Entry]
    open_tasks: list[Task]
    attempts: list[ContactAttempt]
    meetings: list[Meeting]
    deals: list[Deal]
    proposals: list[Proposal]
    entries: list[Entry]
    has_older: bool
    next_action: Action = field(init=False)

    def __post_init__(self) -> None:
        self.next_action = next_best_action(self)

    @property
    def drivers(self) -> list[tuple[str, str, str]]:
        """The score's reasons as the scoring admin shows them: (rule, effect, group)."""
        return [_driver(d) for d in self.lead.score_drivers or [] if isinstance(d, dict)]

    @property
    def campaign(self) -> str:
        """The source's campaign, else the one its first visit was tagged with."""
        lead = self.lead
        touch = lead.first_touch if isinstance(lead.first_touch, dict) else {}
        return (lead.source.campaign if lead.source else "") or touch.get("utm_campaign", "")

    @property
    def enrichment(self) -> list[tuple[str, object, str]]:
        """(field, value, where it came from) for each looked-up value."""
        rows = []
        for name, value in (self.lead.enrichment or {}).items():
            if isinstance(value, dict) and "value" in value:
                rows.append(
                    (name, value["value"], value.get("source") or value.get("provider", ""))
                )
            else:
                rows.append((name, value, ""))
        return rows


def _driver(driver: dict) -> tuple[str, str, str]:
    rule = str(driver.get("rule", ""))
    if "points" in driver:
        return rule, f"{driver['points']:+d} points", str(driver.get("group", ""))
    return rule, f"{driver.get('weight', 0):+.2f} log-odds", "predictive model"


def lead_story(lead: Lead, viewer: AbstractBaseUser, now: datetime | None = None) -> Story:
    now = now or timezone.now()
    deals = list(
        Deal.objects.filter(lead=lead)
        .select_related("stage", "pipeline", "owner")
        .order_by("closed_at", "-created_at")
    )
    entries, has_older = timeline(lead)
    history = Event.objects.filter(lead=lead, type="stage.changed").order_by("-occurred_at", "-pk")
    return Story(
        lead=lead,
        zone=zone_of(viewer),
        now=now,
        assignment=lead.assignments.select_related("owner").first(),
        sla_due_at=SlaTimer.objects.filter(lead=lead, status=TimerStatus.PENDING)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first(),
        consents=list(Consent.objects.filter(lead=lead).order_by("-occurred_at")),
        stage_history=[_entry(event) for event in history[:50]],
        open_tasks=list(
            Task.objects.filter(lead=lead, done_at__isnull=True).select_related("owner")
        ),
        attempts=list(ContactAttempt.objects.filter(lead=lead).select_related("by")[:50]),
        meetings=list(
            Meeting.objects.filter(lead=lead).select_related("host").order_by("-starts_at")
        ),
        deals=deals,
        proposals=list(Proposal.objects.filter(deal__lead=lead).select_related("deal")),
        entries=entries,
        has_older=has_older,
    )


# --- the next best action --------------------------------------------------------------------


def _at(story: Story, moment: datetime) -> str:
    return timezone.localtime(moment, story.zone).strftime("%H:%M")


def _when(story: Story, moment: datetime) -> str:
    local = timezone.localtime(moment, story.zone)
    if local.date() == timezone.localtime(story.now, story.zone).date():
        return f"today {local:%H:%M}"
    return f"{local:%a %d %b %H:%M}"


def _first_contact(story: Story) -> Action | None:
    lead = story.lead
    if lead.first_contact_at is not None or lead.lifecycle_stage in SETTLED:
        return None
    if story.sla_due_at is None:
        return Action(
            "Call now",
            f"No first contact yet: captured {timesince(lead.captured_at, story.now)} ago",
        )
    late = "overdue since" if story.sla_due_at < story.now else "due at"
    return Action("Call now", f"First contact {late} {_at(story, story.sla_due_at)}")


def _overdue_task(story: Story) -> Action | None:
    late = [task for task in story.open_tasks if task.due_at < story.now]
    if not late:
        return None
    task = min(late, key=lambda t: t.due_at)
    return Action(f"Do it: {task.title}", f"The task was due {_when(story, task.due_at)}")


def _proposal_viewed(story: Story) -> Action | None:
    viewed = [
        p
        for p in story.proposals
        if p.status == ProposalStatus.SENT and p.first_viewed_at is not None
    ]
    if not viewed:
        return None
    proposal = max(viewed, key=lambda p: p.first_viewed_at)
    ago = timesince(proposal.first_viewed_at, story.now)
    return Action("Call", f"They opened the proposal “{proposal.title}” {ago} ago")


def _meeting_today(story: Story) -> Action | None:
    today = timezone.localtime(story.now, story.zone).date()
    for meeting in sorted(story.meetings, key=lambda m: m.starts_at):
        local = timezone.localtime(meeting.starts_at, story.zone)
        if (
            meeting.status == MeetingStatus.BOOKED
            and local.date() == today
            and meeting.ends_at > story.now
        ):
            return Action("Prepare for the meeting", f"“{meeting.title}” at {local:%H:%M} today")
    return None


def _sql_without_deal(story: Story) -> Action | None:
    if story.lead.lifecycle_stage != LifecycleStage.SQL:
        return None
    if any(deal.closed_at is None for deal in story.deals):
        return None
    return Action("Open a deal", "Sales qualified, and no open deal yet")


def _stalled_deal(story: Story) -> Action | None:
    for deal in story.deals:
        idle = story.now - deal.last_activity_at
        if deal.closed_at is None and idle > timedelta(days=deal.pipeline.stall_days):
            return Action("Re-engage", f"The deal “{deal.title}” has been idle {idle.days} days")
    return None


def _no_show(story: Story) -> Action | None:
    latest = max(story.meetings, key=lambda m: m.starts_at, default=None)
    if latest is None or latest.status != MeetingStatus.NO_SHOW:
        return None
    return Action("Rebook", f"They missed “{latest.title}” on {_when(story, latest.starts_at)}")


def _next_task(story: Story) -> Action | None:
    task = min(story.open_tasks, key=lambda t: t.due_at, default=None)
    if task is None:
        return None
    return Action(f"Next: {task.title}", f"Due {_when(story, task.due_at)}")


# The rules in order: the first that applies is the next best action.
RULES: list[Callable[[Story], Action | None]] = [
    _first_contact,
    _overdue_task,
    _proposal_viewed,
    _meeting_today,
    _sql_without_deal,
    _stalled_deal,
    _no_show,
    _next_task,
]
NOTHING_PRESSING = Action("Nothing pressing", "No open task, no meeting, no stalled deal")


def next_best_action(story: Story) -> Action:
    for rule in RULES:
        action = rule(story)
        if action is not None:
            return action
    return NOTHING_PRESSING
