"""A restart in the middle of an SLA timer: one worker process assigns the lead and stops; a
new process, started after the deadline, finds the timer in the database and fires it exactly
once, however many times workers run after it."""

import os
import subprocess
import sys
from datetime import time, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone

from leadloop.core.models import Event, Lead
from leadloop.routing.models import RoutingSettings, SlaTimer, TimerKind, TimerStatus
from tests.routing.conftest import ALL_WEEK, make_rule, make_team

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def database_url() -> str:
    """The test database as a URL, so a worker process works where this test reads."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    host = db["HOST"] or "127.0.0.1"
    return f"postgres://{user}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(tmp_path, smtp):
    """Run `leadloop worker --batch` as a new process on the test database and mail server."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "LEADLOOP_HOME": str(tmp_path / "home"),
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
    }

    def run() -> None:
        done = subprocess.run(
            [sys.executable, "-m", "leadloop.cli", "worker", "--batch"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-5000:]
        assert "Traceback" not in done.stderr, done.stderr[-5000:]

    return run


def test_a_timer_left_by_a_stopped_worker_fires_once_in_the_next_process(
    api, rep, boss, smtp, worker
):
    RoutingSettings.current()
    # At work whenever this runs: a worker process keeps the real time.
    rita = rep("rita", work_days=ALL_WEEK, work_starts=time(0), work_ends=time(23, 59, 59))
    manager = rep("max").user
    make_rule("Everyone", make_team("Closers", rita, manager=manager), {}, sla_minutes=5)
    lead_id = api({"email": "ann@customers.example", "first_name": "Ann"}).json()["id"]

    worker()  # assigns, acknowledges, tells rita; the timer is 5 minutes away when it exits

    assert Lead.objects.get(pk=lead_id).owner == rita.user
    [timer] = SlaTimer.objects.all()
    assert (timer.kind, timer.status) == (TimerKind.ALERT_MANAGER, TimerStatus.PENDING)
    assert {m["To"] for m in smtp.messages} == {"ann@customers.example", "rita@reps.example"}

    # Nothing runs while the deadline passes; the next process finds the timer overdue.
    SlaTimer.objects.filter(pk=timer.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    worker()
    worker()

    timer.refresh_from_db()
    assert timer.status == TimerStatus.FIRED
    assert Event.objects.filter(lead_id=lead_id, type="sla.missed").count() == 1
    assert len(smtp.to("max@reps.example")) == 1
    assert list(
        SlaTimer.objects.filter(kind=TimerKind.REASSIGN).values_list("status", flat=True)
    ) == [TimerStatus.PENDING]
