"""Django's SQLite backend with one queue for writers (settings.py selects it for SQLite).

SQLite lets one writer in at a time. A writer that finds the write lock taken waits in SQLite's
busy handler, which polls with sleeps of 1, 2, 5, 10 ... 100 ms: under a burst the lock sits
free while every waiter sleeps, and the first capture benchmark showed it (152 leads/s, p99
1.2 s at concurrency 16, with the stack's floor at 1,500 inserts/s).

So writers queue here instead, on locks that hand over the moment the writer before them is
done: a threading lock among the threads of one process, then an flock on a file beside the
database among processes (gunicorn workers, `leadloop worker`, the CLI). A transaction holds its
place from BEGIN IMMEDIATE to COMMIT or ROLLBACK; a write outside a transaction (autocommit)
holds it for that one statement. busy_timeout stays the fallback for anything that does not
queue here (the sqlite3 shell, another program), and for a thread that waited longer than the
timeout for its own process's queue (then it tries SQLite directly, as before).
"""

import fcntl
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db.backends.sqlite3 import base

WRITE_STATEMENT = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class WriteQueue:
    """The writers of one database file: threads of this process, then processes."""

    def __init__(self, lock_path: str) -> None:
        self._threads = threading.Lock()
        self._fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def acquire(self, timeout: float) -> bool:
        """Wait for our turn; False if this process's queue did not move for `timeout` seconds
        (something holds a transaction open for long: a test, a stuck import)."""
        if not self._threads.acquire(timeout=timeout):
            return False
        try:
            # Blocking: the kernel wakes us when the holder unlocks. Only the one thread per
            # process that is first in its threading queue ever waits here.
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        return True

    def release(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


_queues: dict[tuple[int, str], WriteQueue] = {}
_queues_lock = threading.Lock()


def write_queue(database: str) -> WriteQueue | None:
    """The queue of a database file, one per process (keyed by pid: a forked child must not
    share its parent's open file, or both would hold the same flock)."""
    if database == ":memory:" or "mode=memory" in database:
        return None
    key = (os.getpid(), os.path.abspath(database))
    with _queues_lock:
        if key not in _queues:
            _queues[key] = WriteQueue(f"{key[1]}.writers")
        return _queues[key]


class QueuedCursorWrapper(base.SQLiteCursorWrapper):
    """Queues a write that runs outside a transaction (SQLite's implicit one-statement one)."""

    queue: WriteQueue | None = None
    timeout: float = 5.0

    def execute(self, query, params=None):
        if self.queue is None or self.connection.in_transaction or not WRITE_STATEMENT.match(query):
            return super().execute(query, params)
        with _held(self.queue, self.timeout):
            return super().execute(query, params)

    def executemany(self, query, param_list):
        if self.queue is None or self.connection.in_transaction or not WRITE_STATEMENT.match(query):
            return super().executemany(query, param_list)
        with _held(self.queue, self.timeout):
            return super().executemany(query, param_list)


@contextmanager
def _held(queue: WriteQueue, timeout: float) -> Iterator[None]:
    acquired = queue.acquire(timeout)
    try:
        yield
    finally:
        if acquired:
            queue.release()


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._held_queue: WriteQueue | None = None

    def _queue(self) -> WriteQueue | None:
        return write_queue(str(self.settings_dict["NAME"]))

    def _timeout(self) -> float:
        return float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))

    def create_cursor(self, name=None):
        cursor = self.connection.cursor(factory=QueuedCursorWrapper)
        cursor.queue = self._queue()
        cursor.timeout = self._timeout()
        return cursor

    def _start_transaction_under_autocommit(self) -> None:
        queue = self._queue()
        if queue is not None and queue.acquire(self._timeout()):
            self._held_queue = queue
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._leave_queue()
            raise

    def _leave_queue(self) -> None:
        queue, self._held_queue = self._held_queue, None
        if queue is not None:
            queue.release()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._leave_queue()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._leave_queue()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._leave_queue()
