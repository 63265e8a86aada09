"""Nudges for scoring's durable work; the ScoringRequest and RescoreJob rows are the record."""

from django_tasks import task

from leadloop.scoring import rescoring, services


@task()
def score_leads(lead_ids: list[int]) -> None:
    services.score_requested(lead_ids)


@task()
def rescore_all(job_id: int) -> None:
    rescoring.run(job_id)
