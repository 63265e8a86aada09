"""Scoring rules as JSON: export, import (all or nothing, by name), the command and the admin,
and one rescore per import."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from leadloop.scoring import rules_io
from leadloop.scoring.models import RescoreJob, RescoreStatus, ScoringRule, StageDefinitions

pytestmark = pytest.mark.django_db

BIG_COMPANY = {"fact": "custom_fields.company_size", "op": "gte", "value": 50}
PRICING = {"event": "page.viewed", "where": {"path": "/pricing"}}


def some_rules() -> None:
    ScoringRule.objects.create(name="Company of 50+", group="fit", points=20, condition=BIG_COMPANY)
    ScoringRule.objects.create(
        name="Pricing page", group="intent", points=5, per_event=PRICING, cap=15, decays=False
    )
    StageDefinitions.current()


def test_an_export_imports_back_to_the_same_rules(django_capture_on_commit_callbacks):
    some_rules()
    exported = rules_io.export_rules()
    ScoringRule.objects.all().delete()
    StageDefinitions.objects.update(half_life_days=7)

    with django_capture_on_commit_callbacks(execute=False):
        report = rules_io.import_rules(json.loads(json.dumps(exported)))

    assert sorted(report.created) == ["Company of 50+", "Pricing page"]
    assert report.definitions_changed and rules_io.export_rules() == exported
    with django_capture_on_commit_callbacks(execute=False):
        again = rules_io.import_rules(exported)
    assert (again.changed, len(again.unchanged)) == (False, 2)


def test_an_import_updates_rules_by_name_and_leaves_the_others():
    some_rules()
    data = {
        "rules": [{"name": "Pricing page", "group": "intent", "points": 9, "per_event": PRICING}]
    }

    report = rules_io.import_rules(data)

    assert report.updated == ["Pricing page"]
    assert ScoringRule.objects.get(name="Pricing page").points == 9
    assert ScoringRule.objects.filter(name="Company of 50+").exists()


def test_one_broken_rule_refuses_the_whole_file_with_its_reason():
    some_rules()
    data = rules_io.export_rules()
    data["rules"][0]["points"] = 99
    data["rules"].append(
        {"name": "Broken", "group": "fit", "points": 5, "condition": {"fact": "x", "op": "bigger"}}
    )

    with pytest.raises(rules_io.RulesFileError) as refused:
        rules_io.import_rules(data)

    assert "rule 3 (Broken)" in str(refused.value) and "does not read" in str(refused.value)
    assert ScoringRule.objects.get(name="Company of 50+").points == 20  # nothing was written
    assert not ScoringRule.objects.filter(name="Broken").exists()
    assert not RescoreJob.objects.exists()


def test_an_import_starts_one_rescore(django_capture_on_commit_callbacks):
    some_rules()
    data = rules_io.export_rules()
    for rule in data["rules"]:
        rule["points"] += 1

    with django_capture_on_commit_callbacks(execute=False) as nudges:
        rules_io.import_rules(data)

    job = RescoreJob.objects.get()
    assert (job.status, job.reason, len(nudges)) == (RescoreStatus.QUEUED, "rules imported", 1)


def test_the_command_exports_and_imports_a_file(tmp_path, django_capture_on_commit_callbacks):
    some_rules()
    file = tmp_path / "rules.json"
    call_command("scoring", "rules", "export", str(file), verbosity=0)
    ScoringRule.objects.filter(name="Pricing page").delete()

    with django_capture_on_commit_callbacks(execute=False):
        call_command("scoring", "rules", "import", str(file), verbosity=0)

    assert ScoringRule.objects.filter(name="Pricing page").exists()
    file.write_text('{"rules": [{"name": "No group", "points": 1, "condition": {}}]}')
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("scoring", "rules", "import", str(file), verbosity=0)


def test_the_command_rescores_every_lead_and_waits(django_capture_on_commit_callbacks):
    from leadloop.core.models import Lead

    some_rules()
    Lead.objects.create(email="a@b.example", custom_fields={"company_size": 70})

    with django_capture_on_commit_callbacks(execute=False):
        call_command("scoring", "rescore", "--wait", verbosity=0)

    assert RescoreJob.objects.get().status == RescoreStatus.DONE
    assert Lead.objects.get().score == 20


def test_the_admin_exports_and_imports_and_shows_a_rescores_progress(
    admin_client, django_capture_on_commit_callbacks
):
    some_rules()
    exported = admin_client.get("/admin/scoring/scoringrule/export/")
    assert exported["Content-Type"] == "application/json"
    data = json.loads(exported.content)
    data["rules"][0]["points"] = 33

    with django_capture_on_commit_callbacks(execute=False):
        uploaded = admin_client.post(
            "/admin/scoring/scoringrule/import/",
            {"file": SimpleUploadedFile("rules.json", json.dumps(data).encode())},
        )
    assert uploaded.status_code == 302
    assert ScoringRule.objects.get(name=data["rules"][0]["name"]).points == 33

    data["rules"][0]["condition"] = {"all": []}
    refused = admin_client.post(
        "/admin/scoring/scoringrule/import/",
        {"file": SimpleUploadedFile("rules.json", json.dumps(data).encode())},
    )
    assert b"Nothing was imported" in refused.content

    job = RescoreJob.objects.get()
    page = admin_client.get(f"/admin/scoring/rescorejob/{job.pk}/change/")
    assert b"rescore-progress" in page.content and b'http-equiv="refresh"' in page.content
