"""The ready-made workflows: every one reads (trigger, steps, goal, the templates it names, the
copy as Django templates), installs as an inactive draft with its email templates, is never
installed twice by accident, and once published walks a real lead."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.template import Template

from leadloop.core.conditions import parse_condition
from leadloop.core.models import Lead, Message, Task
from leadloop.nurture import definitions, engine, library, personalise, services
from leadloop.nurture.models import EmailTemplate, Workflow

READY = list(library.READY_MADE.values())


@pytest.mark.parametrize("ready", READY, ids=lambda r: r.key)
def test_every_ready_made_workflow_passes_the_checks_a_save_would(ready):
    definitions.parse_trigger(ready.trigger)
    definitions.parse_steps(ready.steps)
    if ready.goal is not None:
        parse_condition(ready.goal)
    library.check(ready)


@pytest.mark.parametrize("ready", READY, ids=lambda r: r.key)
def test_every_message_renders_for_a_lead_with_a_name_and_for_one_without(ready):
    texts = [t.subject for t in ready.templates] + [t.text for t in ready.templates]
    texts += [s.get("text", "") + s.get("title", "") for s in ready.steps]
    lead = Lead(first_name="Maya", custom_fields={"booking_url": "https://book.example/maya"})
    for text in texts:
        Template(text)  # reads as a Django template
        named = personalise.render(text, personalise.context_of(lead))
        anonymous = personalise.render(text, personalise.context_of(Lead()))
        assert "{{" not in named and "{%" not in named
        assert "Hi ," not in anonymous and "Hi ," not in named
    booked = [t for t in texts if "booking_url" in t]
    for text in booked:
        assert "https://book.example/maya" in personalise.render(text, personalise.context_of(lead))
        assert "https://cleanpro.example/book" in personalise.render(
            text, personalise.context_of(Lead())
        )


def test_the_library_holds_the_seven_workflows_the_seeds_describe():
    assert set(library.READY_MADE) == {
        "instant-confirmation",
        "demo-request",
        "webinar-attendee",
        "follow-up-sequence",
        "cleanpro-quote",
        "stalled-deal",
        "proposal-follow-up",
    }
    quote = library.READY_MADE["cleanpro-quote"]
    kinds = [step["do"] for step in quote.steps]
    assert kinds[:2] == ["send_email", "create_task"] and "send_sms" in kinds
    assert kinds.count("send_email") == 4  # the confirmation, then three over two weeks
    waits = [step for step in quote.steps if step["do"] == "wait"]
    assert sum(w.get("days", 0) for w in waits) <= 14


@pytest.mark.django_db
def test_install_makes_an_inactive_draft_with_its_templates():
    workflow, templates = library.install("cleanpro-quote")

    assert workflow.name == "CleanPro quote follow-up"
    assert not workflow.is_active and not workflow.versions.exists()
    assert workflow.steps == library.CLEANPRO_QUOTE.steps
    assert {t.slug for t in templates} == {t.slug for t in library.CLEANPRO_QUOTE.templates}
    workflow.full_clean()


@pytest.mark.django_db
def test_installing_twice_is_refused_and_a_copy_is_numbered_with_no_new_templates():
    library.install("follow-up-sequence")

    with pytest.raises(library.AlreadyInstalled, match="already exists"):
        library.install("follow-up-sequence")
    copy, templates = library.install("follow-up-sequence", copy=True)
    third, _ = library.install("follow-up-sequence", copy=True)

    assert copy.name.endswith("(2)") and third.name.endswith("(3)")
    assert templates == []
    assert EmailTemplate.objects.filter(slug__startswith="ready-").count() == 4


@pytest.mark.django_db
def test_an_edited_template_is_kept_when_another_workflow_installs():
    EmailTemplate.objects.create(
        slug="ready-quote-confirmation", name="Mine", subject="Edited", text="Edited"
    )

    library.install("cleanpro-quote")

    assert EmailTemplate.objects.get(slug="ready-quote-confirmation").subject == "Edited"


@pytest.mark.django_db
def test_the_command_lists_and_installs_and_never_duplicates():
    out = StringIO()
    call_command("nurture", "templates", "list", stdout=out)
    assert "cleanpro-quote" in out.getvalue() and "not installed" in out.getvalue()

    call_command("nurture", "templates", "install", "--all", stdout=StringIO())
    again = StringIO()
    call_command("nurture", "templates", "install", "--all", stdout=again)

    assert Workflow.objects.count() == len(library.READY_MADE)
    assert again.getvalue().count("already installed") == len(library.READY_MADE)
    with pytest.raises(CommandError, match="already exists"):
        call_command("nurture", "templates", "install", "cleanpro-quote", stdout=StringIO())
    with pytest.raises(CommandError, match="No ready-made workflow"):
        call_command("nurture", "templates", "install", "nope", stdout=StringIO())
    with pytest.raises(CommandError, match="Name one"):
        call_command("nurture", "templates", "install", stdout=StringIO())


@pytest.mark.django_db
def test_the_cleanpro_quote_flow_once_published_confirms_and_makes_the_call_task():
    workflow, _ = library.install("cleanpro-quote")
    services.publish(workflow)
    lead = Lead.objects.create(first_name="Dana", email="dana@offices.example")
    services.enroll(workflow, [lead])

    engine.run_due()

    confirmation = Message.objects.get(lead=lead, kind="nurture")
    assert confirmation.subject == "Your cleaning quote: we will call you within two hours"
    assert "Hi Dana" in confirmation.body and "cleanpro.example/book" in confirmation.body
    assert confirmation.origin == f"workflow:{workflow.pk}:v1:step0"
    assert Task.objects.get(lead=lead).title == "Call Dana about their cleaning quote"
