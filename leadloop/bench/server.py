"""A real `leadloop serve` in a subprocess, for the capture and routing benchmarks and the burst
tests: gunicorn with several processes is what production runs, so that is what they measure.
It runs `--no-worker` unless asked for the worker too (the routing benchmark's speed to lead)."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

START_TIMEOUT = 90.0  # migrate + collectstatic + gunicorn boot on a fresh home, on a slow machine
STOP_TIMEOUT = 20.0  # serve gives gunicorn a 10 s graceful timeout; leave room beyond it


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def leadloop_command(*args: str) -> list[str]:
    """`leadloop ARGS` with this interpreter, so it runs whether or not the script is on PATH."""
    return [sys.executable, "-m", "leadloop.cli", *args]


def run_leadloop(env: dict[str, str], *args: str, timeout: float = 120.0) -> str:
    """Run a leadloop management command to completion and return its stdout."""
    done = subprocess.run(  # noqa: S603 (our own argument list, no shell)
        leadloop_command(*args), env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"leadloop {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def stream_child(module: str, args: list[str], env: dict[str, str], out) -> bool:
    """Run `python -m leadloop.bench.<module> --child ARGS`, copying its output to `out` as
    it comes; whether it succeeded (a failure is also said in `out`)."""
    command = [sys.executable, "-m", f"leadloop.bench.{module}", "--child", *args]
    with subprocess.Popen(  # noqa: S603 (our own argument list, no shell)
        command, env=env, stdout=subprocess.PIPE, text=True, bufsize=1
    ) as child:
        for line in child.stdout:
            out.write(line)
            out.flush()
    if child.returncode != 0:
        print(f"  (the {args[0]} part failed: exit status {child.returncode})", file=out)
    return child.returncode == 0


def run_child(module: str, env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run `python -m leadloop.bench.<module> --child ARGS` to completion and return the last
    line it printed (its answer)."""
    done = subprocess.run(  # noqa: S603 (our own argument list, no shell)
        [sys.executable, "-m", f"leadloop.bench.{module}", "--child", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {args[0]} child failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def mailing_env(env: dict[str, str], smtp_port: int) -> dict[str, str]:
    """`env` for a server that sends its email to a loopback SMTP server on `smtp_port`
    (no login, no TLS) and checks no DNS, with a fresh admin password."""
    for name in ("EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "EMAIL_USE_TLS"):
        env.pop(name, None)
    return env | {
        "LEADLOOP_DNS": "off",
        "LEADLOOP_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "EMAIL_TIMEOUT": "10",
    }


def add_source(env: dict[str, str], name: str) -> str:
    """Create a lead source through `leadloop sources add` (core.services.create_source) and
    return its API key, which that command prints on its last line."""
    return run_leadloop(env, "sources", "add", name).strip().splitlines()[-1]


def process_cpu_seconds(wanted: Callable[[str, int], bool]) -> float:
    """CPU time (user + system) used so far by the processes for which wanted(command name,
    session id) is true, from /proc/<pid>/stat."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        if wanted(name, int(fields[3])):  # field 6 of stat(5): the session id
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


class Server:
    """`leadloop serve --no-worker` (or with `worker=True`, serve's gunicorn plus its worker) on a
    free loopback port; a context manager that always stops the process it started, by its PID
    (and then its own process group if it will not go)."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        workers: int | None = None,
        threads: int | None = None,
        worker: bool = False,
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.workers = workers
        self.threads = threads
        self.worker = worker
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if not self.worker:
            args.append("--no-worker")
        if self.workers:
            args += ["--workers", str(self.workers)]
        if self.threads:
            args += ["--threads", str(self.threads)]
        with self.log_path.open("ab") as log:
            # A session of its own: gunicorn's master and workers (and serve's worker) are in
            # the server's process group, so a last-resort kill reaches them without touching anything else.
            self.process = subprocess.Popen(  # noqa: S603 (our own argument list)
                leadloop_command(*args),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_healthy()
        return self

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"leadloop serve exited early; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"leadloop serve was not healthy in {START_TIMEOUT:.0f}s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # serve stops gunicorn, which drains its workers
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server's processes (serve, gunicorn's master and
        workers: everything in the session it was started in), from /proc."""
        if self.process is None:
            return 0.0
        session = self.process.pid
        return process_cpu_seconds(lambda name, sid: sid == session)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
