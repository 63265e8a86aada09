"""The messages of speed to lead: the acknowledgement to the lead, the new-lead notice to its
owner (email, and a signed webhook usable with Slack-style incoming hooks), the SLA alert to a
manager. Each is a core.Message written with its cause; the outbox sends it (at most once)."""

from datetime import datetime

from django.conf import settings
from django.template import Context, Template

from leadloop.core import outbox
from leadloop.core.models import Lead, MessageChannel
from leadloop.routing.models import Assignment, NoticeKind, RoutingSettings, SlaTimer

PAGES_SHOWN = 10


def acknowledge(lead: Lead, promise: str) -> None:
    """Thank the lead and say what happens next: by email if it left an address, and by SMS
    if it left a phone (the outbox sends an SMS only with the person's SMS consent)."""
    chosen = RoutingSettings.current()
    if not chosen.acknowledge:
        return
    owner = lead.owner
    context = {
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "business_name": chosen.business_name,
        "promise": promise,
        "owner_name": (owner.get_full_name() or owner.get_username()) if owner else "",
    }
    if lead.email:
        body, subject = render(chosen.ack_body, context), render(chosen.ack_subject, context)
        _email(lead, NoticeKind.ACKNOWLEDGEMENT, lead.email, subject, body)
    if lead.phone and chosen.ack_sms:
        text = render(chosen.ack_sms, context)
        outbox.queue(
            lead,
            MessageChannel.SMS,
            lead.phone,
            text,
            kind=NoticeKind.ACKNOWLEDGEMENT,
            to_lead=True,
        )


def render(template: str, context: dict) -> str:
    """Plain text: nothing is HTML-escaped here (the HTML part escapes the result whole)."""
    return Template(template).render(Context(context, autoescape=False)).strip()


def new_lead(lead: Lead, assignment: Assignment, sla_due: datetime) -> None:
    """Tell the owner, with the lead's story so far, by email and on their webhooks."""
    owner = assignment.owner
    story = lead_story(lead)
    subject = f"New lead: {_name(lead)} (first contact due by {sla_due:%H:%M} UTC)"
    text = f"{subject}\n\n{story}\nWhy you: {assignment.why}\n{_link(lead)}"
    if owner.email:
        _email(lead, NoticeKind.NEW_LEAD, owner.email, subject, text)
    rep = getattr(owner, "rep", None)
    hooks = {getattr(rep, "webhook_url", ""), getattr(assignment.team, "webhook_url", "")}
    summary = {"owner": owner.get_username(), "sla_due_at": sla_due.isoformat()}
    for url in sorted(hook for hook in hooks if hook):
        _webhook(lead, NoticeKind.NEW_LEAD, url, text, summary)


def returned(lead: Lead) -> None:
    """A lead that already has an owner came back (a new form, a new request): tell them."""
    owner = lead.owner
    if owner.email:
        subject = f"{_name(lead)} came back"
        _email(lead, NoticeKind.RETURNED, owner.email, subject, f"{subject}\n\n{lead_story(lead)}")


def sla_missed(lead: Lead, timer: SlaTimer, manager, minutes: int) -> None:
    subject = f"SLA missed: {_name(lead)} has waited {minutes} min for {timer.owner.get_username()}"
    text = f"{subject}\n\n{lead_story(lead)}\n{_link(lead)}"
    if manager.email:
        _email(lead, NoticeKind.SLA_MISSED, manager.email, subject, text)
    team = timer.assignment.team
    if team and team.webhook_url:
        _webhook(lead, NoticeKind.SLA_MISSED, team.webhook_url, text, {"minutes": minutes})


def lead_story(lead: Lead) -> str:
    """Who, from where, what they answered, why they scored, what they looked at."""
    touch = lead.first_touch or {}
    lines = [
        f"Lead: {_name(lead)} <{lead.email}> {lead.phone}".rstrip(),
        f"Source: {lead.source.name} ({lead.source.channel})" if lead.source_id else "Source: -",
        "Campaign: "
        + " / ".join(str(touch.get(k)) for k in ("utm_source", "utm_campaign") if touch.get(k)),
        f"Score: {lead.score} (fit {lead.score_fit}, engagement {lead.score_engagement}, "
        f"intent {lead.score_intent})",
    ]
    lines += [f"  {d['rule']}: {d.get('points', d.get('weight'))}" for d in lead.score_drivers]
    lines += ["Answers:", *(f"  {k}: {v}" for k, v in lead.custom_fields.items())]
    lines += ["Pages viewed:", *(f"  {page}" for page in _pages(lead))]
    return "\n".join(lines) + "\n"


def _pages(lead: Lead) -> list[str]:
    views = lead.events.filter(type="page.viewed").order_by("-occurred_at")[:PAGES_SHOWN]
    return [str(view.data.get("path") or view.data.get("url") or "") for view in views]


def _name(lead: Lead) -> str:
    return f"{lead.first_name} {lead.last_name}".strip() or lead.email or lead.phone


def _link(lead: Lead) -> str:
    return f"{settings.SITE_URL}/admin/core/lead/{lead.pk}/change/"


def _email(lead: Lead, kind: str, to: str, subject: str, text: str) -> None:
    to_lead = kind == NoticeKind.ACKNOWLEDGEMENT
    outbox.queue(lead, MessageChannel.EMAIL, to, text, kind=kind, to_lead=to_lead, subject=subject)


def _webhook(lead: Lead, kind: str, url: str, text: str, extra: dict) -> None:
    payload = {"text": text, "kind": kind, "lead": {"id": lead.pk, "url": _link(lead), **extra}}
    outbox.queue(lead, MessageChannel.WEBHOOK, url, text, kind=kind, to_lead=False, payload=payload)
