"""The A/B tests' cast, shared by their test files: CleanPro's quote form with a second
version (a shorter headline and another button), and a test of the two."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from leadloop.analytics import experiments
from leadloop.analytics.models import Experiment, ExperimentKind, Variant
from leadloop.capture.models import Form

HEADLINE_A = "Get your free cleaning quote"
HEADLINE_B = "Your quote in 30 seconds"


def with_second_version(form: Form) -> Form:
    """v1 as imported (the control), v2 with the new headline: the form's current version."""
    form.definition = {**form.definition, "title": HEADLINE_B}
    form.save()
    return form


def form_test(form: Form, kind: str = ExperimentKind.FORM, *, running: bool = True, **fields):
    """A test of v1 (A, the control) against v2 (B), evenly weighted."""
    experiment = Experiment.objects.create(name="Shorter headline", kind=kind, form=form, **fields)
    for key, number in (("A", 1), ("B", 2)):
        Variant.objects.create(
            experiment=experiment,
            key=key,
            is_control=key == "A",
            form_version=form.versions.get(number=number),
        )
    if running:
        experiments.start(experiment)
    return experiment


def person(username: str, role: str):
    """A user in one of the workspace's roles (admin, marketer, manager, rep)."""
    user = get_user_model().objects.create_user(username, f"{username}@team.example", "pw")
    user.groups.add(Group.objects.get(name=role))
    return user
