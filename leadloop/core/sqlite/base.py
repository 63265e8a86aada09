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
import functools
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
    """Starts its connection's pending transaction before the first statement runs, and
    queues a write that runs outside a transaction (SQLite's implicit one-statement one)."""

    database: "DatabaseWrapper"

    def execute(self, query, params=None):
        self.database.begin_if_pending()
        if self._writes_alone(query):
            with self.database.turn():
                return super().execute(query, params)
        return super().execute(query, params)

    def executemany(self, query, param_list):
        self.database.begin_if_pending()
        if self._writes_alone(query):
            with self.database.turn():
                return super().executemany(query, param_list)
        return super().executemany(query, param_list)

    def executescript(self, script):
        self.database.begin_if_pending()
        return super().executescript(script)

    def _writes_alone(self, query: str) -> bool:
        return not self.connection.in_transaction and bool(WRITE_STATEMENT.match(query))

    def convert_query(self, query, *, param_names=None):
        if param_names is None:
            return _qmark_style(query)
        return super().convert_query(query, param_names=param_names)


# Django rewrites every statement's %s placeholders to SQLite's ? with a regular expression, on
# every execute: 3% of a captured lead's CPU, for the same few statements each time. Bounded,
# because the IN lists of batch lookups come in many lengths.
@functools.lru_cache(maxsize=512)
def _qmark_style(query: str) -> str:
    return base.FORMAT_QMARK_REGEX.sub("?", query).replace("%%", "%")


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._held_queue: WriteQueue | None = None
        self._begin_pending = False

    def _queue(self) -> WriteQueue | None:
        return write_queue(str(self.settings_dict["NAME"]))

    def _timeout(self) -> float:
        return float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))

    def create_cursor(self, name=None):
        cursor = self.connection.cursor(factory=QueuedCursorWrapper)
        cursor.database = self
        return cursor

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold this database's write queue (for one autocommit write)."""
        queue = self._queue()
        acquired = queue is not None and queue.acquire(self._timeout())
        try:
            yield
        finally:
            if acquired:
                queue.release()

    def _start_transaction_under_autocommit(self) -> None:
        # BEGIN IMMEDIATE waits until the transaction's first statement: the Python between
        # `atomic()` and that statement (bulk_create building its INSERT, say) then runs
        # before this connection takes its turn at the write lock, not while holding it.
        # Nothing reads or writes in between, so the transaction is the same.
        self._begin_pending = True

    def begin_if_pending(self) -> None:
        if not self._begin_pending:
            return
        self._begin_pending = False
        queue = self._queue()
        if queue is not None and queue.acquire(self._timeout()):
            self._held_queue = queue
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._leave_queue()
            raise

    def _leave_queue(self) -> None:
        self._begin_pending = False
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
