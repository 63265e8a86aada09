"""Rescoring every lead in the background: batches with progress, one run at a time, resuming
after a crash, and the same scores as scoring one lead at a time."""

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from leadloop.core import services as core
from leadloop.core.models import Lead, LifecycleStage, Quality, Source
from leadloop.scoring import rescoring
from leadloop.scoring import services as scoring
from leadloop.scoring.engine import score_lead
from leadloop.scoring.models import RescoreJob, RescoreStatus, ScoringRule, StageDefinitions

pytestmark = pytest.mark.django_db

BIG_COMPANY = {"fact": "custom_fields.company_size", "op": "gte", "value": 50}


def leads(count: int) -> list[Lead]:
    return [Lead.objects.create(email=f"p{i}@firm{i}.example") for i in range(count)]


def started(django_capture_on_commit_callbacks, reason: str = "rules changed") -> RescoreJob:
    with django_capture_on_commit_callbacks(execute=False):
        return rescoring.start_rescore(reason)


def claimed(job: RescoreJob) -> RescoreJob:
    assert rescoring._claim(job)
    return job


def one_batch(job: RescoreJob, size: int) -> bool:
    with transaction.atomic():
        return rescoring.rescore_batch(job, size)


def test_the_job_scores_every_lead_in_batches_and_keeps_its_progress(
    django_capture_on_commit_callbacks,
):
    ScoringRule.objects.create(name="Big", group="fit", points=20, condition=BIG_COMPANY)
    everyone = leads(7)
    Lead.objects.filter(pk=everyone[0].pk).update(custom_fields={"company_size": 90})
    job = claimed(started(django_capture_on_commit_callbacks))
    assert (job.status, job.total, job.processed) == (RescoreStatus.RUNNING, 7, 0)

    one_batch(job, 3)
    job.refresh_from_db()
    assert (job.processed, job.last_lead_id) == (3, everyone[2].pk)
    assert Lead.objects.filter(scored_at__isnull=False).count() == 3

    rescoring._run(job, 3)
    job.refresh_from_db()
    assert (job.status, job.processed, job.total) == (RescoreStatus.DONE, 7, 7)
    assert Lead.objects.filter(scored_at__isnull=True).count() == 0
    assert Lead.objects.get(pk=everyone[0].pk).score == 20


def test_a_job_whose_worker_died_resumes_after_its_last_batch(django_capture_on_commit_callbacks):
    everyone = leads(5)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        job = claimed(started(django_capture_on_commit_callbacks))
        one_batch(job, 2)  # ... and then the worker dies
        dead = RescoreJob.objects.get(pk=job.pk)

        assert rescoring.sweep() == 0  # its lease still runs
        clock.shift(rescoring.LEASE + timedelta(seconds=1))
        with django_capture_on_commit_callbacks(execute=False):
            assert rescoring.sweep() == 1
        resumed = rescoring.run(job.pk, batch_size=2)

    assert (resumed.status, resumed.processed, resumed.attempts) == (RescoreStatus.DONE, 5, 2)
    assert resumed.last_lead_id == everyone[-1].pk
    with pytest.raises(rescoring.LostClaim):  # the old worker, should it wake up, is fenced out
        one_batch(dead, 2)


def test_a_second_start_while_one_runs_queues_one_job_after_it(django_capture_on_commit_callbacks):
    leads(3)
    running = claimed(started(django_capture_on_commit_callbacks, "rule A"))
    queued = started(django_capture_on_commit_callbacks, "rule B")
    folded = started(django_capture_on_commit_callbacks, "rule C")

    assert queued.pk != running.pk and folded.pk == queued.pk
    assert RescoreJob.objects.get(pk=queued.pk).reason == "rule B; rule C"
    assert rescoring.run(queued.pk) is None  # no parallel run while the first holds its lease
    assert RescoreJob.objects.get(pk=queued.pk).status == RescoreStatus.QUEUED

    rescoring._run(running, 2)
    assert rescoring.run(queued.pk).status == RescoreStatus.DONE
    assert RescoreJob.objects.filter(status=RescoreStatus.DONE).count() == 2


