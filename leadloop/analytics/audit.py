"""The system audit: seed 000's questions for each layer (Attract, Capture, Nurture, Convert),
answered from the system's own records over the last 30 days wherever they can be, each with
pass / warn / fail and where to fix it. The few the records cannot answer are asked of a person
and their latest answer is remembered (AuditAnswer).

Every threshold is stated beside its check. A check with nothing to judge (no leads in the
period, no open deals) says so and is "unknown" rather than a pass it did not earn."""

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, Q
from django.urls import NoReverseMatch, reverse

from leadloop.analytics.attribution import channel_of
from leadloop.analytics.models import AuditAnswer, AuditReply
from leadloop.capture.models import Form, Submission, SubmissionStatus
from leadloop.core.models import WON, CaptureState, Channel, Event, Lead, LifecycleStage, Visitor
from leadloop.crm import access
from leadloop.crm.models import BookingPage, Deal, Meeting, Pipeline, StageOutcome
from leadloop.nurture.models import StepRun, Workflow

PERIOD = timedelta(days=30)
PASS, WARN, FAIL, UNKNOWN, ASK = "pass", "warn", "fail", "unknown", "ask"
STATES = (PASS, WARN, FAIL, UNKNOWN, ASK)
LAYERS = ("Attract", "Capture", "Nurture", "Convert")
REPLY_STATE = {AuditReply.YES: PASS, AuditReply.PARTLY: WARN, AuditReply.NO: FAIL}
QUALIFIED = (
    LifecycleStage.MQL,
    LifecycleStage.SQL,
    LifecycleStage.OPPORTUNITY,
    LifecycleStage.CUSTOMER,
)


@dataclass
class Finding:
    """What the data says: the state, the figure, and the answer in words."""

    state: str
    figure: str
    answer: str


@dataclass(frozen=True)
class Question:
    key: str
    layer: str
    text: str
    fix: str  # a url name ("admin:…", "crm:…", "analytics:…")
    check: Callable[[datetime], Finding] | None = None  # None: asked of a person

    @property
    def asks_the_user(self) -> bool:
        return self.check is None


