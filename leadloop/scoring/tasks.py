"""Nudges for scoring's durable work; the ScoringRequest rows are the record."""

from django_tasks import task

from leadloop.scoring import services


@task()
def score_leads(lead_ids: list[int]) -> None:
    services.score_requested(lead_ids)
