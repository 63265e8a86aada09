"""The ready-made workflows, as data: the follow-ups the seeds describe, written for CleanPro (the
demo's commercial cleaning company) so they read as real mail, and installed as draft, inactive
workflows a marketer edits (names, links, timings) before publishing and activating.

Messages personalise with `{{ lead.first_name }}`, `{{ lead.<custom field> }}` and
`{{ owner.name }}`. A booking link reads `{{ lead.booking_url|default:"…" }}`: the lead's
`booking_url` custom field when something has set it (the booking page to come, issue 7, sets
it), else the fixed address in the copy. Every address under cleanpro.example is a
placeholder to replace. A proposal's link reads `{{ lead.proposal_url }}`: the lead's
`proposal_url` custom field, set when a proposal is sent (crm/proposals.py).

`install(name)` creates the workflow and any email templates it uses that do not exist yet
(an existing template of the same slug is kept as it is: it may have been edited). A workflow
of the same name is refused (AlreadyInstalled) unless `copy=True`, which installs it again under
a numbered name."""

from dataclasses import dataclass, field

from django.db import transaction

from leadloop.nurture.definitions import parse_steps, parse_trigger
from leadloop.nurture.models import EmailTemplate, Reentry, Workflow

BOOKING = '{{ lead.booking_url|default:"https://cleanpro.example/book" }}'
SIGNATURE = '{{ owner.name|default:"The CleanPro team" }}\nCleanPro Commercial Cleaning'


@dataclass(frozen=True)
class Template:
    slug: str
    name: str
    subject: str
    text: str


@dataclass(frozen=True)
class ReadyMade:
    """A workflow as it will be installed, with the email templates its steps name."""

    name: str
    key: str
    description: str
    trigger: dict
    steps: list[dict]
    goal: dict | None = None
    reentry: str = Reentry.NEVER
    exit_on_sales_conversation: bool = True
    templates: list[Template] = field(default_factory=list)


class AlreadyInstalled(ValueError):
    pass


def _email(template: Template, **step) -> dict:
    return {"do": "send_email", "template": template.slug, **step}


# --- 1. The instant confirmation --------------------------------------------------------------

CONFIRMATION = Template(
    slug="ready-instant-confirmation",
    name="Instant confirmation",
    subject="We have your request, {{ lead.first_name|default:'there' }}",
    text="""Hi {{ lead.first_name|default:"there" }},

Thank you for getting in touch with CleanPro. Your request has reached us and a member of our
team is already looking at it.

What happens next: we will call you within two hours on working days to talk through what you
need. If that time does not suit you, pick one that does: """
    + BOOKING
    + """

Speak soon,
"""
    + SIGNATURE,
)

INSTANT_CONFIRMATION = ReadyMade(
    name="Instant confirmation",
    key="instant-confirmation",
    description=(
        "One email within seconds of any form: we have your request, here is what happens next. "
        "Routing already sends a short acknowledgement; use one or the other."
    ),
    trigger={"on": "form_submitted", "form": ""},
    steps=[_email(CONFIRMATION)],
    reentry=Reentry.AFTER_FINISHING,
    templates=[CONFIRMATION],
)

# --- 2. Seed 003: the demo request ------------------------------------------------------------

DEMO_CONFIRMATION = Template(
    slug="ready-demo-confirmation",
    name="Demo request: confirmation",
    subject="Your CleanPro walkthrough: what happens next",
    text="""Hi {{ lead.first_name|default:"there" }},

Thanks for asking for a walkthrough. {{ owner.name|default:"One of our account managers" }}
will call you today to find a time to see your site and hear how it is used: opening hours,
high-traffic areas, anything that has gone wrong with cleaners before.

The visit takes about 30 minutes and you get a written quote within a day of it.

Prefer to choose the time yourself? """
    + BOOKING
    + """

"""
    + SIGNATURE,
)
DEMO_GUIDE = Template(
    slug="ready-demo-evaluation-guide",
    name="Demo request: how to compare cleaning companies",
    subject="Five questions to ask any commercial cleaner (including us)",
    text="""Hi {{ lead.first_name|default:"there" }},

While we find a time for your walkthrough, here are the five questions our best customers say
they wish they had asked their previous cleaner:

1. Who exactly will be in my building, and are they vetted and insured?
2. What is on the checklist for each visit, and can I see it signed off?
3. What happens when a cleaner is off sick?
4. How quickly do you fix a complaint, and who do I call?
5. Is the price fixed, or will extras appear on the invoice?

Our answers are in our implementation notes: https://cleanpro.example/how-we-work

"""
    + SIGNATURE,
)
DEMO_QUESTIONS = Template(
    slug="ready-demo-common-questions",
    name="Demo request: common questions",
    subject="Still thinking it over, {{ lead.first_name|default:'there' }}?",
    text="""Hi {{ lead.first_name|default:"there" }},

Most people who ask us for a walkthrough have the same three questions before they commit:

- Can you start quickly? Usually within a week of the quote being accepted.
- Am I locked in? No: our contracts run month to month after the first three months.
- What if we are not happy? Tell us within 24 hours and we re-clean the area free of charge.

If the timing is not right, reply and tell us when to check back. If it is, book your
walkthrough here: """
    + BOOKING
    + """

"""
    + SIGNATURE,
)