def _share(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%"


def _graded(value: float, good: float, fair: float) -> str:
    """Pass at `good` or above, warn at `fair` or above, fail below (higher is better)."""
    return PASS if value >= good else WARN if value >= fair else FAIL


def _recent_leads(now: datetime):
    return Lead.objects.filter(merged_at__isnull=True, captured_at__gte=now - PERIOD)


def _share_check(part: int, whole: int, good: float, fair: float, what: str, none: str) -> Finding:
    if not whole:
        return Finding(UNKNOWN, "", none)
    figure = _share(part, whole)
    return Finding(_graded(part / whole, good, fair), figure, f"{figure} of {what}")


# --- Attract ---------------------------------------------------------------------------------

NO_LEADS = "No leads were captured in the last 30 days."


def traffic_visible(now: datetime) -> Finding:
    """Leads whose first touch names a channel (UTM tags or an outside referrer), not direct
    or unknown. 80%+ passes, 50%+ warns: below half, the sources are mostly guesswork."""
    touches = list(_recent_leads(now).values_list("first_touch", flat=True).iterator())
    seen = sum(1 for touch in touches if touch and channel_of(touch) != Channel.DIRECT)
    return _share_check(
        seen,
        len(touches),
        0.8,
        0.5,
        f"the last 30 days' {len(touches)} leads arrived with a known source",
        NO_LEADS,
    )


def traffic_relevant(now: datetime) -> Finding:
    """Qualification rate as relevance: seed 001's target is 25-35% of leads reaching MQL; 25%+
    passes, 10%+ warns."""
    leads = _recent_leads(now).aggregate(
        total=Count("pk"), qualified=Count("pk", filter=Q(lifecycle_stage__in=QUALIFIED))
    )
    return _share_check(
        leads["qualified"],
        leads["total"],
        0.25,
        0.10,
        f"the last 30 days' {leads['total']} leads qualified as marketing-ready or further",
        NO_LEADS,
    )


# Channels that count as a source of traffic the business runs: direct and referrals come
# unasked (seed 000: "not just referrals").
UNASKED = {Channel.DIRECT, Channel.REFERRAL}
WEEKS = 4


def two_sources(now: datetime) -> Finding:
    """Channels other than direct and referral that brought leads in each of the last four
    weeks. Two or more pass, one warns, none fails."""
    weeks: dict[str, set[int]] = defaultdict(set)
    leads = _recent_leads(now).values_list("captured_at", "first_touch", "last_touch")
    if not leads.exists():
        return Finding(UNKNOWN, "", NO_LEADS)
    for captured_at, first, last in leads.iterator():
        week = (now - captured_at).days // 7
        touch = last or first
        if touch and week < WEEKS:
            weeks[channel_of(touch)].add(week)
    steady = sorted(
        Channel(c).label for c, seen in weeks.items() if len(seen) == WEEKS and c not in UNASKED
    )
    count = len(steady)
    state = PASS if count >= 2 else WARN if count == 1 else FAIL
    named = ", ".join(steady) if steady else "no channel besides direct and referrals"
    return Finding(state, str(count), f"{count} steady source(s) every week for 4 weeks: {named}")


# --- Capture ---------------------------------------------------------------------------------

LONG_FORM, TOO_LONG_FORM = 7, 10  # visible fields: up to 7 passes, up to 10 warns


def forms_short(now: datetime) -> Finding:
    """Where forms capture partial answers, the share of started forms that were finished
    (60%+ passes, 40%+ warns); otherwise the longest active form's field count."""
    counts = _recent_leads(now).aggregate(
        complete=Count("pk", filter=Q(capture_state=CaptureState.COMPLETE)),
        partial=Count("pk", filter=Q(capture_state=CaptureState.PARTIAL)),
    )
    if counts["partial"]:
        started = counts["complete"] + counts["partial"]
        figure = _share(counts["complete"], started)
        state = _graded(counts["complete"] / started, 0.6, 0.4)
        return Finding(state, figure, f"{figure} of {started} started forms were finished")
    lengths = {
        form.name: _visible_fields(form.definition) for form in Form.objects.filter(is_active=True)
    }
    if not lengths:
        return Finding(FAIL, "0", "There is no active form to capture leads with.")
    name, longest = max(lengths.items(), key=lambda item: item[1])
    state = PASS if longest <= LONG_FORM else WARN if longest <= TOO_LONG_FORM else FAIL
    return Finding(state, str(longest), f"The longest active form, {name}, asks {longest} fields")


def _visible_fields(definition: object) -> int:
    steps = definition.get("steps", []) if isinstance(definition, dict) else []
    return sum(
        1
        for step in steps
        for spec in step.get("fields", [])
        if isinstance(spec, dict) and spec.get("type") != "hidden"
    )


# A submission still "received" this long after it came is stuck, not in progress.
STUCK_AFTER = timedelta(minutes=10)


def submissions_reach_crm(now: datetime) -> Finding:
    """Submissions that became or updated a lead, against those failed or stuck; rejected ones
    (invalid data, duplicates by policy) were handled. All pass, 95%+ warns."""
    recent = Submission.objects.filter(received_at__gte=now - PERIOD)
    counts = recent.aggregate(
        reached=Count(
            "pk", filter=Q(status__in=(SubmissionStatus.ACCEPTED, SubmissionStatus.MERGED))
        ),
        stuck=Count(
            "pk",
            filter=Q(status=SubmissionStatus.FAILED)
            | Q(status=SubmissionStatus.RECEIVED, received_at__lt=now - STUCK_AFTER),
        ),
    )
    total = counts["reached"] + counts["stuck"]
    if not total:
        return Finding(UNKNOWN, "", "No form submissions in the last 30 days.")
    figure = _share(counts["reached"], total)
    if not counts["stuck"]:
        return Finding(PASS, figure, f"Yes: all {total} submissions reached the CRM")
    state = WARN if counts["reached"] / total >= 0.95 else FAIL
    return Finding(state, figure, f"{figure}: {counts['stuck']} of {total} failed or are stuck")


def conversion_rate(now: datetime) -> Finding:
    """Visitors first seen in the period who became leads: 2%+ passes, 1%+ warns (a site
    converting under 1% is a brochure). No tracked visits fails: the rate is unknown."""
    visitors = Visitor.objects.filter(first_seen_at__gte=now - PERIOD).aggregate(
        total=Count("pk"), converted=Count("pk", filter=Q(lead__isnull=False))
    )
    if not visitors["total"]:
        return Finding(FAIL, "", "Unknown: no visits were tracked (is the page snippet on?)")
    rate = visitors["converted"] / visitors["total"]
    figure = f"{100 * rate:.1f}%"
    answer = f"{figure} of {visitors['total']} visitors became leads"
    return Finding(_graded(rate, 0.02, 0.01), figure, answer)


def lead_magnet(now: datetime) -> Finding:
    """An active form that gives something for the details (a download) passes; forms that
    offer nothing but contact warn."""
    forms = Form.objects.filter(is_active=True).aggregate(
        total=Count("pk"), magnets=Count("pk", filter=~Q(download=""))
    )
    if forms["magnets"]:
        return Finding(PASS, str(forms["magnets"]), f"{forms['magnets']} form(s) offer a download")
    return Finding(WARN, "0", f"None of the {forms['total']} active forms offers a download")


# --- Nurture ---------------------------------------------------------------------------------


def _live_workflows():
    """Active workflows with a published version: what runs on its own."""
    return Workflow.objects.filter(is_active=True, versions__isnull=False).distinct()


def automatic_on_new_lead(now: datetime) -> Finding:
    """A live workflow started by a form submission passes; none fails."""
    names = [w.name for w in _live_workflows() if w.trigger.get("on") == "form_submitted"]
    if names:
        listed = ", ".join(names[:3])
        return Finding(PASS, str(len(names)), f"New leads enter {len(names)} workflow(s): {listed}")
    return Finding(FAIL, "0", "Nothing: no live workflow starts when a form is submitted")


FAST = timedelta(minutes=5)


def five_minute_follow_up(now: datetime) -> Finding:
    """Leads acknowledged or contacted within five minutes (leads younger than that are not yet
    due). 90%+ passes, 50%+ warns: the odds of reaching a lead fall steeply after five minutes."""
    leads = _recent_leads(now).filter(captured_at__lte=now - FAST)
    fast = Q(acknowledged_at__lte=F("captured_at") + FAST) | Q(
        first_contact_at__lte=F("captured_at") + FAST
    )
    counts = leads.aggregate(total=Count("pk"), fast=Count("pk", filter=fast))
    return _share_check(
        counts["fast"],
        counts["total"],
        0.9,
        0.5,
        f"the last 30 days' {counts['total']} leads heard back within five minutes",
        NO_LEADS,
    )


def email_sequences(now: datetime) -> Finding:
    """A live workflow that sends email and sent some in the period passes; one that sent
    nothing warns; none fails."""
    sending = [
        w for w in _live_workflows() if any(s.get("do") == "send_email" for s in w.published.steps)
    ]
    if not sending:
        return Finding(FAIL, "0", "No live workflow sends email")
    sent = StepRun.objects.filter(kind="send_email", at__gte=now - PERIOD).count()
    state = PASS if sent else WARN
    return Finding(state, str(sent), f"{len(sending)} sequence(s) sent {sent} emails in 30 days")


def engagement_visible(now: datetime) -> Finding:
    """Leads scored (engagement is part of the score, so hot and cold show): 90%+ passes, 50%+
    warns."""
    counts = _recent_leads(now).aggregate(
        total=Count("pk"), scored=Count("pk", filter=Q(scored_at__isnull=False))
    )
    return _share_check(
        counts["scored"],
        counts["total"],
        0.9,
        0.5,
        f"the last 30 days' {counts['total']} leads are scored on engagement",
        NO_LEADS,
    )


# --- Convert ---------------------------------------------------------------------------------


def sales_context(now: datetime) -> Finding:
    """Leads with an owner and a score, i.e. a person who knows them and what they did: 90%+
    passes, 60%+ warns."""
    counts = _recent_leads(now).aggregate(
        total=Count("pk"),
        ready=Count("pk", filter=Q(owner__isnull=False, scored_at__isnull=False)),
    )
    return _share_check(
        counts["ready"],
        counts["total"],
        0.9,
        0.6,
        f"the last 30 days' {counts['total']} leads have an owner and a score",
        NO_LEADS,
    )


def booking(now: datetime) -> Finding:
    """An active booking page with meetings booked through it in the period passes; a page
    nobody booked through warns; no page fails."""
    pages = BookingPage.objects.filter(is_active=True).count()
    if not pages:
        return Finding(FAIL, "0", "No: there is no active booking page")
    booked = Meeting.objects.filter(
        booking_page__isnull=False, created_at__gte=now - PERIOD
    ).count()
    state = PASS if booked else WARN
    return Finding(state, str(booked), f"{booked} meetings booked online in 30 days")


def pipeline_defined(now: datetime) -> Finding:
    """A pipeline with three or more open stages and a won and a lost stage passes; a thinner
    one warns; none fails."""
    best = None
    for pipeline in Pipeline.objects.annotate(
        open=Count("stages", filter=Q(stages__outcome=StageOutcome.OPEN)),
        won=Count("stages", filter=Q(stages__outcome=StageOutcome.WON)),
        lost=Count("stages", filter=Q(stages__outcome=StageOutcome.LOST)),
    ):
        complete = pipeline.open >= 3 and pipeline.won and pipeline.lost
        if complete:
            return Finding(PASS, str(pipeline.open), f"{pipeline.name}: {pipeline.open} stages")
        best = best or pipeline
    if best:
        return Finding(WARN, str(best.open), f"{best.name} has too few stages to follow a deal")
    return Finding(FAIL, "0", "No: there is no pipeline")


ENOUGH_WINS = 5


def time_to_close(now: datetime) -> Finding:
    """The median days from first contact to a deal won in the period. Knowing it is the pass
    (seed 000: "if you do not know, that is your answer"): 5+ measured wins pass, fewer warn,
    wins with no first contact recorded fail."""
    wins = Event.objects.filter(type=WON, occurred_at__gte=now - PERIOD)
    if not wins.exists():
        return Finding(UNKNOWN, "", "No deals were won in the last 30 days.")
    days = [
        (won - contacted).total_seconds() / 86400
        for won, contacted in wins.filter(lead__first_contact_at__isnull=False).values_list(
            "occurred_at", "lead__first_contact_at"
        )
    ]
    if not days:
        return Finding(FAIL, "", "Unknown: first contacts are not recorded on the won leads")
    median = statistics.median(days)
    state = PASS if len(days) >= ENOUGH_WINS else WARN
    return Finding(state, f"{median:.0f} days", f"Median {median:.0f} days over {len(days)} wins")


def stalled_deals(now: datetime) -> Finding:
    """Open deals idle past their pipeline's stall days: 10% or fewer pass, 25% or fewer warn."""
    open_deals = Deal.objects.filter(stage__outcome=StageOutcome.OPEN)
    counts = Counter(
        now - activity > timedelta(days=stall)
        for activity, stall in open_deals.values_list("last_activity_at", "pipeline__stall_days")
    )
    total = counts[True] + counts[False]
    if not total:
        return Finding(UNKNOWN, "", "There are no open deals.")
    figure = _share(counts[True], total)
    state = _graded(1 - counts[True] / total, 0.9, 0.75)
    return Finding(state, figure, f"{figure} of {total} open deals have stalled")


QUESTIONS = (
    Question("traffic_visible", "Attract", "Where is your traffic coming from? Can you see this data in your analytics?", "analytics:attribution", traffic_visible),
    Question("traffic_relevant", "Attract", "Is your traffic relevant? Are visitors matching your ideal customer profile?", "admin:scoring_scoringrule_changelist", traffic_relevant),
    Question("two_sources", "Attract", "Do you have at least two consistent traffic sources (not just referrals)?", "analytics:attribution", two_sources),
    Question("predictable_traffic", "Attract", "Can you increase traffic predictably by investing more in a channel?", "analytics:spend"),
    Question("calls_to_action", "Capture", "Does every key page on your website have a clear call to action?", "admin:capture_form_changelist"),
    Question("forms_short", "Capture", "Are your forms short enough that people actually complete them?", "admin:capture_form_changelist", forms_short),
    Question("submissions_reach_crm", "Capture", "Do form submissions go directly into your CRM or another central system?", "admin:capture_submission_changelist", submissions_reach_crm),
    Question("conversion_rate", "Capture", "What is your website's conversion rate?", "admin:capture_form_changelist", conversion_rate),
    Question("lead_magnet", "Capture", "Do you offer visitors a reason to share their information beyond \"contact us\"?", "admin:capture_form_changelist", lead_magnet),
    Question("automatic_on_new_lead", "Nurture", "What happens automatically when a new lead enters your system?", "admin:nurture_workflow_changelist", automatic_on_new_lead),
    Question("five_minute_follow_up", "Nurture", "Do leads receive any follow-up within the first five minutes?", "admin:routing_assignmentrule_changelist", five_minute_follow_up),
    Question("email_sequences", "Nurture", "Do you have email sequences that run without manual intervention?", "admin:nurture_workflow_changelist", email_sequences),
    Question("engagement_visible", "Nurture", "Can you see which leads are engaged and which have gone cold?", "admin:scoring_scoringrule_changelist", engagement_visible),
    Question("personalised_follow_up", "Nurture", "Is your follow-up personalised based on what the lead expressed interest in?", "admin:nurture_workflow_changelist"),
    Question("sales_context", "Convert", "Does your sales team have context about the lead before they make contact?", "admin:routing_assignmentrule_changelist", sales_context),
    Question("booking", "Convert", "Can leads book appointments directly from your website or emails?", "admin:crm_bookingpage_changelist", booking),
    Question("pipeline_defined", "Convert", "Do you have a defined pipeline with clear stages from lead to customer?", "admin:crm_pipeline_changelist", pipeline_defined),
    Question("time_to_close", "Convert", "What is your average time from first contact to closed deal?", "crm:deals", time_to_close),
    Question("stalled_deals", "Convert", "Is there a process for re-engaging leads who stalled?", "crm:stalled", stalled_deals),
)  # fmt: skip
BY_KEY = {question.key: question for question in QUESTIONS}


# --- the audit -------------------------------------------------------------------------------


@dataclass
class Item:
    question: Question
    state: str
    figure: str
    answer: str
    fix_url: str
    latest: AuditAnswer | None = None  # a person's answer, for the questions asked of them


@dataclass
class Layer:
    name: str
    items: list[Item]

    @property
    def score(self) -> float | None:
        """Pass 1, warn 1/2, fail 0, averaged over the judged questions."""
        points = {PASS: 1.0, WARN: 0.5, FAIL: 0.0}
        judged = [points[i.state] for i in self.items if i.state in points]
        return sum(judged) / len(judged) if judged else None


@dataclass
class Audit:
    layers: list[Layer]
    as_of: datetime
    counts: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.counts = Counter(item.state for layer in self.layers for item in layer.items)

    @property
    def weakest(self) -> Layer | None:
        """The layer where the system is breaking: the lowest score (the earlier layer on a
        tie, as seed 000 fixes capture before nurture before convert before attract)."""
        scored = [layer for layer in self.layers if layer.score is not None]
        fix_order = ("Capture", "Nurture", "Convert", "Attract")
        ranked = sorted(scored, key=lambda layer: (layer.score, fix_order.index(layer.name)))
        return ranked[0] if ranked and ranked[0].score < 1 else None


def fix_url(name: str) -> str:
    """The page where the question is fixed, or "" when that page is not installed."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


def latest_answers() -> dict[str, AuditAnswer]:
    """Each asked question's latest answer, in one query."""
    latest: dict[str, AuditAnswer] = {}
    asked = [q.key for q in QUESTIONS if q.asks_the_user]
    for answer in AuditAnswer.objects.filter(question__in=asked).select_related("answered_by"):
        latest.setdefault(answer.question, answer)  # newest first (the model's ordering)
    return latest


def item_for(question: Question, now: datetime, answers: dict[str, AuditAnswer]) -> Item:
    url = fix_url(question.fix)
    if question.check is not None:
        found = question.check(now)
        return Item(question, found.state, found.figure, found.answer, url)
    latest = answers.get(question.key)
    if latest is None:
        return Item(question, ASK, "", "Not answered yet: the data cannot tell, you can.", url)
    answer = latest.get_reply_display() + (f": {latest.note}" if latest.note else "")
    return Item(question, REPLY_STATE[latest.reply], "", answer, url, latest)


def run(now: datetime) -> Audit:
    """Every question answered, layer by layer, as of `now`."""
    answers = latest_answers()
    layers = [
        Layer(name, [item_for(q, now, answers) for q in QUESTIONS if q.layer == name])
        for name in LAYERS
    ]
    return Audit(layers, now)


def may_answer(user: AbstractBaseUser) -> bool:
    """Admins, marketers and sales managers answer for the business; a rep reads the audit."""
    return access.role_of(user) in (access.Role.ADMIN, access.Role.MARKETER, access.Role.MANAGER)


def answer(
    question_key: str, reply: str, note: str, user: AbstractBaseUser, now: datetime
) -> AuditAnswer:
    """Remember a person's answer to a question the data cannot answer; ValueError otherwise."""
    question = BY_KEY.get(question_key)
    if question is None or not question.asks_the_user:
        raise ValueError("That question is answered from the data, not asked.")
    if reply not in AuditReply.values:
        raise ValueError("Answer yes, partly or no.")
    return AuditAnswer.objects.create(
        question=question.key,
        reply=reply,
        note=note.strip()[:2000],
        answered_by=user,
        answered_at=now,
    )
