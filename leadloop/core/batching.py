"""Group commit for the threads of one web process.

Under a burst, many request threads each want one short write transaction. With one transaction
per request, every request pays the whole ORM cost of its queries, and on SQLite they all queue
for the one write lock. A `Batcher` lets them share: a caller queues its item and takes its turn;
whoever holds the turn runs one batch of everything queued so far (its own item included) and
hands every caller its result. Alone, a caller runs a batch of one at once: no waiting, no
timer. Busy, one transaction serves many, and the journey is written for batches anyway.
"""

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Slot(Generic[Item, Result]):
    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.done = False
        self.result: Result | None = None
        self.error: BaseException | None = None


class Batcher(Generic[Item, Result]):
    """`run(items) -> results` (same length, same order) for whatever callers queued together.

    `run` should deal with a failing item itself (the capture path retries each item of a
    failed batch alone); if it raises anyway, every caller of that batch gets the exception."""

    def __init__(self, run: Callable[[list[Item]], list[Result]], max_batch: int = 32) -> None:
        self._run = run
        self._max_batch = max_batch
        self._queue: list[_Slot[Item, Result]] = []
        self._changed = threading.Condition()
        self._serving = False

    def submit(self, item: Item) -> Result:
        slot: _Slot[Item, Result] = _Slot(item)
        with self._changed:
            self._queue.append(slot)
            # Wait while another caller serves, until it has served this item or stops
            # serving without it (then this caller serves).
            while self._serving and not slot.done:
                self._changed.wait()
            serving = not slot.done
            self._serving = self._serving or serving
        while serving:
            with self._changed:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
            self._serve(batch)
            with self._changed:
                # Every caller of the batch is woken at once. A turn lock passed from caller
                # to caller woke them one after another, each only once the one before had
                # had the GIL: the capture benchmark's p99 at c16 went from 61-66 to 50-62 ms.
                serving = not slot.done
                self._serving = serving
                self._changed.notify_all()
        if slot.error is not None:
            raise slot.error
        return slot.result

    def _serve(self, batch: list[_Slot[Item, Result]]) -> None:
        try:
            results = self._run([slot.item for slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} gave {len(results)} results")
        except BaseException as error:
            for slot in batch:
                slot.error, slot.done = error, True
            return
        for slot, result in zip(batch, results, strict=True):
            slot.result, slot.done = result, True
