"""Shared pieces of the benchmarks: paths, measured subprocesses, World environments, tables."""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from ops.sandbox import runbook
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
    """
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


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain monospace table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=False)))  # noqa: E731
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def section(title: str) -> None:
    print(f"\n== {title} ==", flush=True)
