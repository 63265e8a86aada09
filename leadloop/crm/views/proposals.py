"""Proposals in the workspace (make one from a deal, edit its lines with a live total, send it,
withdraw it, see whether it was opened and who accepted it) and at its public link, where the
customer reads it and accepts by typed name or declines. The public pages need no login: the
link's unguessable token is the key, and a draft or withdrawn proposal is not found."""

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from leadloop.compliance.services import log_access
from leadloop.crm import access, proposals
from leadloop.crm.models import Proposal, ProposalStatus
from leadloop.crm.views.common import client_ip, deal_for, workspace

MAX_LINES = 100


class ProposalForm(forms.ModelForm):
    class Meta:
        model = Proposal
        fields = ["title", "terms", "valid_until"]
        widgets = {
            "valid_until": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "terms": forms.Textarea(attrs={"rows": 5}),
        }


class LineForm(forms.Form):
    description = forms.CharField(max_length=300)
    quantity = forms.DecimalField(max_digits=10, decimal_places=2, initial=Decimal("1"))
    unit_price = forms.DecimalField(max_digits=14, decimal_places=2, label="Unit price")


LineFormSet = forms.formset_factory(
    LineForm, extra=1, can_delete=True, max_num=MAX_LINES, validate_max=True
)


def _lines_of(formset: forms.BaseFormSet) -> list[proposals.Line]:
    """The lines that read: the blank extra line, deleted lines and (while still being typed,
    for the live total) lines with an error are left out."""
    return [
        proposals.Line(
            form.cleaned_data["description"],
            form.cleaned_data["quantity"],
            form.cleaned_data["unit_price"],
        )
        for form in formset.forms
        if form.is_valid() and form.cleaned_data and not form.cleaned_data.get("DELETE")
    ]


def _initial_lines(proposal: Proposal) -> list[dict]:
    return [
        {"description": line.description, "quantity": line.quantity, "unit_price": line.unit_price}
        for line in proposal.lines.all()
    ]


def _proposal_for(request: HttpRequest, pk: int) -> Proposal:
    """The proposal, if its deal is one this person may see; a 404 otherwise."""
    return get_object_or_404(
        Proposal.objects.select_related("deal__lead", "deal__stage", "deal__owner"),
        pk=pk,
        deal__in=access.visible_deals(request.user),
    )


# --- the workspace ----------------------------------------------------------------------------


@workspace
@require_POST
def proposal_new(request: HttpRequest, pk: int) -> HttpResponse:
    deal = deal_for(request, pk)
    proposal = proposals.draft(deal, by=request.user, title=request.POST.get("title", ""))
    return redirect("crm:proposal", pk=proposal.pk)


@workspace
def proposal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = _proposal_for(request, pk)
    editable = proposal.status == ProposalStatus.DRAFT
    form = ProposalForm(instance=proposal)
    formset = LineFormSet(initial=_initial_lines(proposal), prefix="lines")
    status = 200
    if request.method == "POST" and not editable:
        messages.error(request, proposals.not_a_draft(proposal, "changed"))
        return redirect("crm:proposal", pk=proposal.pk)
    if request.method == "POST":
        form = ProposalForm(request.POST, instance=proposal)
        formset = LineFormSet(request.POST, initial=_initial_lines(proposal), prefix="lines")
        if _save(request, proposal, form, formset):
            messages.success(request, "Proposal saved.")
            return redirect("crm:proposal", pk=proposal.pk)
        status = 400
    log_access(request.user, "proposal", lead=proposal.deal.lead, ip=client_ip(request))
    context = {
        "proposal": proposal,
        "deal": proposal.deal,
        "form": form,
        "formset": formset,
        "editable": editable,
        "lines": proposal.lines.all(),
        "link": proposals.public_url(proposal),
        "expected_name": proposals.expected_name(proposal.deal.lead),
    }
    return render(request, "crm/proposals/edit.html", context, status=status)


def _save(request: HttpRequest, proposal: Proposal, form, formset) -> bool:
    """Save the details and the lines together, or neither; a refusal is a form error."""
    if not (form.is_valid() and formset.is_valid()):
        return False
    try:
        with transaction.atomic():
            proposals.save_lines(proposal, _lines_of(formset))
            form.save()
    except proposals.ProposalError as error:
        formset.non_form_errors().append(str(error))
        return False
    return True


