"""Nudges for quality's durable work; the EnrichmentRequest rows are the record."""

from django_tasks import task

from leadloop.quality import providers


@task()
def enrich_lead(request_id: int) -> None:
    providers.enrich_claimed(request_id)