DEMO_REQUEST = ReadyMade(
    name="Demo request follow-up",
    key="demo-request",
    description=(
        "Seed 003's demo request path: an immediate confirmation, a task for the owner, material "
        "that helps the lead evaluate fit, and a nudge to the owner if the lead revisits pricing. "
        "Triggered by the form with slug demo-request; change it to your form."
    ),
    trigger={"on": "form_submitted", "form": "demo-request"},
    steps=[
        _email(DEMO_CONFIRMATION),
        {
            "do": "create_task",
            "title": "Demo request: call {{ lead.first_name|default:lead.email }} and book the walkthrough",
            "due_in": {"hours": 1},
        },
        {"do": "wait", "days": 2},
        _email(DEMO_GUIDE),
        {"do": "wait", "days": 2},
        {
            "do": "branch",
            "if": {"event": "page.viewed", "where": {"path": "/pricing"}, "within_days": 4},
            "then": "escalate",
            "else": "questions",
        },
        {
            "label": "escalate",
            "do": "notify_owner",
            "text": (
                "{{ lead.first_name|default:lead.email }} {{ lead.last_name }} asked for a walkthrough four days ago "
                "and has just looked at the pricing page again. A call today is well timed."
            ),
        },
        {"do": "adjust_score", "points": 10, "why": "revisited pricing after a demo request"},
        {"label": "questions", "do": "send_email", "template": DEMO_QUESTIONS.slug},
    ],
    goal={"fact": "lifecycle_stage", "op": "in", "value": ["opportunity", "customer"]},
    templates=[DEMO_CONFIRMATION, DEMO_GUIDE, DEMO_QUESTIONS],
)

# --- 3. Seed 003: the webinar attendee, four touches ------------------------------------------

WEBINAR_RECAP = Template(
    slug="ready-webinar-recap",
    name="Webinar: recap and recording",
    subject="The recording, as promised",
    text="""Hi {{ lead.first_name|default:"there" }},

Thank you for joining our webinar. Here is the recording, with the slides underneath it:
https://cleanpro.example/webinars/recording

The three points worth keeping if you only have a minute:
- Most complaints about office cleaning come from five places: kitchens, washrooms, desks,
  entrances and bins. A checklist that names them fixes most of them.
- Cleaning that happens when nobody sees it needs a record that somebody can see.
- Cheaper per hour is not cheaper per month if visits are missed.

"""
    + SIGNATURE,
)
WEBINAR_CHECKLIST = Template(
    slug="ready-webinar-checklist",
    name="Webinar: the checklist",
    subject="A one-page cleaning checklist for your building",
    text="""Hi {{ lead.first_name|default:"there" }},

Several people at the webinar asked for the checklist we use on every visit. Here it is, ready
to print or to hand to whoever cleans for you today:
https://cleanpro.example/guides/office-cleaning-checklist

It takes ten minutes to walk your building with it. Most people find two or three things that
have quietly stopped being done.

"""
    + SIGNATURE,
)
WEBINAR_USE_CASE = Template(
    slug="ready-webinar-use-case",
    name="Webinar: a use case",
    subject="How a 40-person office cut cleaning complaints to zero",
    text="""Hi {{ lead.first_name|default:"there" }},

Harbour Accountants had changed cleaners twice in a year. The work was fine on some days and
missed on others, and nobody could say which.

We agreed a checklist per room, a signed record after each visit and one named person to call.
In the first three months complaints went from several a week to none, and the cost stayed
within a few pounds of what they paid before.

The full story, with the checklist they use: https://cleanpro.example/case-studies/harbour

"""
    + SIGNATURE,
)
WEBINAR_INVITE = Template(
    slug="ready-webinar-office-hours",
    name="Webinar: office hours invitation",
    subject="Got a question about your building? Ask us on Thursday",
    text="""Hi {{ lead.first_name|default:"there" }},

Every Thursday at 4 pm we hold a 30-minute open session for facilities and office managers. No
slides and no sales pitch: bring a question about your building and we will answer it.

Save a place: https://cleanpro.example/office-hours

Or, if it is easier, just reply to this email with your question. A person reads every reply.

"""
    + SIGNATURE,
)

