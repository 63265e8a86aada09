"""`leadloop worker`: run background tasks, and sweep for durable work that lost its task."""

import logging
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from leadloop.core import durable

logger = logging.getLogger(__name__)


def sweep_forever(interval: float, stop: threading.Event, slow: bool) -> None:
    while not stop.wait(durable.shortest_interval(interval, slow=slow)):
        close_old_connections()
        found = durable.run_sweeps(interval, slow=slow)
        if any(found.values()):
            logger.info("sweep re-enqueued %s", found)


class Command(BaseCommand):
    help = "Run the background worker (all queues) and the periodic sweep of durable work."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--sweep-seconds", type=float, default=settings.LEADLOOP_SWEEP_SECONDS)
        parser.add_argument(
            "--batch", action="store_true", help="sweep once, run every due task, then exit"
        )

    def handle(self, *, sweep_seconds: float, batch: bool, **options) -> None:
        if batch:
            durable.run_sweeps()
            call_command(
                "db_worker",
                queue_name="*",
                batch=True,
                reload=False,
                startup_delay=False,
                verbosity=options["verbosity"],
            )
            return
        stop = threading.Event()
        # The slow sweeps have a thread of their own: a minute's roll-up refresh must not hold
        # up a new lead's assignment.
        for slow in (False, True):
            threading.Thread(
                target=sweep_forever, args=(sweep_seconds, stop, slow), daemon=True
            ).start()
        try:
            call_command(
                "db_worker",
                queue_name="*",
                reload=False,
                interval=0.5,
                verbosity=options["verbosity"],
            )
        finally:
            stop.set()
