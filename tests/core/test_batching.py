"""The group-commit helper the live capture path runs on: callers that arrive together share
one batch, and each gets its own answer."""

import threading
import time

import pytest

from leadloop.core.batching import Batcher

JOIN_TIMEOUT = 30


def run_together(batcher: Batcher, items: list) -> dict:
    answers: dict = {}
    start = threading.Barrier(len(items))

    def caller(item) -> None:
        start.wait(timeout=JOIN_TIMEOUT)
        try:
            answers[item] = batcher.submit(item)
        except Exception as error:
            answers[item] = error

    threads = [threading.Thread(target=caller, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    return answers


def test_callers_that_arrive_together_share_batches_and_each_gets_its_own_result():
    batches = []

    def double(items: list[int]) -> list[int]:
        batches.append(list(items))
        time.sleep(0.01)  # long enough for the others to queue behind the first batch
        return [item * 2 for item in items]

    answers = run_together(Batcher(double), list(range(40)))

    assert answers == {item: item * 2 for item in range(40)}
    assert sorted(item for batch in batches for item in batch) == list(range(40))
    assert len(batches) < 40  # some shared a batch
    assert max(len(batch) for batch in batches) <= 32


def test_a_lone_caller_is_served_at_once_in_a_batch_of_one():
    batches = []
    batcher = Batcher(lambda items: batches.append(items) or items)

    assert batcher.submit("alone") == "alone"
    assert batches == [["alone"]]


def test_a_batch_that_raises_gives_its_callers_the_error_and_the_next_batch_runs():
    failing = threading.Event()
    failing.set()

    def run(items: list[str]) -> list[str]:
        if failing.is_set():
            failing.clear()
            raise RuntimeError("the database went away")
        return items

    batcher = Batcher(run)
    with pytest.raises(RuntimeError, match="went away"):
        batcher.submit("first")
    assert batcher.submit("second") == "second"
