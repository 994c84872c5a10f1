"""Shared pieces of the benchmarks: paths, measured subprocesses, World environments, tables."""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from ops.sandbox import runbook, wire
from ops.sandbox.runbook import cli_env as cli_env  # re-exported for the bench modules
from ops.sandbox.runbook import isolated_env, toolkit_env

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
INV = str(BIN / "inv")
AWS = str(BIN / "aws")
REGION = "eu-central-1"
API, WORKER = "sandbox-broker", "sandbox-broker-worker"
API_LOGS, WORKER_LOGS = "/ecs/sandbox-broker-api", "/ecs/sandbox-broker-worker"
SUBPROCESS_TIMEOUT = 600.0
LAUNCHER = Path(__file__).resolve().with_name("_launch.py")


@dataclass(frozen=True)
class Measured:
    """One finished subprocess: wall seconds, exit code, peak RSS (MiB) of the process itself."""

    seconds: float
    code: int
    rss_mib: float


def run_measured(argv: Sequence[str], env: dict[str, str], stdout: Path | None = None,
                 cwd: Path = ROOT, timeout: float = SUBPROCESS_TIMEOUT) -> Measured:
    """Run ``argv`` through ``_launch.py``; the child's own wall time, peak RSS and exit code.

    The launcher (a small process) is what keeps ``ru_maxrss`` honest: a child started straight
    from this (large) process would report this process's RSS as its high-water mark.

    The child runs as on a user's machine: without ``PYTHONDONTWRITEBYTECODE`` (some CI machines set it, this
    one among them), so each side reads the bytecode its install caches. pip compiled the CLI's when it
    installed it; the toolkit writes its own on its first run.
    """
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.NamedTemporaryFile(prefix="bench-rss-", suffix=".txt") as result:
        out = open(stdout, "wb") if stdout else subprocess.DEVNULL
        try:
            subprocess.run([sys.executable, "-I", str(LAUNCHER), result.name, *argv], env=env, cwd=cwd,
                           stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.DEVNULL, timeout=timeout)
        finally:
            if stdout:
                out.close()  # type: ignore[union-attr]
        seconds, rss_kib, code = Path(result.name).read_text().split()
    return Measured(float(seconds), int(code), int(rss_kib) / 1024)


base_env = isolated_env  # no real AWS config, credentials or INVOKE_ overrides leak in


def inv_env(world: Any, home: Path, fast_poll: bool = False) -> dict[str, str]:
    """``inv`` against a World; the toolkit's own poll unless ``fast_poll``."""
    return toolkit_env(world, home, poll=(0.3, 1.0) if fast_poll else None)


def aws_argv(command: str) -> list[str]:
    """A runbook command as argv for the venv's AWS CLI."""
    return runbook.aws_argv(command, AWS)


def med(values: Iterable[float]) -> float:
    items = list(values)
    return statistics.median(items) if items else float("nan")


def ratio(toolkit: float, baseline: float) -> str:
    """``toolkit / baseline`` as ``0.42x`` (below 1: the toolkit is faster)."""
    return f"{toolkit / baseline:.2f}x" if baseline > 0 else "-"


RATIO_HEADERS = ["toolkit/runbook", "runbook/toolkit (speed-up)"]


def ratios(toolkit: float, runbook: float) -> list[str]:
    """Both directions, for the ``RATIO_HEADERS`` columns: ``toolkit / runbook`` (below 1: the toolkit
    is faster) and ``runbook / toolkit`` (the speed-up; above 1: the toolkit is faster)."""
    return [ratio(toolkit, runbook), ratio(runbook, toolkit)]


@dataclass(frozen=True)
class Seen:
    """One request as it reached the World's AWS endpoint (before its lock)."""

    at: float  # time.perf_counter()
    action: str  # the operation: DescribeServices, UpdateService, ...


class WorldRequests:
    """Every request to the World's AWS endpoint, timed on arrival at its HTTP layer.

    Works for subprocesses (``inv``, ``aws``) where an in-process botocore hook cannot: it wraps
    ``FaultInjector.middleware`` (the outermost layer the World puts in front of moto), so it must be
    installed before the World is built.
    """

    def __init__(self) -> None:
        self._seen: list[Seen] = []
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator["WorldRequests"]:
        from ops.sandbox.faults import FaultInjector

        original: Callable[..., Any] = FaultInjector.middleware
        log = self

        def middleware(self_: Any, app: Any) -> Any:
            inner = original(self_, app)

            def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
                action = wire.read_request(environ).action  # the body is put back for the World
                with log._lock:
                    log._seen.append(Seen(time.perf_counter(), action or "?"))
                return inner(environ, start_response)

            return wrapped

        FaultInjector.middleware = middleware  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            FaultInjector.middleware = original  # type: ignore[method-assign]

    def take(self) -> list[Seen]:
        """The requests seen since the last call, in arrival order."""
        with self._lock:
            seen, self._seen = self._seen, []
        return seen


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain monospace table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=False)))  # noqa: E731
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def section(title: str) -> None:
    print(f"\n== {title} ==", flush=True)
