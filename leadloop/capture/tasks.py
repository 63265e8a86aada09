"""Nudges for capture's durable work; the rows in Submission and ImportJob are the record."""

from django_tasks import task

from leadloop.capture import services


@task()
def process_submission(submission_id: int) -> None:
    services.process_claimed(submission_id)
