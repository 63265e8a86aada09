"""Nudges for capture's durable work; the rows in Submission and ImportJob are the record."""

from django_tasks import task

from leadloop.capture import importer, services


@task()
def process_submission(submission_id: int) -> None:
    services.process_claimed(submission_id)


@task()
def run_import(job_id: int) -> None:
    importer.run_claimed(job_id)
