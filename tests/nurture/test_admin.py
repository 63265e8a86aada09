"""The workflow editor and the nurture admin, driven through Django's test client as a signed-in
admin: steps edited row by row come back as valid JSON, a bad step is shown on its row (never a
500), and the publish, activate and move actions do what their buttons say."""

import json
import re

import pytest

from leadloop.core.models import Lead
from leadloop.nurture import definitions, library, services
from leadloop.nurture.models import (
    EmailTemplate,
    Enrollment,
    EnrollmentStatus,
    Segment,
    Workflow,
    WorkflowVersion,
)

pytestmark = pytest.mark.django_db

ADD = "/admin/nurture/workflow/add/"


def change_url(workflow: Workflow) -> str:
    return f"/admin/nurture/workflow/{workflow.pk}/change/"


def row(kind: str = "", **fields) -> dict:
    return {"kind": kind, **fields}


def post_data(rows: list[dict], *, name="Quote follow-up", trigger=None, initial=0, **extra):
    """What the browser posts: the settings, the trigger's fields and one group per row."""
    data = {
        "name": name,
        "description": "",
        "goal": "",
        "exit_on_sales_conversation": "on",
        "reentry": "never",
        "steps-TOTAL_FORMS": str(len(rows)),
        "steps-INITIAL_FORMS": str(initial),
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        **{
            f"t_{k}" if k != "on" else "trigger_on": v
            for k, v in (trigger or {"on": "form_submitted"}).items()
        },
        **extra,
    }
    for i, fields in enumerate(rows):
        data[f"steps-{i}-ORDER"] = str(i + 1)
        for key, value in fields.items():
            data[f"steps-{i}-{key}"] = value
    return data