def test_the_batch_path_gives_the_same_scores_drivers_and_stages_as_rescore(
    django_capture_on_commit_callbacks,
):
    def fact(name: str, op: str, value: object) -> dict:
        return {"condition": {"fact": name, "op": op, "value": value}}

    demo = {"event": "form.submitted", "where": {"kind": "demo"}, "within_days": 14}
    for name, group, points, how in [
        ("Big", "fit", 45, {"condition": BIG_COMPANY}),
        ("Free mail", "fit", -10, fact("free_mail", "equals", True)),
        ("Partner", "fit", 7, fact("source.channel", "equals", "affiliate")),
        ("Industry", "fit", 5, fact("enrichment.industry", "in", ["saas"])),
        ("Invalid", "fit", -50, fact("quality", "equals", "invalid")),
        ("Opens", "engagement", 3, {"per_event": {"event": "email.opened"}, "cap": 10}),
        (
            "Pricing",
            "intent",
            6,
            {"per_event": {"event": "page.viewed", "where": {"path": "/pricing"}}},
        ),
        ("Demo", "intent", 30, {"per_event": demo, "decays": False}),
    ]:
        ScoringRule.objects.create(name=name, group=group, points=points, **how)
    StageDefinitions.current()
    partner = Source.objects.create(name="Partner", channel="affiliate")
    mixed = [
        Lead.objects.create(**fields)
        for fields in [
            {"email": "a@big.example", "custom_fields": {"company_size": 200}},
            {"email": "b@gmail.example", "quality_signals": {"email": {"free_mail": True}}},
            {
                "email": "c@x.example",
                "source": partner,
                "enrichment": {"industry": {"value": "SaaS"}},
            },
            {
                "email": "d@x.example",
                "quality": Quality.INVALID,
                "custom_fields": {"company_size": 80},
            },
            {
                "email": "e@x.example",
                "custom_fields": {"company_size": 60, "budget": 9, "timeline": "Q3"},
            },
            {"email": "f@x.example", "lifecycle_stage": LifecycleStage.CUSTOMER},
            {"email": "g@x.example"},
        ]
    ]
    with time_machine.travel(timezone.now(), tick=False):
        now = timezone.now()
        for index, lead in enumerate(mixed):
            for days, type_, data in [
                (1, "email.opened", {}),
                (40, "email.opened", {}),
                (3, "page.viewed", {"path": "/pricing"}),
                (2, "form.submitted", {"kind": "demo"}),
                (20, "form.submitted", {"kind": "demo"}),
            ][: 5 if index in (0, 4) else 1 + index % 5]:
                core.record_event(lead, type_, data, occurred_at=now - timedelta(days=days))

        def outcome() -> list:
            found = Lead.objects.order_by("pk")
            return [
                (
                    lead.score,
                    lead.score_fit,
                    lead.score_engagement,
                    lead.score_intent,
                    lead.score_drivers,
                    lead.lifecycle_stage,
                    [(e.data, e.actor) for e in lead.events.filter(type="stage.changed")],
                )
                for lead in found
            ]

        scoring.rescore(list(Lead.objects.select_related("source").order_by("pk")), now)
        one_at_a_time = outcome()
        Lead.objects.update(score=0, score_fit=0, score_engagement=0, score_intent=0)
        for lead in mixed:
            Lead.objects.filter(pk=lead.pk).update(lifecycle_stage=lead.lifecycle_stage)
            lead.events.filter(type="stage.changed").delete()
        job = claimed(started(django_capture_on_commit_callbacks))
        while not one_batch(job, 3):
            pass

    assert outcome() == one_at_a_time
    rules = scoring.active_rules()
    for lead in Lead.objects.select_related("source").order_by("pk"):
        events = list(lead.events.exclude(type="stage.changed").order_by("occurred_at", "id"))
        reference = score_lead(lead, events, rules, 30, now)  # engine.py, one rule at a time
        assert (reference.total, reference.drivers) == (lead.score, lead.score_drivers)
    assert {stage for *_, stage, _ in one_at_a_time} >= {"mql", "sql", "lead", "customer"}


@pytest.mark.django_db(transaction=True)  # the scoring processes read what was committed
def test_with_several_processes_the_job_scores_every_lead_and_leaves_out_changed_ones(
    monkeypatch, django_capture_on_commit_callbacks
):
    from leadloop.scoring.models import ScoringRequest

    monkeypatch.setattr(rescoring, "WORKERS", 2)
    monkeypatch.setattr(rescoring, "PARALLEL_MIN_LEADS", 1)
    ScoringRule.objects.create(name="Big", group="fit", points=20, condition=BIG_COMPANY)
    everyone = leads(9)
    Lead.objects.update(custom_fields={"company_size": 90})
    changed = everyone[4]
    real_save = rescoring.save

    def a_capture_changes_a_lead_meanwhile(scored, **how):
        # Between the batches' reads (in the children) and their writes: the change asks for a
        # new score (dated ahead, so that it is newer than every read however they interleave).
        if not ScoringRequest.objects.exists():
            ScoringRequest.objects.create(lead=changed, reason="captured")
            ScoringRequest.objects.update(created_at=timezone.now() + timedelta(hours=1))
        real_save(scored, **how)

    monkeypatch.setattr(rescoring, "save", a_capture_changes_a_lead_meanwhile)
    job = started(django_capture_on_commit_callbacks)

    finished = rescoring.run(job.pk, batch_size=2)

    assert (finished.status, finished.processed) == (RescoreStatus.DONE, 9)
    scores = dict(Lead.objects.values_list("pk", "score"))
    assert scores.pop(changed.pk) == 0  # left to its own request
    assert set(scores.values()) == {20}