WEBINAR_ATTENDEE = ReadyMade(
    name="Webinar attendee: four touches",
    key="webinar-attendee",
    description=(
        "Seed 003's education path for someone who attended a webinar but asked no buying "
        "question: the recording, a related checklist, a use case, then a low-friction "
        "invitation. Leaves when the lead asks for a demo or a quote."
    ),
    trigger={"on": "event", "event": "webinar.attended"},
    steps=[
        _email(WEBINAR_RECAP),
        {"do": "wait", "days": 3},
        _email(WEBINAR_CHECKLIST),
        {"do": "wait", "days": 4},
        _email(WEBINAR_USE_CASE),
        {"do": "wait", "days": 5},
        _email(WEBINAR_INVITE),
    ],
    goal={
        "any": [
            {"event": "form.submitted", "where": {"kind": "demo_request"}, "within_days": 30},
            {"event": "form.submitted", "where": {"kind": "quote_request"}, "within_days": 30},
        ]
    },
    templates=[WEBINAR_RECAP, WEBINAR_CHECKLIST, WEBINAR_USE_CASE, WEBINAR_INVITE],
)

# --- 4. Seed 002: thank you, resource, case study, rep outreach -------------------------------

THANKS = Template(
    slug="ready-thank-you",
    name="Follow-up: thank you",
    subject="Thank you, {{ lead.first_name|default:'and welcome' }}",
    text="""Hi {{ lead.first_name|default:"there" }},

Thank you for your interest in CleanPro. We clean offices, clinics, shops and warehouses, and
we keep the same team on your building so they learn it.

Over the next week we will send you a couple of things our customers found useful before they
chose a cleaner. No spam, and you can unsubscribe from any of them with one click.

"""
    + SIGNATURE,
)
RESOURCE = Template(
    slug="ready-resource",
    name="Follow-up: a helpful resource",
    subject="What should commercial cleaning cost? Our pricing guide",
    text="""Hi {{ lead.first_name|default:"there" }},

The question we hear most is "what should this cost?", so we wrote down how we price, line by
line, with typical figures for offices from 1,000 to 20,000 square feet:
https://cleanpro.example/guides/pricing

It also lists the extras that often appear on other companies' invoices, so you can compare
quotes like for like.

"""
    + SIGNATURE,
)
CASE_STUDY = Template(
    slug="ready-case-study",
    name="Follow-up: case study",
    subject="How Northgate Dental moved cleaners without a single missed day",
    text="""Hi {{ lead.first_name|default:"there" }},

Changing cleaners feels risky, so here is how it went for Northgate Dental, a three-surgery
practice with strict infection-control rules.

We walked the building with their practice manager, wrote a room-by-room plan, and ran the
first week alongside the outgoing company. Since then every visit has been signed off in
writing, and their last inspection noted the cleaning record as exemplary.

Read the case study: https://cleanpro.example/case-studies/northgate

"""
    + SIGNATURE,
)
REP_OUTREACH = Template(
    slug="ready-rep-outreach",
    name="Follow-up: personal note from the rep",
    subject="Quick question, {{ lead.first_name|default:'there' }}",
    text="""Hi {{ lead.first_name|default:"there" }},

I look after new customers in your area and wanted to check in personally. Is there anything I
can answer about cleaning for your building?

If it is useful, I can come by for 20 minutes, look at the space and give you a fixed price.
Pick a time here: """
    + BOOKING
    + """

Or simply reply to this email.

"""
    + SIGNATURE,
)

