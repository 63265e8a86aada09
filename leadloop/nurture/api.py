"""Nurture's API: a workflow's report (nurture/report.py) for staff, signed in with their
session (Django's CSRF check applies to anything but GET)."""

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.security import django_auth

from leadloop.nurture.models import Workflow
from leadloop.nurture.report import workflow_report

router = Router(tags=["nurture"])


class ErrorsOut(Schema):
    errors: list[dict]


@router.get(
    "/workflows/{workflow_id}/report",
    auth=django_auth,
    response={200: dict, 403: ErrorsOut, 404: ErrorsOut},
    summary="A workflow's report",
    description=(
        "Enrolled, active, completed, exited by reason, failed and converted; per published "
        "version and step: taken, sent, opened, clicked, converted, with rates. Staff only."
    ),
)
def report(request: HttpRequest, workflow_id: int):
    if not request.auth.is_staff:
        return Status(403, {"errors": [{"field": None, "message": "Staff only."}]})
    workflow = Workflow.objects.filter(pk=workflow_id).first()
    if workflow is None:
        return Status(404, {"errors": [{"field": None, "message": f"No workflow {workflow_id}."}]})
    return workflow_report(workflow)