def page_data(response) -> dict:
    """The form as the page rendered it, as a browser would post it back unchanged."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value if isinstance(value, str) else field.widget.format_value(value)
    formset = response.context["steps"]
    for key, value in formset.management_form.initial.items():
        data[f"steps-{key}"] = str(value)
    for form in formset:
        for name in form.fields:
            value = form[name].value()
            if value not in (None, "", False):
                data[form.add_prefix(name)] = str(value)
    return {k: ("" if v is None else v) for k, v in data.items()}


def meaningful(step: dict) -> dict:
    """A step without the keys that say nothing (an empty list of tags to remove)."""
    return {key: value for key, value in step.items() if value not in ([], {}, "")}


def errors_on(response) -> str:
    return " | ".join(re.findall(r"<li>(Step [^<]+)</li>", response.content.decode()))


def test_steps_filled_in_row_by_row_are_saved_as_the_json_the_engine_walks(admin_client):
    EmailTemplate.objects.create(name="Thanks", slug="thanks", subject="Thanks", text="Hi")
    rows = [
        row("send_email", template="thanks"),
        row("create_task", title="Call {{ lead.first_name }}", hours="2"),
        row("wait", hours="3"),
        row(
            "branch",
            condition='{"event": "contact.attempted", "where": {"outcome": "no_answer"}}',
            then="sms",
            else_="case",
        ),
        row("send_sms", label="sms", text="Hi {{ lead.first_name }}, book: https://x.example"),
        row("send_email", label="case", subject="A case study", text="Read it", days="9"),
        row("tag", add="quoted, cleanpro", next="sms"),
        row(),  # the empty row at the end is not a step
    ]

    response = admin_client.post(
        ADD, post_data(rows, trigger={"on": "form_submitted", "form": "cleanpro-quote"})
    )

    assert response.status_code == 302, errors_on(response)
    workflow = Workflow.objects.get()
    assert workflow.trigger == {"on": "form_submitted", "form": "cleanpro-quote"}
    assert workflow.steps == [
        {"do": "send_email", "template": "thanks"},
        {"do": "create_task", "title": "Call {{ lead.first_name }}", "due_in": {"hours": 2}},
        {"do": "wait", "hours": 3},
        {
            "do": "branch",
            "if": {"event": "contact.attempted", "where": {"outcome": "no_answer"}},
            "then": "sms",
            "else": "case",
        },
        {
            "label": "sms",
            "do": "send_sms",
            "text": "Hi {{ lead.first_name }}, book: https://x.example",
        },
        {"label": "case", "do": "send_email", "subject": "A case study", "text": "Read it"},
        {"do": "tag", "add": ["quoted", "cleanpro"], "remove": [], "next": "sms"},
    ]
    definitions.parse_steps(workflow.steps)
    assert not workflow.is_active and not workflow.versions.exists()


@pytest.mark.parametrize("key", list(library.READY_MADE))
def test_every_ready_made_workflow_comes_back_unchanged_through_the_editor(admin_client, key):
    workflow, _ = library.install(key)
    page = admin_client.get(change_url(workflow))
    assert page.status_code == 200

    response = admin_client.post(change_url(workflow), page_data(page))

    assert response.status_code == 302, errors_on(response)
    workflow.refresh_from_db()
    ready = library.READY_MADE[key]
    assert workflow.trigger == ready.trigger
    assert [meaningful(step) for step in workflow.steps] == [meaningful(s) for s in ready.steps]
    definitions.parse_steps(workflow.steps)
    assert workflow.goal == ready.goal


def test_order_and_remove_boxes_reorder_and_drop_steps(admin_client):
    workflow = Workflow.objects.create(
        name="Three",
        trigger={"on": "form_submitted", "form": ""},
        steps=[
            {"do": "send_sms", "text": "one"},
            {"do": "send_sms", "text": "two"},
            {"do": "send_sms", "text": "three"},
        ],
    )
    data = page_data(admin_client.get(change_url(workflow)))
    data.update({"steps-0-ORDER": "3", "steps-2-ORDER": "1", "steps-1-DELETE": "on"})

    response = admin_client.post(change_url(workflow), data)

    assert response.status_code == 302, errors_on(response)
    workflow.refresh_from_db()
    assert [step["text"] for step in workflow.steps] == ["three", "one"]


def test_a_bad_step_is_shown_on_its_row_and_nothing_is_saved(admin_client):
    rows = [
        row("send_email", subject="No text"),
        row("send_sms", text=""),
        row("branch", condition="{not json", then="nowhere"),
        row("wait_for", event="email.clicked", where="[1]"),
    ]

    response = admin_client.post(ADD, post_data(rows))

    assert response.status_code == 200
    page = response.content.decode()
    assert "A step needs fixing" in page
    assert "Step 3, condition: This is not valid JSON" in page
    assert "No step is labelled nowhere" in page
    assert "Step 4, where (json)" in page.lower() or "Write a JSON object" in page
    assert not Workflow.objects.exists()


def test_pydantic_errors_land_on_the_step_and_field_they_concern(admin_client):
    rows = [row("send_email", subject="No text"), row("send_sms", text=""), row("set_stage")]

    response = admin_client.post(ADD, post_data(rows))

    assert response.status_code == 200
    errors = errors_on(response)
    assert "Step 1: send_email needs a template, or a subject and a text" in errors
    assert "Step 2, text:" in errors
    assert "Step 3, stage:" in errors
    assert not Workflow.objects.exists()


def test_two_steps_with_one_label_are_refused(admin_client):
    rows = [row("send_sms", label="a", text="x"), row("send_sms", label="a", text="y")]

    response = admin_client.post(ADD, post_data(rows))

    assert "Step 2, label: Another step is already labelled &#x27;a&#x27;" in errors_on(response)


def test_a_trigger_missing_its_field_is_shown_on_that_field(admin_client):
    response = admin_client.post(
        ADD, post_data([row("send_sms", text="x")], trigger={"on": "event"})
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "t_event" in form.errors
    assert not Workflow.objects.exists()


@pytest.fixture
def quote(db) -> Workflow:
    workflow, _ = library.install("cleanpro-quote")
    return workflow


def test_publish_makes_a_version_and_says_its_number(admin_client, quote):
    response = admin_client.post(f"/admin/nurture/workflow/{quote.pk}/publish/", follow=True)

    assert WorkflowVersion.objects.get(workflow=quote).number == 1
    assert "as version 1" in response.content.decode()
    admin_client.post(f"/admin/nurture/workflow/{quote.pk}/publish/")
    assert quote.published.number == 2
    assert admin_client.get(f"/admin/nurture/workflow/{quote.pk}/publish/").status_code == 405


def test_a_draft_that_does_not_read_is_not_published(admin_client, quote):
    Workflow.objects.filter(pk=quote.pk).update(steps=[{"do": "send_sms"}])

    response = admin_client.post(f"/admin/nurture/workflow/{quote.pk}/publish/", follow=True)

    assert "was not published" in response.content.decode()
    assert not quote.versions.exists()


def test_activate_needs_a_published_version_then_works_and_deactivate_undoes_it(
    admin_client, quote
):
    url = f"/admin/nurture/workflow/{quote.pk}/activate/"

    response = admin_client.post(url, {"on": "1"}, follow=True)
    assert "publish it before activating it" in response.content.decode()
    quote.refresh_from_db()
    assert not quote.is_active

    services.publish(quote)
    admin_client.post(url, {"on": "1"})
    quote.refresh_from_db()
    assert quote.is_active
    assert "Deactivate" in admin_client.get(change_url(quote)).content.decode()

    admin_client.post(url, {"off": "1"})
    quote.refresh_from_db()
    assert not quote.is_active


def test_changelist_actions_publish_and_activate_the_selected(admin_client, quote):
    changelist = "/admin/nurture/workflow/"
    admin_client.post(changelist, {"action": "publish_selected", "_selected_action": [quote.pk]})
    admin_client.post(changelist, {"action": "activate", "_selected_action": [quote.pk]})

    quote.refresh_from_db()
    assert quote.is_active and quote.published.number == 1


def test_moving_enrolled_leads_asks_first_then_moves_them(admin_client, quote):
    v1 = services.publish(quote)
    near = Lead.objects.create(email="near@example.com")
    far = Lead.objects.create(email="far@example.com")
    Enrollment.objects.create(workflow=quote, version=v1, lead=near, position=2)
    Enrollment.objects.create(workflow=quote, version=v1, lead=far, position=9)
    quote.steps = quote.steps[:3]
    quote.save()
    v2 = services.publish(quote)
    selection = {"action": "move_to_latest", "_selected_action": [quote.pk]}

    asked = admin_client.post("/admin/nurture/workflow/", selection)

    assert asked.status_code == 200
    assert "1 lead(s) move to version 2, 1 leave" in asked.content.decode()
    assert Enrollment.objects.filter(version=v1).count() == 2

    done = admin_client.post(
        "/admin/nurture/workflow/", {**selection, "confirm": "on"}, follow=True
    )

    assert "1 lead(s) moved to version 2, 1 left" in done.content.decode()
    assert Enrollment.objects.get(lead=near).version == v2
    gone = Enrollment.objects.get(lead=far)
    assert (gone.status, gone.exit_reason) == (EnrollmentStatus.EXITED, "step removed")


def test_the_json_view_shows_the_workflow_and_saves_a_valid_edit_only(admin_client, quote):
    url = f"/admin/nurture/workflow/{quote.pk}/json/"
    shown = admin_client.get(url)
    assert shown.status_code == 200 and "cleanpro-quote" in shown.content.decode()

    bad = admin_client.post(url, {"workflow_json": json.dumps({"steps": [{"do": "fly"}]})})
    assert bad.status_code == 200 and "Not saved" in bad.content.decode()
    broken = admin_client.post(url, {"workflow_json": "{oops"})
    assert "not valid JSON" in broken.content.decode()

    steps = [{"do": "send_sms", "text": "Only this"}]
    saved = admin_client.post(url, {"workflow_json": json.dumps({"steps": steps})})
    assert saved.status_code == 302
    quote.refresh_from_db()
    assert quote.steps == steps


def test_the_report_page_shows_the_figures(admin_client, quote):
    version = services.publish(quote)
    Enrollment.objects.create(
        workflow=quote,
        version=version,
        lead=Lead.objects.create(email="g@example.com"),
        status=EnrollmentStatus.EXITED,
        exit_reason="goal",
    )

    response = admin_client.get(f"/admin/nurture/workflow/{quote.pk}/report/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Version 1" in page and "email: ready-quote-confirmation" in page
    assert response.context["report"]["exited_by_reason"] == {"goal": 1}
    assert (
        f"/admin/nurture/workflow/{quote.pk}/report/"
        in admin_client.get(change_url(quote)).content.decode()
    )


def test_a_ready_made_workflow_is_installed_from_the_admin_once(admin_client):
    page = admin_client.get("/admin/nurture/workflow/install/")
    assert page.status_code == 200 and "CleanPro quote follow-up" in page.content.decode()

    first = admin_client.post("/admin/nurture/workflow/install/", {"key": "stalled-deal"})
    again = admin_client.post(
        "/admin/nurture/workflow/install/", {"key": "stalled-deal"}, follow=True
    )

    assert first.status_code == 302
    assert "already exists" in again.content.decode()
    assert Workflow.objects.filter(name__startswith="Stalled deal").count() == 1
    admin_client.post("/admin/nurture/workflow/install/", {"key": "stalled-deal", "copy": "1"})
    assert Workflow.objects.filter(name="Stalled deal re-engagement (2)").exists()


def test_the_engine_records_have_read_only_pages_with_filters(admin_client, quote):
    version = services.publish(quote)
    lead = Lead.objects.create(email="r@example.com")
    Enrollment.objects.create(workflow=quote, version=version, lead=lead)
    for url in (
        "/admin/nurture/workflowversion/",
        f"/admin/nurture/workflowversion/{version.pk}/change/",
        "/admin/nurture/enrollment/?status__exact=active",
        f"/admin/nurture/enrollment/?workflow__id__exact={quote.pk}&exit_reason=goal",
        "/admin/nurture/steprun/",
        "/admin/nurture/segment/",
        "/admin/nurture/segmentmember/",
        "/admin/nurture/workflow/",
        "/admin/nurture/workflow/add/",
    ):
        assert admin_client.get(url).status_code == 200, url
    assert admin_client.get("/admin/nurture/enrollment/add/").status_code == 403


def test_an_email_template_previews_for_a_sample_lead(admin_client):
    template = EmailTemplate.objects.create(
        name="Hi",
        slug="hi",
        subject="Hi {{ lead.first_name }}",
        text="{{ lead.square_feet }} sq ft",
    )
    broken = EmailTemplate.objects.create(
        name="Broken", slug="broken", subject="x", text="{% if %}"
    )

    page = admin_client.get(f"/admin/nurture/emailtemplate/{template.pk}/change/").content.decode()
    assert "Hi Sam" in page and "5000 sq ft" in page
    bad = admin_client.get(f"/admin/nurture/emailtemplate/{broken.pk}/change/")
    assert bad.status_code == 200 and "does not read" in bad.content.decode()


def test_a_segment_is_edited_in_the_admin(admin_client):
    response = admin_client.post(
        "/admin/nurture/segment/add/",
        {
            "name": "Big offices",
            "slug": "big-offices",
            "condition": '{"fact": "score", "op": "gte", "value": 50}',
            "created_at_0": "2026-03-02",
            "created_at_1": "10:00:00",
        },
    )
    assert response.status_code == 302
    assert Segment.objects.get().condition["value"] == 50