FOLLOW_UP = ReadyMade(
    name="Thank you, resource, case study, rep outreach",
    key="follow-up-sequence",
    description=(
        "Seed 002's sequence after a form: a thank-you at once, a helpful resource after 24 "
        "hours, a case study on day 3 and a personal note and call from the rep after a week."
    ),
    trigger={"on": "form_submitted", "form": ""},
    steps=[
        _email(THANKS),
        {"do": "wait", "hours": 24},
        _email(RESOURCE),
        {"do": "wait", "days": 2},
        _email(CASE_STUDY),
        {"do": "wait", "days": 4},
        _email(REP_OUTREACH),
        {
            "do": "create_task",
            "title": "Call {{ lead.first_name|default:lead.email }}: a week in nurture, personal follow-up",
            "due_in": {"days": 1},
        },
    ],
    goal={"fact": "lifecycle_stage", "op": "in", "value": ["opportunity", "customer"]},
    templates=[THANKS, RESOURCE, CASE_STUDY, REP_OUTREACH],
)

# --- 5. Seed 000: CleanPro's quote ------------------------------------------------------------

QUOTE_CONFIRMATION = Template(
    slug="ready-quote-confirmation",
    name="CleanPro quote: confirmation",
    subject="Your cleaning quote: we will call you within two hours",
    text="""Hi {{ lead.first_name|default:"there" }},

Thanks for asking CleanPro for a quote. We have everything you sent us and we will call you
within two hours (working days, 8 am to 6 pm) to go through it and agree a price.

If you would rather pick the time, book it here: """
    + BOOKING
    + """

Talk soon,
"""
    + SIGNATURE,
)
QUOTE_CASE_STUDY = Template(
    slug="ready-quote-case-study",
    name="CleanPro quote: case study",
    subject="What cleaning looks like for an office like yours",
    text="""Hi {{ lead.first_name|default:"there" }},

While your quote is with us, here is what we do for a 5,000 square foot office much like many
we look after: a team of two, five evenings a week, kitchens and washrooms every visit, desks
and floors on a rota, and a monthly deep clean of carpets and windows.

The client, a 60-person software company, tells the story in their own words:
https://cleanpro.example/case-studies/offices

"""
    + SIGNATURE,
)
QUOTE_PRICING = Template(
    slug="ready-quote-pricing-guide",
    name="CleanPro quote: pricing transparency guide",
    subject="How we price, with nothing hidden",
    text="""Hi {{ lead.first_name|default:"there" }},

A quote is only useful if you know what is in it. Our pricing guide shows every line we charge
for, how square footage and frequency change it, and what is always included (supplies,
insurance, cover for holidays and sickness):
https://cleanpro.example/guides/pricing

If anything in your quote is not clear, reply and I will explain it.

"""
    + SIGNATURE,
)
QUOTE_TESTIMONIAL = Template(
    slug="ready-quote-testimonial",
    name="CleanPro quote: testimonial video",
    subject="Two minutes with one of our customers",
    text="""Hi {{ lead.first_name|default:"there" }},

We could tell you we are reliable. It is better coming from Maria, who manages a medical centre
we have cleaned for four years: https://cleanpro.example/videos/maria

When you are ready to go ahead, or if you would like us to look at the space first, book a
time here: """
    + BOOKING
    + """

"""
    + SIGNATURE,
)

CLEANPRO_QUOTE = ReadyMade(
    name="CleanPro quote follow-up",
    key="cleanpro-quote",
    description=(
        "Seed 000's CleanPro flow: a confirmation within seconds ('we will call you within two "
        "hours'), a call task for the owner, an SMS with a booking link when the call went "
        "unanswered, then three emails over two weeks (case study, pricing guide, testimonial "
        "video). Leaves as soon as the rep reaches the lead. Triggered by the cleanpro-quote form."
    ),
    trigger={"on": "form_submitted", "form": "cleanpro-quote"},
    steps=[
        _email(QUOTE_CONFIRMATION),
        {
            "do": "create_task",
            "title": "Call {{ lead.first_name|default:lead.email }} about their cleaning quote",
            "due_in": {"hours": 2},
        },
        {"do": "wait", "hours": 3},
        {
            "do": "branch",
            "if": {
                "any": [
                    {
                        "event": "contact.attempted",
                        "where": {"outcome": "no_answer"},
                        "within_days": 1,
                    },
                    {
                        "event": "contact.attempted",
                        "where": {"outcome": "voicemail"},
                        "within_days": 1,
                    },
                ]
            },
            "then": "no-answer",
            "else": "emails",
        },
        {
            "label": "no-answer",
            "do": "send_sms",
            "text": (
                "Hi {{ lead.first_name|default:'there' }}, it's {{ owner.name|default:'the team' }} "
                "at CleanPro. "
                "We tried to reach you about your cleaning quote. Here is a link to book a time "
                "that works for you: " + BOOKING + " Reply STOP to opt out."
            ),
        },
        {"label": "emails", "do": "wait", "days": 2},
        _email(QUOTE_CASE_STUDY),
        {"do": "wait", "days": 4},
        _email(QUOTE_PRICING),
        {"do": "wait", "days": 7},
        _email(QUOTE_TESTIMONIAL),
    ],
    goal={"fact": "lifecycle_stage", "op": "in", "value": ["opportunity", "customer"]},
    templates=[QUOTE_CONFIRMATION, QUOTE_CASE_STUDY, QUOTE_PRICING, QUOTE_TESTIMONIAL],
)

