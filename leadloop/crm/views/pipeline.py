"""The pipeline board (a kanban per pipeline, cards dragged between stages), the deal list with
its CSV export, and the list of stalled deals. Every read goes through crm.board, which only
sees the deals the person may see."""

from collections.abc import Iterable, Iterator
from datetime import datetime

from django import forms
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from leadloop.compliance.services import log_access
from leadloop.core.models import Source
from leadloop.crm import access, board, services
from leadloop.crm.models import Deal, Pipeline, Stage
from leadloop.crm.views.common import client_ip, deal_for, workspace
from leadloop.crm.views.export import csv_response

LIST_PAGE_SIZE = 50
DAYS = {"min_value": 0, "max_value": 36_500}
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).


class FilterForm(forms.Form):
    """The board's and the lists' narrowing, from the query string. A bad value is reported
    beside its field and that filter alone is left out."""

    owner = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any owner")
    source = forms.ModelChoiceField(
        queryset=Source.objects.order_by("name"), required=False, empty_label="Any source"
    )
    min_score = forms.IntegerField(required=False, label="Score at least")
    newer_than_days = forms.IntegerField(required=False, label="Created within (days)", **DAYS)
    older_than_days = forms.IntegerField(required=False, label="Older than (days)", **DAYS)
    q = forms.CharField(required=False, max_length=100, label="Search")

    def __init__(self, data, *, user) -> None:
        super().__init__(data)
        self.fields["owner"].queryset = board.owners_for(user)

    def filters(self) -> board.Filters:
        self.is_valid()
        values = self.cleaned_data
        return board.Filters(
            owner=values["owner"].pk if values.get("owner") else None,
            source=values["source"].pk if values.get("source") else None,
            min_score=values.get("min_score"),
            newer_than_days=values.get("newer_than_days"),
            older_than_days=values.get("older_than_days"),
            search=values.get("q", ""),
        )


def _filters(request: HttpRequest) -> tuple[FilterForm, board.Filters]:
    form = FilterForm(request.GET, user=request.user)
    return form, form.filters()


