"""The dashboard (pipeline right now, then the KPI framework's four rows of cards with trend and
target range, then charts), the funnel with its leaks, and the targets form. Every figure comes
from analytics.kpis and analytics.funnel; these views only narrow, format and export them."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone

from leadloop.analytics import funnel as funnels
from leadloop.analytics import kpis
from leadloop.analytics.cards import card_of, shown, target_of
from leadloop.analytics.models import Spend
from leadloop.analytics.views.common import (
    may_change_settings,
    measure,
    owner_in_view,
    wants_csv,
)
from leadloop.capture.models import Form
from leadloop.core.models import Source
from leadloop.crm import access, board
from leadloop.crm.views.export import csv_response

FILTER_PARAMS = ("period", "start", "end", "source", "campaign", "form", "owner")
DIMENSIONS = (
    ("input", "Input"),
    ("process", "Process"),
    ("output", "Output"),
    ("efficiency", "Efficiency"),
)


# --- narrowing: one filter bar for every measure page ----------------------------------------


def filters_of(request: HttpRequest, params: Mapping[str, str] | None = None) -> kpis.Filters:
    """The page's filters from the query string (or `params`); a rep's owner filter is always
    themselves. Raises ValueError with a message fit to show when a value cannot be read."""
    filters = kpis.filters_from(request.GET if params is None else params, timezone.localdate())
    return replace(filters, owner_id=owner_in_view(request.user, filters.owner_id))


def filter_bar(request: HttpRequest) -> dict:
    """What the filter bar offers, and what is chosen now (as typed, so a bad value is shown
    back beside its message)."""
    chosen = {key: request.GET.get(key, "") for key in FILTER_PARAMS}
    campaigns = set(Source.objects.exclude(campaign="").values_list("campaign", flat=True))
    campaigns |= set(Spend.objects.values_list("campaign", flat=True).distinct())
    shows_owners = access.role_of(request.user) != access.Role.REP
    return {
        "chosen": chosen,
        "periods": kpis.PERIODS,
        "sources": Source.objects.order_by("name").values_list("pk", "name"),
        "campaigns": sorted(campaigns),
        "forms": Form.objects.order_by("name").values_list("slug", "name"),
        "owners": _owner_choices(request.user) if shows_owners else None,
    }


def _owner_choices(user) -> list[tuple[int, str]]:
    return [(p.pk, p.get_full_name() or p.get_username()) for p in board.owners_for(user)]


def refused_filters(request: HttpRequest, template: str, problem: str) -> HttpResponse:
    """The page with its filter bar and the reason, not a 500: the person fixes the value."""
    context = {"filter_error": problem, "bar": filter_bar(request)}
    return render(request, template, context, status=400)


# --- CSV: every table on the measure pages -----------------------------------------------------


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Iterable[Sequence[object]]


def csv_download(name: str, table: Table) -> HttpResponse:
    return csv_response(name, [table.header, *table.rows])


def export(request: HttpRequest, page: str, tables: dict[str, Table]) -> HttpResponse:
    """?format=csv&table=<name>: that table; a name the page has not is a 400 naming those it
    has."""
    name = request.GET.get("table", "")
    if name not in tables:
        known = ", ".join(tables)
        return HttpResponseBadRequest(f"No table named {name!r} here; the tables are: {known}.")
    return csv_download(f"{page}-{name}", tables[name])


# --- the dashboard -------------------------------------------------------------------------------


@measure
def dashboard_page(request: HttpRequest) -> HttpResponse:
    template = "analytics/dashboard.html"
    try:
        filters = filters_of(request)
    except ValueError as problem:
        return refused_filters(request, template, str(problem))
    dashboard = kpis.dashboard(filters)
    if wants_csv(request):
        return export(request, "dashboard", dashboard_tables(dashboard))
    cards = [card_of(figure) for figure in dashboard.figures]
    rows = [
        (label, [card for card in cards if card.figure.dimension == key])
        for key, label in DIMENSIONS
    ]
    context = {
        "bar": filter_bar(request),
        "dashboard": dashboard,
        # Customers, disqualified and recycled leads are shown, but are out of the pipeline.
        "pipeline_total": sum(
            count for stage, _, count in dashboard.pipeline_now if stage not in funnels.CLOSED
        ),
        "closed_stages": funnels.CLOSED,
        "rows": rows,
        "charts": charts_of(dashboard),
    }
    return render(request, template, context)


FIGURES_HEADER = (
    "Dimension", "KPI", "Value", "Unit", "Previous period", "Target low", "Target high", "State",
)  # fmt: skip


def dashboard_tables(dashboard: kpis.Dashboard) -> dict[str, Table]:
    figures = [
        (f.dimension, f.label, f.value, f.unit, f.previous, f.low, f.high, f.state)
        for f in dashboard.figures
    ]
    return {
        "figures": Table(FIGURES_HEADER, _blanked(figures)),
        "pipeline": Table(("Stage", "Leads"), [row[1:] for row in dashboard.pipeline_now]),
        "leads_by_day": Table(("Day", "Leads"), dashboard.leads_by_day),
        "source_mix": Table(("Source", "Leads"), dashboard.source_mix),
        "cpl_by_channel": Table(("Channel", "Cost per lead"), _blanked(dashboard.cpl_by_channel)),
        "days_in_stage": Table(("Stage", "Average days"), _blanked(dashboard.days_in_stage)),
        "clv_by_source": Table(("Source", "Lifetime value"), _blanked(dashboard.clv_by_source)),
    }


def charts_of(dashboard: kpis.Dashboard) -> dict:
    """The charts' data for charts.js, passed through json_script (escaped for a script tag)."""

    def series(pairs: Iterable[tuple[object, object]]) -> dict:
        pairs = list(pairs)
        return {
            "labels": [str(label) for label, _ in pairs],
            "values": [_number(v) for _, v in pairs],
        }

    return {
        "leads_by_day": series((d.isoformat(), n) for d, n in dashboard.leads_by_day),
        "source_mix": series(dashboard.source_mix),
        "cpl_by_channel": series(dashboard.cpl_by_channel),
        "days_in_stage": series(dashboard.days_in_stage),
        "clv_by_source": series(dashboard.clv_by_source),
    }


