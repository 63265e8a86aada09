"""A marketing email to a lead, as every nurture email is written: personalised (text and
HTML), every link tracked, an open pixel, the unsubscribe link in the text and the RFC 2369 /
RFC 8058 headers, queued in the core outbox under its key (so a retried step or a resumed
broadcast never queues it twice). Workflow steps and broadcasts both send through here."""

from leadloop.core import outbox
from leadloop.core.models import Lead, Message, MessageChannel
from leadloop.nurture import personalise, tracking


def queue_marketing_email(
    lead: Lead, subject: str, text: str, html: str, *, kind: str, origin: str, key: str
) -> Message:
    """Write the email to `lead.email` in the caller's transaction (the outbox's gate still
    withholds it from a person who unsubscribed, refused or bounced)."""
    unsubscribe = tracking.unsubscribe_url(lead.pk, key)
    context = personalise.context_of(lead, unsubscribe_url=unsubscribe)
    html_body = personalise.render(html, context, html=True) if html else ""
    text_body = personalise.render(text, context)
    if not html_body:
        html_body = personalise.render("{{ body|linebreaks }}", {"body": text_body}, html=True)
    if unsubscribe not in text_body:
        text_body += f"\n\nUnsubscribe: {unsubscribe}"
    return outbox.queue(
        lead,
        MessageChannel.EMAIL,
        lead.email,
        text_body,
        kind=kind,
        to_lead=True,
        marketing=True,
        subject=personalise.render(subject, context),
        html=tracking.tracked_html(html_body, key, unsubscribe),
        headers=tracking.unsubscribe_headers(unsubscribe),
        origin=origin,
        key=key,
    )