@workspace
def pipeline_board(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    pipelines = list(Pipeline.objects.all())
    if pk is None:
        pipeline = pipelines[0] if pipelines else None
    else:
        pipeline = next((p for p in pipelines if p.pk == pk), None)
        if pipeline is None:
            return HttpResponse("No such pipeline.", status=404)
    if pipeline is None:
        return render(request, "crm/pipeline/board.html", {"board": None})
    form, filters = _filters(request)
    context = {
        "board": board.board(request.user, pipeline, filters, timezone.now()),
        "pipelines": pipelines,
        "form": form,
    }
    return render(request, "crm/pipeline/board.html", context)


@workspace
def board_cards(request: HttpRequest, pk: int, stage_pk: int) -> HttpResponse:
    """The next page of one column ("load more"), under the same filters as the board."""
    stage = get_object_or_404(Stage.objects.select_related("pipeline"), pk=stage_pk, pipeline=pk)
    try:
        offset = max(0, int(request.GET.get("offset", "0")))
    except ValueError:
        return HttpResponse("offset must be a whole number.", status=400)
    _, filters = _filters(request)
    now = timezone.now()
    deals = board.matching_deals(request.user, filters, now).filter(stage=stage)
    cards = board.column_cards(deals, stage, now, offset)
    shown = offset + len(cards)
    context = {"stage": stage, "cards": cards, "shown": shown, "has_more": shown < deals.count()}
    return render(request, "crm/pipeline/cards.html", context)


def _deal_from_form(request: HttpRequest, name: str) -> Deal | None:
    """A neighbour card named in the POST, if it is a deal this person may see."""
    value = request.POST.get(name, "")
    if not value.isdigit():
        return None
    return access.visible_deals(request.user).filter(pk=int(value)).first()


@require_POST
@workspace
def deal_move(request: HttpRequest, pk: int) -> JsonResponse:
    """A card dropped on the board: move the deal, answer every column's totals under the
    board's filters (the query string) so the page can show them; a refusal comes back as
    {"error": message} with status 400 and the page puts the card back."""
    deal = deal_for(request, pk)
    stage_pk = request.POST.get("stage", "")
    stage = stage_pk.isdigit() and deal.pipeline.stages.filter(pk=int(stage_pk)).first()
    if not stage:
        return JsonResponse({"error": "That stage is not on this deal's pipeline."}, status=400)
    try:
        services.move_deal(
            deal,
            stage,
            by=request.user,
            above=_deal_from_form(request, "above"),
            below=_deal_from_form(request, "below"),
            reason=request.POST.get("reason", ""),
        )
    except services.DealError as refusal:
        return JsonResponse({"error": str(refusal)}, status=400)
    _, filters = _filters(request)
    deals = board.matching_deals(request.user, filters, timezone.now())
    per_stage, overall = board.pipeline_totals(
        deals.filter(pipeline=deal.pipeline_id), board.stages_of(deal.pipeline)
    )
    return JsonResponse(
        {
            "columns": {pk: totals.as_text() for pk, totals in per_stage.items()},
            "pipeline": overall.as_text(),
        }
    )


# The deal list's sortable columns: (sort key, heading, cell class, first click descending?).
LIST_COLUMNS = [
    ("title", "Deal", "", False),
    ("stage", "Stage", "", False),
    ("value", "Value", "num", True),
    ("score", "Score", "num", True),
    ("owner", "Owner", "", False),
    ("expected_close", "Expected close", "", False),
    ("age", "Created", "", False),
]


def _headers(sort: str) -> list[dict]:
    """Each heading with the sort its link asks for: a column's first click sorts it its
    natural way, the next click reverses it."""
    headers = []
    for key, label, css, descending_first in LIST_COLUMNS:
        current = sort.lstrip("-") == key
        if current:
            direction = "descending" if sort.startswith("-") else "ascending"
            next_sort = key if direction == "descending" else f"-{key}"
        else:
            direction = ""
            next_sort = f"-{key}" if descending_first else key
        headers.append({"label": label, "css": css, "direction": direction, "next_sort": next_sort})
    return headers


def _sort_of(request: HttpRequest) -> str:
    sort = request.GET.get("sort", board.DEFAULT_SORT)
    return sort if sort.lstrip("-") in board.SORTS else board.DEFAULT_SORT


@workspace
def deal_list(request: HttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    sort = _sort_of(request)
    deals = board.sorted_deals(
        board.with_card_fields(board.matching_deals(request.user, filters, timezone.now())), sort
    )
    if request.GET.get("format") == "csv":
        return _export(request, deals)
    page = Paginator(deals, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "form": form,
        "sort": sort,
        "headers": _headers(sort),
    }
    return render(request, "crm/pipeline/deals.html", context)


EXPORT_HEADER = [
    "Deal id", "Title", "Lead", "Email", "Company", "Pipeline", "Stage", "Value", "Weighted value",
    "Owner", "Score", "Expected close", "Created", "Last activity", "Lost reason",
]  # fmt: skip


def _export_rows(deals: Iterable[Deal]) -> Iterator[list[object]]:
    yield EXPORT_HEADER
    for deal in deals:
        lead = deal.lead
        yield [
            deal.pk,
            deal.title,
            lead.full_name,
            lead.email,
            lead.company.name if lead.company else "",
            deal.pipeline.name,
            deal.stage.name,
            deal.value,
            deal.weighted_value,
            deal.owner.get_username() if deal.owner else "",
            lead.score,
            deal.expected_close or "",
            _iso(deal.created_at),
            _iso(deal.last_activity_at),
            deal.lost_reason,
        ]


def _iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


def _export(request: HttpRequest, deals) -> StreamingHttpResponse:
    """Every matching deal as CSV, streamed (it may be tens of thousands of rows); the export
    is written to the access log with its size, as it lists people's details."""
    count = deals.count()
    log_access(request.user, "deals export", count=count, ip=client_ip(request))
    rows = deals.select_related("pipeline").only(
        *board.CARD_FIELDS, "pipeline__name", "lost_reason"
    )
    return csv_response("deals", _export_rows(rows.iterator(chunk_size=2000)))


@workspace
def stalled(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    page = Paginator(board.stalled_deals(request.user, now), LIST_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    for deal in page:
        deal.idle_days = (now - deal.last_activity_at).days
    return render(request, "crm/pipeline/stalled.html", {"page": page})


urlpatterns = [
    path("app/pipeline/", pipeline_board, name="board"),
    path("app/pipeline/<int:pk>/", pipeline_board, name="pipeline_board"),
    path("app/pipeline/<int:pk>/stages/<int:stage_pk>/cards", board_cards, name="board_cards"),
    path("app/deals/", deal_list, name="deals"),
    path("app/deals/stalled/", stalled, name="stalled"),
    path("app/deals/<int:pk>/move", deal_move, name="deal_move"),
]