def _number(value: object) -> float | None:
    return None if value is None else float(value)


def _blanked(rows: Iterable[Sequence[object]]) -> list[list[object]]:
    """Rows for CSV with an empty cell where a figure could not be computed."""
    return [["" if cell is None else cell for cell in row] for row in rows]


# --- the funnel ----------------------------------------------------------------------------------


@measure
def funnel_page(request: HttpRequest) -> HttpResponse:
    template = "analytics/funnel.html"
    try:
        filters = filters_of(request)
    except ValueError as problem:
        return refused_filters(request, template, str(problem))
    by = request.GET.get("by") if request.GET.get("by") in ("source", "campaign") else None
    funnel = funnels.funnel(filters, by=by)
    if wants_csv(request):
        return export(request, "funnel", funnel_tables(funnel, by))
    # Visitors are not counted under a source, campaign, form or owner filter: no bar then.
    widest = max((step.count or 0 for step in funnel.steps), default=0) or 1
    bars = [(step, round((step.count or 0) * 100 / widest)) for step in funnel.steps]
    context = {
        "bar": filter_bar(request),
        "filters": filters,
        "funnel": funnel,
        "bars": bars,
        "by": by,
        "step_labels": [step.label for step in funnel.steps],
        "mql_to_sql": shown(funnel.mql_to_sql, "percent"),
    }
    return render(request, template, context)


STEP_HEADER = ("Step", "Count", "Conversion from the step before", "Median days", "Dropped")


def funnel_tables(funnel: funnels.Funnel, by: str | None) -> dict[str, Table]:
    tables = {"steps": Table(STEP_HEADER, _blanked(_step_cells(s) for s in funnel.steps))}
    if by:
        rows = [(name, *_step_cells(step)) for name, steps in funnel.rows for step in steps]
        tables[f"by_{by}"] = Table((by.title(), *STEP_HEADER), _blanked(rows))
    return tables


def _step_cells(step: funnels.Step) -> tuple:
    return (step.label, step.count, step.conversion, step.median_days, step.dropped)


# --- targets ---------------------------------------------------------------------------------


class TargetForm(forms.Form):
    """One KPI's range: either end may be left empty (at least / at most / no target)."""

    low = forms.DecimalField(required=False, max_digits=14, decimal_places=4)
    high = forms.DecimalField(required=False, max_digits=14, decimal_places=4)

    def clean(self) -> dict:
        values = super().clean()
        low, high = values.get("low"), values.get("high")
        if low is not None and high is not None and low > high:
            raise forms.ValidationError("The low end is above the high end.")
        return values


@measure
def targets_page(request: HttpRequest) -> HttpResponse:
    """A form per KPI with seed 001's default and the last 30 days' figure beside it. Anyone on
    the measure pages reads the targets; admins and marketers change them."""
    may_change = may_change_settings(request.user)
    failed: tuple[str, TargetForm] | None = None
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied("Only admins and marketers change the targets.")
        kpi = request.POST.get("kpi", "")
        if kpi not in kpis.DEFAULT_TARGETS:
            return HttpResponseBadRequest("There is no such KPI.")
        form = TargetForm(request.POST, prefix=kpi)
        if form.is_valid():
            try:
                kpis.set_target(kpi, form.cleaned_data["low"], form.cleaned_data["high"])
            except ValueError as problem:
                form.add_error(None, str(problem))
        if form.is_valid():
            messages.success(request, "The target is saved.")
            return redirect("analytics:targets")
        failed = (kpi, form)
    context = {"rows": _target_rows(request, failed), "may_change": may_change}
    return render(request, "analytics/targets.html", context, status=400 if failed else 200)


def _target_rows(request: HttpRequest, failed: tuple[str, TargetForm] | None) -> list[dict]:
    """Each targeted KPI with its label and unit (from the figures themselves, which also give
    the last 30 days' value to set the range against)."""
    figures = kpis.dashboard(filters_of(request, {})).by_key
    current = kpis.targets()
    rows = []
    for kpi, (default_low, default_high) in kpis.DEFAULT_TARGETS.items():
        figure = figures.get(kpi)
        unit = figure.unit if figure else "count"
        low, high = current.get(kpi, (default_low, default_high))
        form = TargetForm(initial={"low": low, "high": high}, prefix=kpi)
        if failed and failed[0] == kpi:
            form = failed[1]
        default = kpis.Figure(kpi, "", "", None, unit, None, default_low, default_high, "none")
        rows.append(
            {
                "kpi": kpi,
                "label": figure.label if figure else kpi,
                "unit": unit,
                "now": shown(figure.value, unit) if figure else "—",
                "default": target_of(default) or "none",
                "form": form,
            }
        )
    return rows


urlpatterns = [
    path("app/measure/", dashboard_page, name="dashboard"),
    path("app/measure/funnel/", funnel_page, name="funnel"),
    path("app/measure/targets/", targets_page, name="targets"),
]