# --- 6. Stalled-deal re-engagement ------------------------------------------------------------

STALLED_CHECK_IN = Template(
    slug="ready-stalled-check-in",
    name="Stalled deal: check-in",
    subject="Is cleaning still on your list, {{ lead.first_name|default:'there' }}?",
    text="""Hi {{ lead.first_name|default:"there" }},

We spoke a few weeks ago about cleaning for your building and I have not wanted to chase you.
Things change, so a quick question: is this still something you are looking at?

If it is, I can hold the price we discussed and start within a week. If the timing has moved,
tell me when to get back in touch and I will.

"""
    + SIGNATURE,
)
STALLED_LAST = Template(
    slug="ready-stalled-last-note",
    name="Stalled deal: last note",
    subject="Should I close your file?",
    text="""Hi {{ lead.first_name|default:"there" }},

I have not heard back, which usually means now is not the right time, and that is fine. Unless
I hear from you I will close your quote this week so we stop filling your inbox.

If you would still like to go ahead, or just want the numbers updated, reply to this email or
book a call: """
    + BOOKING
    + """

Thank you for considering CleanPro.

"""
    + SIGNATURE,
)

STALLED_DEAL = ReadyMade(
    name="Stalled deal re-engagement",
    key="stalled-deal",
    description=(
        "For leads in a sales conversation (SQL or opportunity) with no activity for three "
        "weeks: a check-in, a call task for the owner, a last note; then tagged "
        "stalled-no-response. Other inactive leads leave at once ('not in a deal'). Leaves "
        "when the lead replies, is reached or becomes a customer."
    ),
    trigger={"on": "inactive", "days": 21},
    steps=[
        {
            "do": "branch",
            "if": {"fact": "lifecycle_stage", "op": "in", "value": ["sql", "opportunity"]},
            "else": "not-in-a-deal",
        },
        _email(STALLED_CHECK_IN),
        {"do": "wait", "days": 3},
        {
            "do": "create_task",
            "title": "Stalled deal: call {{ lead.first_name|default:lead.email }} (no activity for three weeks)",
            "due_in": {"days": 1},
        },
        {"do": "wait", "days": 4},
        _email(STALLED_LAST),
        {"do": "wait", "days": 7},
        {"do": "tag", "add": ["stalled-no-response"]},
        {"do": "exit", "reason": "no response"},
        {"label": "not-in-a-deal", "do": "exit", "reason": "not in a deal"},
    ],
    goal={
        "any": [
            {"event": "contact.attempted", "where": {"outcome": "reached"}, "within_days": 7},
            {"fact": "lifecycle_stage", "op": "equals", "value": "customer"},
        ]
    },
    # These leads are in a sales conversation by definition: that must not end the run.
    exit_on_sales_conversation=False,
    templates=[STALLED_CHECK_IN, STALLED_LAST],
)

# --- 7. Seed 000: the proposal not signed within three days ----------------------------------

PROPOSAL_NUDGE = Template(
    slug="ready-proposal-follow-up",
    name="Proposal: any questions?",
    subject="Any questions about your proposal, {{ lead.first_name|default:'there' }}?",
    text="""Hi {{ lead.first_name|default:"there" }},

A few days ago we sent you our proposal and I wanted to make sure it reached you and made
sense. If anything is unclear, or you would like a line changed, reply to this email and I
will sort it out.
{% if lead.proposal_url %}
You can read it again, and accept it when you are ready, here: {{ lead.proposal_url }}
{% else %}
When you are ready, you can accept it from the link in our earlier email.
{% endif %}
"""
    + SIGNATURE,
)

