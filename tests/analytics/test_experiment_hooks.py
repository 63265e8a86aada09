"""The A/B tests seen from outside: the widget's definition endpoint and the hosted page serve
each visitor their variant, every time the same, and the submission records that version; a
workflow's email carries the recipient's variant of the subject line; once decided, everyone
gets the winner."""

import json

import pytest

from leadloop.analytics import experiments
from leadloop.analytics.models import (
    Experiment,
    ExperimentAssignment,
    ExperimentKind,
    ExperimentStatus,
    Variant,
)
from leadloop.capture.models import Submission
from leadloop.core.models import Message
from leadloop.nurture import services as nurture
from leadloop.nurture import tracking
from tests.analytics.experiment_cast import HEADLINE_A, HEADLINE_B, form_test, with_second_version
from tests.nurture.conftest import a_lead, make_workflow, path_of, settle

pytestmark = pytest.mark.django_db

VISITORS = [f"{n:032x}" for n in range(40)]
ANSWERS = {
    "email": "linus@example.com",
    "first_name": "Linus",
    "service": "regular",
    "frequency": "Monthly",
    "email_consent": True,
}
HEADLINES = {1: HEADLINE_A, 2: HEADLINE_B}


def definition_for(client, visitor: str) -> dict:
    response = client.get(f"/api/v1/forms/cleanpro-quote?visitor={visitor}")
    assert response.status_code == 200
    return response.json()


def submit(client, visitor: str, email: str = "linus@example.com"):
    body = {"answers": {**ANSWERS, "email": email}, "visitor_id": visitor}
    return client.post(
        "/api/v1/forms/cleanpro-quote/submissions",
        json.dumps(body),
        content_type="application/json",
        HTTP_ORIGIN="http://localhost:8001",
    )


def assigned_version(visitor: str) -> int:
    return ExperimentAssignment.objects.get(visitor_key=visitor).variant.form_version.number


def test_the_widget_is_served_each_visitors_variant_and_the_same_one_again(client, quote_form):
    form_test(with_second_version(quote_form))

    served = {visitor: definition_for(client, visitor) for visitor in VISITORS}

    assert ExperimentAssignment.objects.count() == len(VISITORS)
    for visitor, answer in served.items():
        number = assigned_version(visitor)
        assert answer["version"] == number
        assert answer["definition"]["title"] == HEADLINES[number]
    # Both variants get traffic (a 1 in 2^39 chance otherwise), and a second visit is sticky.
    assert {answer["version"] for answer in served.values()} == {1, 2}
    for visitor in VISITORS[:10]:
        assert definition_for(client, visitor)["version"] == served[visitor]["version"]
    assert ExperimentAssignment.objects.count() == len(VISITORS)


def test_without_a_visitor_key_or_a_running_test_the_form_serves_its_own_version(
    client, quote_form
):
    experiment = form_test(with_second_version(quote_form), running=False)

    assert client.get("/api/v1/forms/cleanpro-quote").json()["version"] == 2
    assert definition_for(client, VISITORS[0])["version"] == 2
    experiments.start(experiment)
    assert client.get("/api/v1/forms/cleanpro-quote").json()["version"] == 2
    assert ExperimentAssignment.objects.count() == 0


def test_a_form_with_no_test_on_it_costs_capture_no_query_and_a_start_applies_at_once(
    quote_form, django_assert_num_queries
):
    experiment = form_test(with_second_version(quote_form), running=False)
    experiments.form_version_to_show(quote_form.pk, VISITORS[0], False)  # what is tested, kept

    with django_assert_num_queries(0):
        assert experiments.form_version_to_show(quote_form.pk, VISITORS[0], False) is None
    experiments.start(experiment)
    assert experiments.form_version_to_show(quote_form.pk, VISITORS[0], False) is not None


def test_a_submission_records_the_version_its_visitor_was_shown(client, quote_form):
    experiment = form_test(with_second_version(quote_form))
    shown = {visitor: definition_for(client, visitor)["version"] for visitor in VISITORS}
    on_a = next(v for v in VISITORS if shown[v] == 1)
    on_b = next(v for v in VISITORS if shown[v] == 2)

    assert submit(client, on_a, "ada@example.com").status_code == 201
    assert submit(client, on_b, "bea@example.com").status_code == 201

    versions = dict(Submission.objects.values_list("visitor_key", "form_version__number"))
    assert versions == {on_a: 1, on_b: 2}
    by_key = {row.variant.key: row for row in experiments.results(experiment)}
    assert (by_key["A"].converted.count, by_key["B"].converted.count) == (1, 1)
    assert by_key["A"].assigned + by_key["B"].assigned == len(VISITORS)


