"""Spend and ROI: one table of what each channel, campaign or source cost against what it
brought (so a cheap source that rarely closes sits beside a dear one that often does), a day's
spend typed by hand, an ad platform's CSV export previewed then imported, and the stored rows."""

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from leadloop.analytics import kpis, spend
from leadloop.analytics.cards import shown
from leadloop.analytics.models import Spend
from leadloop.analytics.views.common import may_change_settings, measure, wants_csv
from leadloop.analytics.views.dashboard import (
    Table,
    export,
    filter_bar,
    filters_of,
    refused_filters,
)
from leadloop.core.models import Channel, Source

BY = ("channel", "campaign", "source")
ROWS_PAGE_SIZE = 50
CENT = Decimal("0.01")
# (key in spend_table's rows, heading, unit). Close rate sits beside cost per lead: a low CPL
# with a low close rate is the trap seed 003 warns about.
COLUMNS = (
    ("spend", "Spend", "money"),
    ("clicks", "Clicks", "count"),
    ("impressions", "Impr.", "count"),
    ("leads", "Leads", "count"),
    ("cpl", "Cost per lead", "money"),
    ("close_rate", "Close rate", "percent"),
    ("sqls", "SQLs", "count"),
    ("cost_per_sql", "Cost per SQL", "money"),
    ("customers", "Customers", "count"),
    ("cpa", "Cost per customer", "money"),
    ("revenue", "Revenue", "money"),
    ("romi", "ROMI", "ratio"),
    ("profit_per_dollar", "Profit per $", "money"),
)


class SpendForm(forms.Form):
    """A day's spend typed by hand."""

    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    source = forms.ModelChoiceField(
        queryset=Source.objects.order_by("name"),
        required=False,
        empty_label="No source",
        help_text="Its channel and campaign are used when the fields below are left empty.",
    )
    campaign = forms.CharField(required=False, max_length=200)
    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.PAID_SEARCH)
    cost = forms.DecimalField(min_value=0, max_digits=14, decimal_places=2)
    clicks = forms.IntegerField(min_value=0, max_value=2_000_000_000, initial=0)
    impressions = forms.IntegerField(min_value=0, max_value=2_000_000_000, initial=0)

    def clean(self) -> dict:
        values = super().clean()
        if not (values.get("campaign") or "").strip() and not values.get("source"):
            self.add_error("campaign", "Name the campaign, or pick the source it belongs to.")
        return values


class ImportForm(forms.Form):
    file = forms.FileField(help_text="A CSV export with date, campaign and cost columns.")
    channel = forms.ChoiceField(
        choices=Channel.choices,
        initial=Channel.PAID_SEARCH,
        label="Channel of campaigns that match no lead source",
    )


class CommitForm(forms.Form):
    """The previewed file sent back as text, read again from scratch before it is stored."""

    content = forms.CharField(widget=forms.HiddenInput, max_length=spend.MAX_BYTES, strip=False)
    file_name = forms.CharField(widget=forms.HiddenInput, max_length=200)
    channel = forms.ChoiceField(choices=Channel.choices, widget=forms.HiddenInput)


def _by_of(request: HttpRequest) -> str:
    return request.GET.get("by") if request.GET.get("by") in BY else "channel"


@measure
def spend_page(request: HttpRequest) -> HttpResponse:
    template = "analytics/spend.html"
    try:
        filters = filters_of(request)
    except ValueError as problem:
        return refused_filters(request, template, str(problem))
    by = _by_of(request)
    table = kpis.spend_table(filters, by=by)
    rows = Spend.objects.filter(day__range=(filters.start, filters.end)).select_related("source")
    if filters.source_id:
        rows = rows.filter(source=filters.source_id)
    if filters.campaign:
        rows = rows.filter(campaign=filters.campaign)
    if wants_csv(request):
        return export(request, "spend", _tables(table, by, rows))
    context = {
        "bar": filter_bar(request),
        "by": by,
        "bys": BY,
        "headings": [heading for _, heading, _ in COLUMNS],
        "table": _shown_rows(table),
        "rows": Paginator(rows, ROWS_PAGE_SIZE).get_page(request.GET.get("page")),
        "may_change": may_change_settings(request.user),
        "form": SpendForm(),
    }
    return render(request, template, context)