PROPOSAL_FOLLOW_UP = ReadyMade(
    name="Proposal follow-up",
    key="proposal-follow-up",
    description=(
        "Seed 000's 'if the proposal is not signed within three days, the system sends a gentle "
        "follow-up': started by a sent proposal, it waits up to three days for the acceptance; "
        "if none came (and the proposal was not declined or withdrawn) it emails the lead, "
        "with the proposal's link, and gives the owner a call task. One run per lead at a time: "
        "a second proposal sent while the first is being followed up shares its run."
    ),
    trigger={"on": "event", "event": "proposal.sent"},
    steps=[
        {
            "do": "wait_for",
            "event": "proposal.accepted",
            "timeout": {"days": 3},
            "next": "accepted",
        },
        {
            "do": "branch",
            # Four days: a decline right after sending is still seen by a run a little late.
            "if": {
                "any": [
                    {"event": "proposal.declined", "within_days": 4},
                    {"event": "proposal.withdrawn", "within_days": 4},
                ]
            },
            "then": "closed",
            "else": "follow-up",
        },
        {"label": "accepted", "do": "exit", "reason": "proposal accepted"},
        {"label": "closed", "do": "exit", "reason": "proposal declined or withdrawn"},
        _email(PROPOSAL_NUDGE, label="follow-up"),
        {
            "do": "create_task",
            "title": "Call {{ lead.first_name|default:lead.email }}: proposal not accepted after three days",
            "due_in": {"hours": 4},
        },
    ],
    reentry=Reentry.AFTER_FINISHING,
    # A lead with a proposal is in a sales conversation by definition: that must not end the run.
    exit_on_sales_conversation=False,
    templates=[PROPOSAL_NUDGE],
)

READY_MADE: dict[str, ReadyMade] = {
    w.key: w
    for w in (
        INSTANT_CONFIRMATION,
        DEMO_REQUEST,
        WEBINAR_ATTENDEE,
        FOLLOW_UP,
        CLEANPRO_QUOTE,
        STALLED_DEAL,
        PROPOSAL_FOLLOW_UP,
    )
}


def check(ready: ReadyMade) -> None:
    """Raise if the workflow would not be accepted (its trigger, steps or templates)."""
    parse_trigger(ready.trigger)
    parse_steps(ready.steps)
    named = {step["template"] for step in ready.steps if step.get("template")}
    missing = named - {t.slug for t in ready.templates}
    if missing:
        raise ValueError(f"{ready.key}: no template {', '.join(sorted(missing))}")


def installed_name(ready: ReadyMade, copy: bool) -> str:
    if not Workflow.objects.filter(name=ready.name).exists():
        return ready.name
    if not copy:
        raise AlreadyInstalled(
            f"A workflow named {ready.name!r} already exists. Edit that one, rename it, or "
            "install a copy."
        )
    number = 2
    while Workflow.objects.filter(name=f"{ready.name} ({number})").exists():
        number += 1
    return f"{ready.name} ({number})"


def install(key: str, *, copy: bool = False) -> tuple[Workflow, list[EmailTemplate]]:
    """Install a ready-made workflow as a draft, inactive workflow (unpublished). Returns it
    and the email templates that were created (existing ones are kept as they are)."""
    ready = READY_MADE.get(key)
    if ready is None:
        raise KeyError(f"No ready-made workflow {key!r}; there are: {', '.join(READY_MADE)}.")
    check(ready)
    with transaction.atomic():
        created = []
        for template in ready.templates:
            made, new = EmailTemplate.objects.get_or_create(
                slug=template.slug,
                defaults={
                    "name": template.name,
                    "subject": template.subject,
                    "text": template.text,
                },
            )
            if new:
                created.append(made)
        workflow = Workflow.objects.create(
            name=installed_name(ready, copy),
            description=ready.description,
            trigger=ready.trigger,
            steps=ready.steps,
            goal=ready.goal,
            reentry=ready.reentry,
            exit_on_sales_conversation=ready.exit_on_sales_conversation,
            is_active=False,
        )
    return workflow, created
