"""Opens, clicks and unsubscribes made as a recipient makes them: by requesting the links found
in the email the SMTP server received. A branch follows what the lead did; an unsubscribe
ends every workflow, is kept as a refusal, and stops marketing (not transactional) email."""

from datetime import timedelta

import pytest
from django.test import Client

from leadloop.compliance.models import Consent, Suppression
from leadloop.core import outbox
from leadloop.core.models import Event, Message, MessageChannel, MessageStatus
from leadloop.nurture import services
from leadloop.nurture.models import Enrollment, EnrollmentStatus
from tests.mail_server import text_of
from tests.nurture.conftest import (
    a_lead,
    click_links_of,
    make_workflow,
    message_ids,
    path_of,
    pixel_of,
    settle,
    unsubscribe_link_of,
)

pytestmark = pytest.mark.django_db

GUIDE = "https://cleanpro.example/guide?size=large&room=2"
PRICES = "https://cleanpro.example/prices"
FIRST_EMAIL = {
    "do": "send_email",
    "subject": "Your guide",
    "text": "See {{ lead.first_name }}'s guide",
    "html": f'<p>The <a href="{GUIDE.replace("&", "&amp;")}">guide</a> and '
    f'<a href="{PRICES}">prices</a></p>',
}


def branch_workflow(condition: dict):
    return make_workflow(
        [
            FIRST_EMAIL,
            {"do": "wait", "days": 2},
            {"do": "branch", "if": condition, "then": "yes", "else": "no"},
            {"label": "yes", "do": "tag", "add": ["yes"], "next": "end"},
            {"label": "no", "do": "tag", "add": ["no"]},
            {"label": "end", "do": "exit", "reason": "done"},
        ]
    )


def tags(lead) -> set[str]:
    return set(lead.tags.values_list("tag", flat=True))


def email_to(smtp, address: str):
    [email] = smtp.to(address)
    return email


def test_opening_the_email_sends_the_opener_down_the_yes_branch(clock, smtp, client):
    workflow = branch_workflow({"event": "email.opened", "within_days": 3})
    ann, bob = a_lead(email="ann@customers.example"), a_lead(email="bob@customers.example")
    services.enroll(workflow, [ann, bob])
    settle()

    pixel = client.get(path_of(pixel_of(email_to(smtp, "ann@customers.example"))))
    assert pixel.status_code == 200 and pixel["Content-Type"] == "image/gif"
    clock.shift(timedelta(days=2))
    settle()

    assert tags(ann) == {"yes"} and tags(bob) == {"no"}
    opened = Message.objects.get(to="ann@customers.example")
    assert opened.opened_at is not None and opened.clicked_at is None
    assert Message.objects.get(to="bob@customers.example").opened_at is None
    event = Event.objects.get(type="email.opened")
    assert event.lead == ann and event.data["key"] == opened.key
    assert event.data["origin"].startswith(f"workflow:{workflow.pk}:v1:step0")


def test_clicking_a_link_redirects_to_it_and_branches_on_that_link(clock, smtp, client):
    workflow = branch_workflow({"event": "email.clicked", "where": {"url": PRICES}})
    ann, bob = a_lead(email="ann@customers.example"), a_lead(email="bob@customers.example")
    services.enroll(workflow, [ann, bob])
    settle()

    email = email_to(smtp, "ann@customers.example")
    _, prices = click_links_of(email)
    html = text_of(email, "html")
    assert GUIDE.replace("&", "&amp;") not in html and PRICES not in html
    went = client.get(path_of(prices))
    assert went.status_code == 302 and went["Location"] == PRICES
    bob_guide, _ = click_links_of(email_to(smtp, "bob@customers.example"))
    went = client.get(path_of(bob_guide))
    assert went.status_code == 302 and went["Location"] == GUIDE  # &amp; read as &
    clock.shift(timedelta(days=2))
    settle()

    assert tags(ann) == {"yes"} and tags(bob) == {"no"}
    clicks = Event.objects.filter(type="email.clicked").order_by("pk")
    assert [(e.lead.email, e.data["url"]) for e in clicks] == [
        ("ann@customers.example", PRICES),
        ("bob@customers.example", GUIDE),
    ]
    clicked = Message.objects.get(to="ann@customers.example")
    assert clicked.clicked_at is not None and clicked.opened_at is not None  # a click opens


