"""`leadloop serve`: migrate, make sure an admin can log in, then run web + API + worker."""

import os
import secrets
import signal
import subprocess
import sys
import time

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from leadloop.config import env

DEFAULT_WORKERS = 2
DEFAULT_THREADS = 16


class Command(BaseCommand):
    help = "Migrate, then serve the web app and API with gunicorn, and a background worker."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=env("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(env("PORT", "8000")))
        parser.add_argument(
            "--workers",
            type=int,
            default=int(env("WEB_WORKERS", str(DEFAULT_WORKERS))),
            help="gunicorn worker processes",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=int(env("WEB_THREADS", str(DEFAULT_THREADS))),
            help="threads per gunicorn worker",
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="serve web and API only (run `leadloop worker` elsewhere)",
        )

    def handle(
        self, *, host: str, port: int, workers: int, threads: int, no_worker: bool, **options
    ) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self._ensure_admin()
        children = [
            self._spawn(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "leadloop.wsgi:application",
                    "--bind",
                    f"{host}:{port}",
                    "--workers",
                    str(workers),
                    "--threads",
                    str(threads),
                    "--worker-class",
                    "gthread",
                    "--graceful-timeout",
                    "10",
                    # gunicorn's control socket has one fixed path per user: several web
                    # processes on one machine (the scale-out shape) would fight over it.
                    "--no-control-socket",
                    # No access log unless asked: gunicorn formats every line even for
                    # /dev/null, a cost on every request.
                    *(["--access-logfile", "-"] if options["verbosity"] > 1 else []),
                ]
            )
        ]
        if not no_worker:
            children.append(self._spawn([sys.executable, "-m", "leadloop.cli", "worker"]))
        self.stdout.write(
            f"leadloop is serving on http://{host}:{port}/ (admin at /admin/, "
            f"API docs at /api/v1/docs){'' if no_worker else ' with a worker'}"
        )
        self._supervise(children)

    def _ensure_admin(self) -> None:
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            return
        username = env("LEADLOOP_ADMIN_USER", "admin")
        password = env("LEADLOOP_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.create_superuser(username, env("LEADLOOP_ADMIN_EMAIL", ""), password)
        shown = password if not env("LEADLOOP_ADMIN_PASSWORD") else "(from LEADLOOP_ADMIN_PASSWORD)"
        self.stdout.write(self.style.SUCCESS(f"Admin login: {username} / {shown}"))

    @staticmethod
    def _spawn(command: list[str]) -> subprocess.Popen:
        return subprocess.Popen(command, env=os.environ.copy())  # noqa: S603

    def _supervise(self, children: list[subprocess.Popen]) -> None:
        """Run until a child exits or we are told to stop; then stop every child."""
        stopping = False

        def stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.5)
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
