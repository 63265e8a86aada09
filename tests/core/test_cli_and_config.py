"""The `leadloop` command and twelve-factor configuration."""

import json
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from leadloop import config
from leadloop.capture.models import Form
from leadloop.core.models import Source, hash_api_key


@pytest.mark.django_db
def test_sources_add_prints_the_api_key_on_its_last_line(capsys):
    call_command("sources", "add", "Meta lead ads", "--channel", "paid_social")

    key = capsys.readouterr().out.strip().splitlines()[-1]
    source = Source.objects.get(name="Meta lead ads")
    assert source.api_key_hash == hash_api_key(key)
    assert source.channel == "paid_social"


@pytest.mark.django_db
def test_sources_add_sets_the_duplicate_policy(capsys):
    call_command("sources", "add", "Publisher 7", "--duplicates", "reject")
    call_command("sources", "list")

    assert Source.objects.get(name="Publisher 7").duplicate_policy == "reject"
    assert "\treject\t" in capsys.readouterr().out


@pytest.mark.django_db
def test_sources_add_refuses_a_duplicate_name():
    call_command("sources", "add", "Affiliate A")

    with pytest.raises(CommandError, match="exists already"):
        call_command("sources", "add", "Affiliate A")


@pytest.mark.django_db
def test_rotating_a_key_stops_the_old_one(capsys, client):
    call_command("sources", "add", "Rotating")
    old = capsys.readouterr().out.strip().splitlines()[-1]
    call_command("sources", "rotate-key", "Rotating")
    new = capsys.readouterr().out.strip().splitlines()[-1]

    def post(key):
        return client.post(
            "/api/v1/leads",
            '{"email": "r@example.com"}',
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )

    assert post(old).status_code == 401
    assert post(new).status_code == 201


@pytest.mark.django_db
def test_forms_import_then_export(tmp_path, capsys):
    from tests.conftest import EXAMPLES

    call_command("forms", "import", str(EXAMPLES / "cleanpro-quote.json"))
    assert "version 1" in capsys.readouterr().out
    call_command("forms", "export", "cleanpro-quote")

    exported = json.loads(capsys.readouterr().out)
    assert exported["definition"] == Form.objects.get().definition


@pytest.mark.django_db
def test_forms_import_explains_a_broken_definition(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"slug": "x", "name": "X", "definition": {"steps": []}}))

    with pytest.raises(CommandError, match="steps"):
        call_command("forms", "import", str(broken))


def test_the_leadloop_command_reaches_djangos_management_commands():
    result = subprocess.run(
        [sys.executable, "-m", "leadloop.cli", "help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    for command in ["serve", "worker", "sources", "forms", "migrate", "createsuperuser"]:
        assert command in result.stdout


def test_a_secret_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)

    first = config.secret_key(tmp_path)

    assert len(first) > 40
    assert config.secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_a_secret_can_come_from_a_file(tmp_path, monkeypatch):
    (tmp_path / "pw").write_text("s3cret\n")
    monkeypatch.setenv("EMAIL_HOST_PASSWORD_FILE", str(tmp_path / "pw"))

    assert config.env("EMAIL_HOST_PASSWORD") == "s3cret"


def test_a_bad_boolean_fails_loudly(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")

    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe'"):
        config.env_bool("DEBUG")


def test_sqlite_runs_in_wal_mode_with_immediate_transactions(db):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite settings only apply to the embedded default")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 5000
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
