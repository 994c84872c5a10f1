"""Shared pieces of the benchmarks: paths, measured subprocesses, World environments, tables."""
from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

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


def base_env(home: Path) -> dict[str, str]:
    """No real AWS config, credentials or INVOKE_ overrides leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INVOKE_", "SANDBOX_BROKER"))}
    env.update({"HOME": str(home), "AWS_CONFIG_FILE": str(home / "aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
                "AWS_EC2_METADATA_DISABLED": "true"})
    return env


def inv_env(world: Any, home: Path, fast_poll: bool = False) -> dict[str, str]:
    """``inv`` against a World (as tests/conftest.py's ``world_env``); the toolkit's own poll unless ``fast_poll``."""
    env = base_env(home)
    env.update({k: v for k, v in world.env().items() if k.startswith("AWS_") or k == "SANDBOX_BROKER_API_TOKEN"})
    env.update({"INVOKE_AWS_PROFILE": "", "INVOKE_API_URL": world.api_url,
                "INVOKE_CAPTURE_DIR": str(home / "diagnostics"), "INVOKE_WAIT_TIMEOUT": "120"})
    if fast_poll:
        env.update({"INVOKE_WAIT_POLL": "0.3", "INVOKE_WAIT_POLL_MAX": "1.0"})
    return env


def cli_env(world: Any, home: Path) -> dict[str, str]:
    """The AWS CLI with profile ``okta-sso`` (static test keys in temp files) pointed at the World."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "aws-config").write_text("[profile okta-sso]\nregion = eu-central-1\noutput = json\n")
    (home / "aws-credentials").write_text(
        "[okta-sso]\naws_access_key_id = AKIASANDBOXTEST00001\naws_secret_access_key = sandbox-test\n")
    env = base_env(home)
    env["AWS_ENDPOINT_URL"] = world.aws_endpoint
    return env


def aws_argv(command: str) -> list[str]:
    """A runbook command's text (with ``\\`` continuations) as argv for the venv's ``aws``."""
    argv = shlex.split(command.replace("\\\n", " "))
    assert argv[0] == "aws", command
    return [AWS, *argv[1:]]


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
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def section(title: str) -> None:
    print(f"\n== {title} ==", flush=True)
