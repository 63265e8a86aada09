"""Sweeps run on their own cadence: a polled queue often, recovery sweeps at the worker's interval."""

from leadloop.core import durable


def test_a_sweep_with_its_own_interval_runs_that_often(monkeypatch):
    clock = iter([0.0, 1.0, 31.0, 31.5])
    monkeypatch.setattr(durable.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(durable, "_sweeps", {})
    ran = []
    durable.register_sweep("poll", lambda: ran.append("poll") or 0, every=0.5)
    durable.register_sweep("recover", lambda: ran.append("recover") or 0)

    assert durable.shortest_interval(30) == 0.5
    for _ in range(3):
        durable.run_sweeps(interval=30)  # at 0 s, 1 s and 31 s
    durable.run_sweeps()  # a batch run, at 31.5 s: every sweep, due or not

    assert ran == ["poll", "recover", "poll", "poll", "recover", "poll", "recover"]


def test_a_sweep_that_found_work_runs_again_at_once_until_it_finds_none(monkeypatch):
    clock = iter([0.0, 0.01, 0.02, 0.03])
    monkeypatch.setattr(durable.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(durable, "_sweeps", {})
    backlog = [3, 2, 0]
    durable.register_sweep("poll", lambda: backlog.pop(0) if backlog else 0, every=0.5)

    found = []
    for _ in range(4):
        found.append(durable.run_sweeps(interval=30).get("poll"))
        if found[-1]:
            assert durable.shortest_interval(30) == 0.0

    assert found == [3, 2, 0, None]  # the fourth pass is within 0.5 s of an idle one
    assert durable.shortest_interval(30) == 0.5


def test_slow_sweeps_run_in_a_loop_of_their_own(monkeypatch):
    monkeypatch.setattr(durable.time, "monotonic", lambda: 100.0)
    monkeypatch.setattr(durable, "_sweeps", {})
    ran = []
    durable.register_sweep("assign", lambda: ran.append("assign") or 0, every=0.2)
    durable.register_sweep("rollups", lambda: ran.append("rollups") or 0, every=60, slow=True)

    durable.run_sweeps(interval=30, slow=False)
    durable.run_sweeps(interval=30, slow=True)
    durable.run_sweeps()  # a batch run: both

    assert ran == ["assign", "rollups", "assign", "rollups"]
    assert durable.shortest_interval(30, slow=False) == 0.2
    assert durable.shortest_interval(30, slow=True) == 30
