"""The system audit page: seed 000's questions by layer, each answered from the data with a
pass/warn/fail badge and where to fix it, and the questions the data cannot answer asked here
(htmx) of admins, marketers and managers."""

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from leadloop.analytics import audit
from leadloop.analytics.models import AuditReply
from leadloop.analytics.views.common import measure


class AnswerForm(forms.Form):
    reply = forms.ChoiceField(choices=AuditReply.choices, widget=forms.RadioSelect)
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


@measure
def audit_page(request: HttpRequest) -> HttpResponse:
    context = {"audit": audit.run(timezone.now()), "may_answer": audit.may_answer(request.user)}
    return render(request, "analytics/audit/page.html", context)


@measure
@require_POST
def audit_answer(request: HttpRequest, key: str) -> HttpResponse:
    """Save an answer; htmx gets the question's row back, a plain form post the page."""
    question = audit.BY_KEY.get(key)
    if question is None or not question.asks_the_user:
        raise Http404("No such question to answer.")
    if not audit.may_answer(request.user):
        return HttpResponse("Admins, marketers and sales managers answer the audit.", status=403)
    form = AnswerForm(request.POST)
    now = timezone.now()
    htmx = bool(request.headers.get("HX-Request"))
    if form.is_valid():
        audit.answer(key, form.cleaned_data["reply"], form.cleaned_data["note"], request.user, now)
    elif not htmx:
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    if not htmx:
        return redirect("analytics:audit")
    # The row again, with the answer or with what was wrong beside the form (htmx swaps only
    # a successful response, so an error is shown in a 200).
    item = audit.item_for(question, now, audit.latest_answers())
    context = {"item": item, "may_answer": True, "form_errors": form.errors}
    return render(request, "analytics/audit/item.html", context)


urlpatterns = [
    path("app/measure/audit/", audit_page, name="audit"),
    path("app/measure/audit/<slug:key>/answer", audit_answer, name="audit_answer"),
]