def test_a_click_link_with_an_altered_target_is_refused(clock, smtp, client):
    services.enroll(branch_workflow({"event": "email.opened"}), [a_lead()])
    settle()
    [link, _] = click_links_of(smtp.messages[0])
    token = path_of(link).removeprefix("/n/c/")

    assert client.get(f"/n/c/{token[:-3]}xyz").status_code == 404
    assert client.get("/n/c/not-a-token").status_code == 404
    assert not Event.objects.filter(type="email.clicked").exists()


# --- unsubscribing -------------------------------------------------------------------------

DRIP = [
    {"do": "send_email", "subject": "One", "text": "1"},
    {"do": "wait", "days": 1},
    {"do": "send_email", "subject": "Two", "text": "2"},
]


def test_the_unsubscribe_page_shown_by_get_changes_nothing(clock, smtp, client):
    lena = a_lead()
    services.enroll(make_workflow(DRIP), [lena])
    settle()

    page = client.get(path_of(unsubscribe_link_of(smtp.messages[0])))

    assert page.status_code == 200 and b"lena@customers.example" in page.content
    assert not Consent.objects.exists() and not Suppression.objects.exists()
    settle()
    assert Enrollment.objects.get().status == EnrollmentStatus.ACTIVE


def test_a_one_click_unsubscribe_ends_every_workflow_and_stops_marketing_email(clock, smtp):
    lena = a_lead()
    first, second = make_workflow(DRIP, name="Drip"), make_workflow(DRIP, name="Offers")
    services.enroll(first, [lena])
    services.enroll(second, [lena])
    settle()
    assert len(smtp.messages) == 2

    # As a mail client does it (RFC 8058): a POST with no session and no CSRF token.
    mail_client = Client(enforce_csrf_checks=True)
    done = mail_client.post(
        path_of(unsubscribe_link_of(smtp.messages[0])),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert done.status_code == 200
    settle()

    enrollments = Enrollment.objects.all()
    assert {(e.status, e.exit_reason) for e in enrollments} == {
        (EnrollmentStatus.EXITED, "unsubscribed")
    }
    refusal = Consent.objects.get(lead=lena)
    assert (refusal.channel, refusal.granted) == ("email", False)
    suppression = Suppression.objects.get()
    assert (suppression.address, suppression.reason) == ("lena@customers.example", "unsubscribed")

    # Later: a marketing email never reaches the server; a transactional one does.
    later = make_workflow([{"do": "send_email", "subject": "Sale", "text": "50% off"}])
    services.enroll(later, [lena], why="by hand")
    settle()
    offer = Message.objects.get(subject="Sale")
    assert offer.status == MessageStatus.SUPPRESSED
    receipt = outbox.queue(
        lena,
        MessageChannel.EMAIL,
        lena.email,
        "We got your request.",
        kind="acknowledgement",
        to_lead=True,
        marketing=False,
        subject="Received",
    )
    settle()
    receipt.refresh_from_db()
    assert receipt.status == MessageStatus.SENT
    assert [m["Subject"] for m in smtp.messages] == ["One", "One", "Received"]
    assert offer.key not in message_ids(smtp)


def test_a_forged_or_altered_unsubscribe_token_is_not_found(clock, smtp, client):
    lena = a_lead()
    services.enroll(make_workflow(DRIP), [lena])
    settle()
    link = path_of(unsubscribe_link_of(smtp.messages[0]))
    payload, stamp, signature = link.removeprefix("/n/u/").split(":")

    other = "B" if signature.endswith("A") else "A"
    altered = f"/n/u/{payload}:{stamp}:{signature[:-1]}{other}"
    forged = "/n/u/eyJsIjoxLCJrIjoibnVydHVyZS0xLTAifQ:1vx04G:forged"

    for url in (altered, forged):
        assert (
            client.post(
                url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
            ).status_code
            == 404
        )
        assert client.get(url).status_code == 404
    assert not Consent.objects.exists() and not Suppression.objects.exists()
