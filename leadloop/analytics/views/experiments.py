"""The A/B test pages: the list of tests with their leading variant, and one test's results
(rates with their intervals, the comparison with the control, warnings) where admins and
marketers start, stop and decide it; its table also as CSV. Tests are made in the back office
(an experiment with its variants inline)."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, re_path
from django.views.decorators.http import require_POST

from leadloop.analytics import experiments
from leadloop.analytics.models import Experiment
from leadloop.analytics.views.common import may_change_settings, measure, wants_csv
from leadloop.crm.views.export import csv_response


@measure
def experiment_list(request: HttpRequest) -> HttpResponse:
    reports = [experiments.report(e) for e in experiments.experiments_listed()]
    context = {"reports": reports, "may_change": may_change_settings(request.user)}
    return render(request, "analytics/experiments/list.html", context)


class WinnerForm(forms.Form):
    variant = forms.ModelChoiceField(queryset=None, empty_label=None)

    def __init__(self, *args, experiment: Experiment, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["variant"].queryset = experiment.variants.all()


@measure
def experiment_page(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(experiments.experiments_listed(), pk=pk)
    report = experiments.report(experiment)
    if wants_csv(request):
        return _export(report)
    context = {
        "report": report,
        "experiment": experiment,
        "may_change": may_change_settings(request.user),
        "winner_form": WinnerForm(experiment=experiment),
        "people": "Recipients" if experiment.tests_email else "Visitors",
        "converted": "Opened" if experiment.tests_email else "Leads",
    }
    return render(request, "analytics/experiments/page.html", context)


@require_POST
@measure
def change_experiment(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    """Start, stop or decide: admins and marketers only; a refused change is said why."""
    if not may_change_settings(request.user):
        raise PermissionDenied("Only admins and marketers change experiments.")
    experiment = get_object_or_404(Experiment, pk=pk)
    try:
        if verb == "winner":
            form = WinnerForm(request.POST, experiment=experiment)
            if not form.is_valid():
                raise experiments.ExperimentError("Choose one of this test's variants.")
            winner = form.cleaned_data["variant"]
            experiments.declare_winner(experiment, winner, by=request.user.get_username())
            messages.success(request, f"Variant {winner.key} won: everyone gets it from now on.")
        elif verb == "start":
            experiments.start(experiment)
            messages.success(request, "The test is running.")
        else:
            experiments.stop(experiment)
            messages.success(request, "The test is stopped: everyone gets the original again.")
    except experiments.ExperimentError as error:
        messages.error(request, str(error))
    return redirect("analytics:experiment", pk=pk)


def _export(report: experiments.Results) -> HttpResponse:
    header = ["Variant", "Control", "Assigned"]
    for label in ("Converted", "SQL", "Won"):
        header += [f"{label}", f"{label} rate", f"{label} low", f"{label} high"]
        header += [f"{label} difference", f"{label} p-value", f"{label} probability to beat"]
    header += ["Revenue", "Revenue per assigned"]
    rows = [header]
    for row in report.variants:
        cells = [row.variant.name or row.variant.key, row.variant.is_control, row.assigned]
        for rate in (row.converted, row.sql, row.won):
            cells += [rate.count, f"{rate.rate:.4f}", f"{rate.low:.4f}", f"{rate.high:.4f}"]
            versus = rate.against_control
            cells += (
                [
                    f"{versus.difference:.4f}",
                    f"{versus.p_value:.4f}",
                    f"{versus.probability_to_beat:.4f}",
                ]
                if versus
                else ["", "", ""]
            )
        cells += [str(row.revenue), str(row.revenue_per_assigned)]
        rows.append(cells)
    return csv_response(f"experiment-{report.experiment.pk}", rows)


urlpatterns = [
    path("app/measure/experiments/", experiment_list, name="experiments"),
    path("app/measure/experiments/<int:pk>/", experiment_page, name="experiment"),
    re_path(
        r"^app/measure/experiments/(?P<pk>[0-9]+)/(?P<verb>start|stop|winner)$",
        change_experiment,
        name="experiment_change",
    ),
]
