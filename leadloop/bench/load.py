"""A small HTTP/1.1 load generator: pre-built requests over keep-alive loopback connections,
driven by one asyncio loop.

It has to stay cheap because it shares the machine's two cores with the server it measures:
every request is encoded before the clock starts, and a response is parsed only as far as its
status line and Content-Length. `RunResult.client_cpu` records what it cost, so the report can
show it was not the bottleneck (and `wrk_rate` cross-checks it against wrk where installed).
"""

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REQUEST_TIMEOUT = 30.0  # a request slower than this counts as an error, never hangs the run


@dataclass
class RunResult:
    concurrency: int
    requests: int
    wall: float
    client_cpu: float
    latencies: list[float]
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.wall if self.wall else 0.0

    @property
    def errors(self) -> int:
        bad = sum(n for status, n in self.statuses.items() if not 200 <= status < 300)
        return bad + sum(self.failures.values())

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1] * 1000

    @property
    def max_ms(self) -> float:
        return max(self.latencies, default=0.0) * 1000


def build_request(
    method: str, path: str, host: str, body: bytes = b"", headers: dict | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "User-Agent: leadloop-bench/1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:\s*chunked", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:\s*close", re.IGNORECASE)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    if match := _CONTENT_LENGTH.search(head):
        body = await reader.readexactly(int(match[1]))
    elif _CHUNKED.search(head):
        body = b""
        while size := int((await reader.readline()).split(b";")[0], 16):
            body += await reader.readexactly(size)
            await reader.readline()
        await reader.readline()
    else:
        body = b""
    return status, body, bool(_CLOSE.search(head))


async def _drive(
    host: str, port: int, requests: list[bytes], concurrency: int, deadline: float
) -> RunResult:
    result = RunResult(concurrency, len(requests), 0.0, 0.0, [])
    pending = iter(range(len(requests)))

    def failed(kind: str, detail: str) -> None:
        result.failures[kind] = result.failures.get(kind, 0) + 1
        if len(result.samples) < 5:
            result.samples.append(f"{kind}: {detail[:300]}")

    async def connection() -> None:
        reader = writer = None
        for index in pending:  # a shared iterator: each request is sent exactly once
            if time.monotonic() > deadline:
                failed("deadline", "the run's time limit passed")
                continue
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(requests[index])
                status, body, close = await asyncio.wait_for(
                    _read_response(reader), REQUEST_TIMEOUT
                )
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
                result.latencies.append(time.perf_counter() - started)
                failed(type(error).__name__, str(error))
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            result.latencies.append(time.perf_counter() - started)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if not 200 <= status < 300 and len(result.samples) < 5:
                result.samples.append(f"HTTP {status}: {body[:300].decode(errors='replace')}")
            if close:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    result.wall = time.perf_counter() - wall
    result.client_cpu = time.process_time() - cpu
    return result


def drive(
    url: str, requests: list[bytes], concurrency: int, time_limit: float = 600.0
) -> RunResult:
    """Send every request once over `concurrency` keep-alive connections; bounded by
    `time_limit` seconds (requests left when it passes count as errors)."""
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + time_limit
    return asyncio.run(_drive(host, int(port), requests, concurrency, deadline))


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = ""
wrk.headers["Content-Length"] = "0"
"""


def wrk_rate(url: str, concurrency: int, seconds: int = 5) -> float | None:
    """wrk's requests/s for POSTs to `url`, or None without wrk: a C client that costs almost
    nothing, to check that the Python generator is not what limits the figures."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        script.write_text(WRK_SCRIPT)
        done = subprocess.run(  # noqa: S603 (our own argument list, no shell)
            [wrk, "-t2", f"-c{concurrency}", f"-d{seconds}s", "-s", str(script), url],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
        )
    match = re.search(r"Requests/sec:\s*([\d.]+)", done.stdout)
    return float(match[1]) if match else None


def json_post(path: str, host: str, payload: dict, headers: dict | None = None) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return build_request(
        "POST", path, host, body, {"Content-Type": "application/json", **(headers or {})}
    )
