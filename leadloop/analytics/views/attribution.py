"""The attribution page: customers and revenue credited per channel (or campaign) under the five
models side by side, as a table, a grouped bar chart and a CSV file, for the measure pages'
shared filters (period, source, campaign, form, owner) and two settings of its own: rows `by`
channel or campaign, and the time-decay model's half-life."""

from datetime import timedelta

from django import forms
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path

from leadloop.analytics import attribution
from leadloop.analytics.views.common import measure, wants_csv
from leadloop.analytics.views.dashboard import filter_bar, filters_of, refused_filters
from leadloop.crm.views.export import csv_response

TEMPLATE = "analytics/attribution/page.html"
MAX_HALF_LIFE_DAYS = 365


class HalfLifeForm(forms.Form):
    """The time-decay half-life, from the query string; a bad value is reported beside the field
    and the default used, so the rest of the page still answers."""

    half_life_days = forms.FloatField(
        required=False,
        min_value=0.1,
        max_value=MAX_HALF_LIFE_DAYS,
        label="Half-life (days)",
        widget=forms.NumberInput(
            attrs={"placeholder": f"{attribution.DEFAULT_HALF_LIFE.days}", "step": "any"}
        ),
    )

    def half_life(self) -> timedelta:
        days = self.cleaned_data.get("half_life_days") if self.is_valid() else None
        return timedelta(days=days) if days else attribution.DEFAULT_HALF_LIFE


@measure
def attribution_page(request: HttpRequest) -> HttpResponse:
    try:
        filters = filters_of(request)
    except ValueError as problem:
        return refused_filters(request, TEMPLATE, str(problem))
    form = HalfLifeForm(request.GET)
    by = "campaign" if request.GET.get("by") == "campaign" else "channel"
    report = attribution.attribute(filters, by, form.half_life())
    if wants_csv(request):
        return _export(report)
    chart = {
        "labels": [row.label for row in report.rows],
        "datasets": [
            {"label": label, "data": [float(row.credits[key].revenue) for row in report.rows]}
            for key, label in report.models
        ],
    }
    context = {
        "bar": filter_bar(request),
        "filters": filters,
        "form": form,
        "report": report,
        "chart": chart,
    }
    return render(request, TEMPLATE, context)


def _export(report: attribution.Report) -> StreamingHttpResponse:
    header = ["Channel"] + (["Campaign"] if report.by == "campaign" else [])
    for _, label in report.models:
        header += [f"{label}: customers", f"{label}: revenue"]

    def rows():
        yield header
        for row in report.rows:
            cells = [row.channel] + ([row.campaign] if report.by == "campaign" else [])
            for key, _ in report.models:
                credit = row.credits[key]
                cells += [str(credit.customers_shown), str(credit.revenue)]
            yield cells

    return csv_response(f"attribution-by-{report.by}", rows())


urlpatterns = [path("app/measure/attribution/", attribution_page, name="attribution")]
