"""The attribution page: customers and revenue credited per channel (or campaign) under the five
models side by side, as a table, a grouped bar chart and a CSV file."""

from datetime import timedelta

from django import forms
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from leadloop.analytics import attribution
from leadloop.analytics.views.common import measure, owner_in_view, wants_csv
from leadloop.core.models import Source
from leadloop.crm import board
from leadloop.crm.views.export import csv_response

MAX_HALF_LIFE_DAYS = 365


class AttributionForm(forms.Form):
    """The page's narrowing, from the query string; a bad value is reported beside its field
    and left out."""

    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    source = forms.ModelChoiceField(
        queryset=Source.objects.order_by("name"), required=False, empty_label="Any source"
    )
    campaign = forms.CharField(required=False, max_length=200)
    owner = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any owner")
    half_life_days = forms.FloatField(
        required=False, min_value=0.1, max_value=MAX_HALF_LIFE_DAYS, label="Half-life (days)"
    )

    def __init__(self, data, *, user) -> None:
        super().__init__(data)
        self.fields["owner"].queryset = board.owners_for(user)

    def clean(self) -> dict:
        values = super().clean()
        start, end = values.get("start"), values.get("end")
        if start and end and start > end:
            self.add_error("end", "The end comes before the start.")
        return values


def report_for(request: HttpRequest) -> tuple[AttributionForm, attribution.Report]:
    form = AttributionForm(request.GET, user=request.user)
    form.is_valid()
    values = form.cleaned_data
    asked_owner = values["owner"].pk if values.get("owner") else None
    leads = attribution.leads_in_scope(
        owner_id=owner_in_view(request.user, asked_owner),
        source_id=values["source"].pk if values.get("source") else None,
        campaign=values.get("campaign", ""),
    )
    start, end = attribution.period(values.get("start"), values.get("end"), timezone.localdate())
    half_life = timedelta(days=values.get("half_life_days") or 7)
    by = "campaign" if request.GET.get("by") == "campaign" else "channel"
    return form, attribution.attribute(leads, start, end, by, half_life)


@measure
def attribution_page(request: HttpRequest) -> HttpResponse:
    form, report = report_for(request)
    if wants_csv(request):
        return _export(report)
    chart = {
        "labels": [row.label for row in report.rows],
        "datasets": [
            {"label": label, "data": [float(row.credits[key].revenue) for row in report.rows]}
            for key, label in report.models
        ],
    }
    context = {"form": form, "report": report, "chart": chart}
    return render(request, "analytics/attribution/page.html", context)


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