def _shown_rows(table: list[dict]) -> list[dict]:
    """Each row's cells formatted, and the row with the best ROMI marked."""
    returns = [row["romi"] for row in table if row.get("romi") is not None]
    best = max(returns) if returns else None
    return [
        {
            "name": row["name"],
            "cells": [shown(row.get(key), unit) for key, _, unit in COLUMNS],
            "best": best is not None and row.get("romi") == best and len(table) > 1,
        }
        for row in table
    ]


def _tables(table: list[dict], by: str, rows) -> dict[str, Table]:
    roi = Table(
        (by.title(), *(heading for _, heading, _ in COLUMNS)),
        [[row["name"], *(_cell(row.get(key), unit) for key, _, unit in COLUMNS)] for row in table],
    )
    stored = Table(
        ("Day", "Campaign", "Channel", "Source", "Cost", "Clicks", "Impressions", "Imported from"),
        (
            (s.day, s.campaign, s.channel, s.source.name if s.source else "", s.cost, s.clicks,
             s.impressions, s.imported_from)
            for s in rows.iterator()
        ),
    )  # fmt: skip
    return {"roi": roi, "rows": stored}


def _cell(value: object, unit: str) -> object:
    """A CSV cell: empty where there is no figure, money to the cent."""
    if value is None:
        return ""
    if unit == "money":
        return Decimal(value).quantize(CENT)
    return value


def _may_change(request: HttpRequest) -> None:
    if not may_change_settings(request.user):
        raise PermissionDenied("Only admins and marketers change the spend.")


@require_POST
@measure
def spend_add(request: HttpRequest) -> HttpResponse:
    _may_change(request)
    form = SpendForm(request.POST)
    if form.is_valid():
        values = form.cleaned_data
        spend.record_spend(
            day=values["day"],
            campaign=values["campaign"],
            cost=values["cost"],
            clicks=values["clicks"],
            impressions=values["impressions"],
            source=values["source"],
            channel=values["channel"],
        )
        messages.success(request, f"Spend of {shown(values['cost'], 'money')} saved.")
        return redirect("analytics:spend")
    return render(request, "analytics/spend_add.html", {"form": form}, status=400)


@require_POST
@measure
def spend_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _may_change(request)
    row = get_object_or_404(Spend, pk=pk)
    row.delete()
    messages.success(request, f"Deleted {row.campaign}'s spend on {row.day:%Y-%m-%d}.")
    return redirect("analytics:spend")


@measure
def spend_import(request: HttpRequest) -> HttpResponse:
    """GET: the upload form. POST with a file: the preview (nothing stored). POST with the
    previewed content: the import, in one transaction."""
    _may_change(request)
    template = "analytics/spend_import.html"
    if request.method != "POST":
        return render(request, template, {"form": ImportForm()})
    if "content" in request.POST:
        return _commit(request)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, template, {"form": form}, status=400)
    upload = form.cleaned_data["file"]
    channel = form.cleaned_data["channel"]
    try:
        content = upload.read(spend.MAX_BYTES + 1)
        preview = spend.preview_import(content, upload.name, channel)
    except spend.UnreadableFile as problem:
        form.add_error("file", str(problem))
        return render(request, template, {"form": form}, status=400)
    commit = CommitForm(
        initial={
            "content": spend.decoded(content),
            "file_name": preview.file_name,
            "channel": channel,
        }
    )
    return render(request, template, {"preview": preview, "commit": commit})


def _commit(request: HttpRequest) -> HttpResponse:
    form = CommitForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The preview could not be read back; upload the file again.")
        return redirect("analytics:spend_import")
    values = form.cleaned_data
    try:
        preview = spend.preview_import(
            values["content"].encode(), values["file_name"], values["channel"]
        )
    except spend.UnreadableFile as problem:
        messages.error(request, str(problem))
        return redirect("analytics:spend_import")
    done = spend.commit_import(preview)
    skipped = f", {len(preview.errors)} lines skipped" if preview.errors else ""
    messages.success(
        request,
        f"Imported {preview.file_name}: {done.created} days added, {done.updated} updated{skipped}.",
    )
    return redirect("analytics:spend")


urlpatterns = [
    path("app/measure/spend/", spend_page, name="spend"),
    path("app/measure/spend/add", spend_add, name="spend_add"),
    path("app/measure/spend/import/", spend_import, name="spend_import"),
    path("app/measure/spend/<int:pk>/delete", spend_delete, name="spend_delete"),
]