@workspace
@require_POST
def proposal_total(request: HttpRequest, pk: int) -> HttpResponse:
    """The editor's live total (htmx), of the lines as typed so far: a line that does not read
    yet counts for nothing until it does."""
    _proposal_for(request, pk)
    lines = _lines_of(LineFormSet(request.POST, prefix="lines"))
    return render(request, "crm/proposals/total.html", {"total": proposals.total_of(lines)})


@workspace
@require_POST
def proposal_send(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, proposals.send, "Sent: the customer has the link by email.")


@workspace
@require_POST
def proposal_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, proposals.withdraw, "Withdrawn: the link no longer opens it.")


def _act(request: HttpRequest, pk: int, verb, done: str) -> HttpResponse:
    proposal = _proposal_for(request, pk)
    try:
        verb(proposal, by=request.user)
    except proposals.ProposalError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    return redirect("crm:proposal", pk=proposal.pk)


# --- the customer's link ----------------------------------------------------------------------


class AcceptForm(forms.Form):
    full_name = forms.CharField(max_length=200, label="Your full name")
    agree = forms.BooleanField(
        label="I accept these terms",
        error_messages={"required": "Tick the box to accept these terms."},
    )


class DeclineForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        required=False,
        label="Anything we should know? (optional)",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def _public(token: str) -> Proposal:
    """The proposal behind a link; a draft or a withdrawn one is not found."""
    return get_object_or_404(
        Proposal.objects.select_related("deal__lead__company", "deal__owner").exclude(
            status__in=[ProposalStatus.DRAFT, ProposalStatus.WITHDRAWN]
        ),
        token=token,
    )


def _user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")


def proposal_public(request: HttpRequest, token: str) -> HttpResponse:
    proposal = _public(token)
    # The team opening the link to check it is not the customer opening it.
    if access.role_of(request.user) is None:
        proposals.record_view(proposal, client_ip(request), _user_agent(request))
    return _public_page(request, proposal)


def _public_page(
    request: HttpRequest,
    proposal: Proposal,
    accept_form: AcceptForm | None = None,
    decline_form: DeclineForm | None = None,
    status: int = 200,
) -> HttpResponse:
    lead = proposal.deal.lead
    context = {
        "proposal": proposal,
        "lead": lead,
        "lines": proposal.lines.all(),
        "business_name": proposals.business_name(),
        "expired": proposals.is_expired(proposal),
        "expected_name": proposals.expected_name(lead),
        "accept_form": accept_form or AcceptForm(),
        "decline_form": decline_form or DeclineForm(),
    }
    return render(request, "crm/proposals/public.html", context, status=status)


@require_POST
def proposal_accept(request: HttpRequest, token: str) -> HttpResponse:
    proposal = _public(token)
    form = AcceptForm(request.POST)
    if form.is_valid():
        try:
            proposals.accept(
                proposal, form.cleaned_data["full_name"], client_ip(request), _user_agent(request)
            )
        except proposals.ProposalError as error:
            form.add_error("full_name", str(error))
        else:
            return redirect("crm:proposal_public", token=token)
    return _public_page(request, proposal, accept_form=form, status=400)


@require_POST
def proposal_decline(request: HttpRequest, token: str) -> HttpResponse:
    proposal = _public(token)
    form = DeclineForm(request.POST)
    if form.is_valid():
        try:
            proposals.decline(
                proposal, form.cleaned_data["reason"], client_ip(request), _user_agent(request)
            )
        except proposals.ProposalError as error:
            form.add_error("reason", str(error))
        else:
            return redirect("crm:proposal_public", token=token)
    return _public_page(request, proposal, decline_form=form, status=400)


urlpatterns = [
    path("app/deals/<int:pk>/proposals/new", proposal_new, name="proposal_new"),
    path("app/proposals/<int:pk>/", proposal_edit, name="proposal"),
    path("app/proposals/<int:pk>/total", proposal_total, name="proposal_total"),
    path("app/proposals/<int:pk>/send", proposal_send, name="proposal_send"),
    path("app/proposals/<int:pk>/withdraw", proposal_withdraw, name="proposal_withdraw"),
    path("proposal/<str:token>/", proposal_public, name="proposal_public"),
    path("proposal/<str:token>/accept", proposal_accept, name="proposal_accept"),
    path("proposal/<str:token>/decline", proposal_decline, name="proposal_decline"),
]
