"""The pluggable HTTP enrichment provider (LEADLOOP_ENRICHMENT_URL).

leadloop POSTs the lead's contact details as JSON with `Authorization: Bearer
LEADLOOP_ENRICHMENT_TOKEN`; the provider answers a JSON object of field names to values
(`{"company_size": "11-50", "industry": "Cleaning"}`). Each value is kept in the lead's
`enrichment` with the provider as its source; what the person typed is never touched."""

from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from leadloop.core import durable
from leadloop.core import services as core
from leadloop.core.models import Lead
from leadloop.quality.models import ENRICHMENT_BACKOFF, EnrichmentRequest, EnrichmentStatus

LEASE = timezone.timedelta(minutes=2)
MAX_ATTEMPTS = len(ENRICHMENT_BACKOFF) + 1
PENDING = Q(status=EnrichmentStatus.PENDING)
MAX_VALUE_LENGTH = 500


def provider_name() -> str:
    return urlsplit(settings.LEADLOOP_ENRICHMENT_URL).hostname or ""


def request_enrichment(leads: list[Lead]) -> list[EnrichmentRequest]:
    """Rows for the provider to look up, in the caller's transaction, nudged once it commits."""
    if not settings.LEADLOOP_ENRICHMENT_URL or not leads:
        return []
    requests = EnrichmentRequest.objects.bulk_create(
        EnrichmentRequest(lead=lead, provider=provider_name()) for lead in leads
    )
    ids = [r.pk for r in requests]
    transaction.on_commit(lambda: _nudge(ids))
    return requests


def _nudge(ids: list[int]) -> None:
    from leadloop.quality.tasks import enrich_lead

    for pk in ids:
        enrich_lead.enqueue(pk)


def sweep() -> int:
    due = list(
        EnrichmentRequest.objects.filter(
            PENDING, next_attempt_at__lte=timezone.now(), attempts__lt=MAX_ATTEMPTS
        ).values_list("pk", flat=True)[:500]
    )
    _nudge(due)
    return len(due)


def enrich_claimed(request_id: int) -> None:
    request = EnrichmentRequest.objects.select_related("lead").filter(pk=request_id).first()
    if request is None or request.status != EnrichmentStatus.PENDING:
        return
    if not durable.claim_each([request], lease=LEASE, still_pending=PENDING):
        return
    try:
        values = _ask_provider(request.lead)
    except (httpx.HTTPError, ValueError) as error:
        _failed(request, error)
        return
    _merge(request, values)


def _ask_provider(lead: Lead) -> dict:
    token = settings.LEADLOOP_ENRICHMENT_TOKEN
    response = httpx.post(
        settings.LEADLOOP_ENRICHMENT_URL,
        json={
            "lead_id": lead.pk,
            "email": lead.email,
            "phone": lead.phone,
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "company": lead.company.name if lead.company else "",
            "company_domain": lead.enrichment.get("company_domain", {}).get("value", ""),
        },
        headers={"Authorization": f"Bearer {token}"} if token else {},
        timeout=settings.LEADLOOP_ENRICHMENT_TIMEOUT_MS / 1000,
    )
    response.raise_for_status()
    values = response.json()
    if not isinstance(values, dict):
        raise ValueError("the provider did not answer a JSON object")
    return values


def _merge(request: EnrichmentRequest, values: dict) -> None:
    kept = {
        str(name)[:100]: value
        for name, value in values.items()
        if isinstance(value, str | int | float | bool) and len(str(value)) <= MAX_VALUE_LENGTH
    }
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=request.lead_id)
        at = timezone.now().isoformat()
        for name, value in kept.items():
            lead.enrichment[name] = {"value": value, "source": request.provider, "at": at}
        lead.save(update_fields=["enrichment", "updated_at"])
        request.status, request.response = EnrichmentStatus.DONE, values
        request.finished_at, request.next_attempt_at = timezone.now(), None
        request.save(update_fields=["status", "response", "finished_at", "next_attempt_at"])
        core.record_event(
            lead, "lead.enriched", {"provider": request.provider, "fields": sorted(kept)}
        )


def _failed(request: EnrichmentRequest, error: Exception) -> None:
    durable.retry_later(request, error, ENRICHMENT_BACKOFF, failed=EnrichmentStatus.FAILED)