def test_the_hosted_page_shows_and_records_the_visitors_variant(client, quote_form):
    form_test(with_second_version(quote_form), ExperimentKind.LANDING_PAGE)
    visitor = VISITORS[0]
    client.cookies["ll_vid"] = visitor

    html = client.get("/p/cleanpro-quote").content.decode()
    number = assigned_version(visitor)
    assert f"<h1>{HEADLINES[number]}</h1>" in html
    for _ in range(3):
        assert f"<h1>{HEADLINES[number]}</h1>" in client.get("/p/cleanpro-quote").content.decode()

    posted = {**ANSWERS, "email_consent": "1"}
    assert client.post("/p/cleanpro-quote", posted).status_code == 302
    assert Submission.objects.get().form_version.number == number
    # A landing page test leaves the widget alone.
    assert definition_for(client, VISITORS[1])["version"] == 2


def test_once_decided_every_visitor_gets_the_winner_and_nothing_new_is_recorded(client, quote_form):
    experiment = form_test(with_second_version(quote_form))
    definition_for(client, VISITORS[0])
    control = experiment.variants.get(key="A")

    experiments.declare_winner(experiment, control, by="mia")

    quote_form.refresh_from_db()
    assert quote_form.version == 3  # v1's definition again, as a new version
    assert quote_form.definition == quote_form.versions.get(number=1).definition
    for visitor in VISITORS:
        answer = definition_for(client, visitor)
        assert (answer["version"], answer["definition"]["title"]) == (3, HEADLINE_A)
    assert submit(client, VISITORS[5]).status_code == 201
    assert Submission.objects.get().form_version.number == 3
    assert ExperimentAssignment.objects.count() == 1
    experiment.refresh_from_db()
    assert (experiment.status, experiment.winner, experiment.decided_by) == (
        ExperimentStatus.DECIDED,
        control,
        "mia",
    )


def test_declaring_the_latest_version_the_winner_adds_no_version(client, quote_form):
    experiment = form_test(with_second_version(quote_form))

    experiments.declare_winner(experiment, experiment.variants.get(key="B"), by="mia")

    quote_form.refresh_from_db()
    assert (quote_form.version, quote_form.versions.count()) == (2, 2)
    assert definition_for(client, VISITORS[0])["definition"]["title"] == HEADLINE_B


# --- subject lines ---------------------------------------------------------------------------


def subject_test(workflow, *, running: bool = True) -> Experiment:
    experiment = Experiment.objects.create(
        name="Question in the subject",
        kind=ExperimentKind.EMAIL_SUBJECT,
        workflow=workflow,
        step_label="welcome",
    )
    Variant.objects.create(experiment=experiment, key="A", is_control=True)
    Variant.objects.create(
        experiment=experiment, key="B", subject="Ready for a spotless home, {{ lead.first_name }}?"
    )
    if running:
        experiments.start(experiment)
    return experiment


def welcome_workflow():
    return make_workflow(
        [
            {"do": "send_email", "label": "welcome", "subject": "Welcome", "text": "Hi"},
            {"do": "send_email", "subject": "Second", "text": "Again"},
        ]
    )


def test_a_workflow_email_carries_each_recipients_variant_of_the_subject(smtp):
    workflow = welcome_workflow()
    subject_test(workflow)
    leads = [a_lead(email=f"lead{n}@customers.example", first_name=f"L{n}") for n in range(30)]

    nurture.enroll(workflow, leads, why="by hand")
    settle()

    expected = {"A": "Welcome", "B": "Ready for a spotless home, {name}?"}
    assignments = ExperimentAssignment.objects.select_related("variant", "lead")
    assert assignments.count() == 30
    for assignment in assignments:
        message = Message.objects.get(key=assignment.message_key)
        assert message.lead_id == assignment.lead_id
        name = assignment.lead.first_name
        assert message.subject == expected[assignment.variant.key].format(name=name)
    assert {a.variant.key for a in assignments} == {"A", "B"}  # 1 in 2^29 otherwise
    # The untested step keeps its subject.
    assert Message.objects.filter(subject="Second").count() == 30


def test_an_opened_email_counts_as_its_variants_conversion(client, smtp):
    workflow = welcome_workflow()
    experiment = subject_test(workflow)
    lena = a_lead()
    nurture.enroll(workflow, [lena], why="by hand")
    settle()
    message = Message.objects.get(key=ExperimentAssignment.objects.get().message_key)

    assert client.get(path_of(tracking.open_url(message.key))).status_code == 200

    [row] = [r for r in experiments.results(experiment) if r.assigned]
    assert (row.assigned, row.converted.count) == (1, 1)


def test_a_decided_subject_test_sends_the_winner_to_everyone(smtp):
    workflow = welcome_workflow()
    experiment = subject_test(workflow)
    winner = experiment.variants.get(key="B")
    experiments.declare_winner(experiment, winner, by="mia")

    nurture.enroll(workflow, [a_lead(email=f"x{n}@customers.example") for n in range(5)], "hand")
    settle()

    welcome = Message.objects.exclude(subject="Second")
    assert set(welcome.values_list("subject", flat=True)) == {"Ready for a spotless home, Lena?"}
    assert ExperimentAssignment.objects.count() == 0
