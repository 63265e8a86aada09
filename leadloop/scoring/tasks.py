"""Nudges for scoring's durable work; the RescoreJob rows are the record."""

from django_tasks import task

from leadloop.scoring import rescoring


@task()
def rescore_all(job_id: int) -> None:
    rescoring.run(job_id)
