"""Section 2: ``inv capture`` at incident-scale log volume, beside the CLI on the same data.

Events are injected straight into moto's in-process Logs backend (several streams per group,
timestamps spread over the last 9 minutes, so all fall inside ``--since 10m``). moto answers
``FilterLogEvents`` by filtering and sorting the whole group on every page (O(N) per page,
O(N^2/10000) per read), so at volume moto itself dominates; its server-side time is measured
and the client-side rate (events / (wall - moto time)) is shown beside the raw rate.
"""
from __future__ import annotations

import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from bench.common import (
    API_LOGS,
    INV,
    ROOT,
    WORKER_LOGS,
    Measured,
    aws_argv,
    cli_env,
    inv_env,
    med,
    ratio,
    run_measured,
    section,
    table,
)
from ops.sandbox import runbook

STREAMS_PER_GROUP = 8
SPREAD_MS = 9 * 60 * 1000
BATCH = 10_000
MESSAGE = ('{{"level":"error","msg":"allocate failed","sandbox":"sbx-{i:07d}","pool":"gcp-eu-west",'
           '"error":"context deadline exceeded","latency_ms":{lat}}}')


class MotoMeter:
    """Server-side seconds spent answering FilterLogEvents (moto's handler, JSON encoding included)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator["MotoMeter"]:
        from moto.logs.responses import LogsResponse

        original: Callable[..., Any] = LogsResponse.filter_log_events
        meter = self

        def timed(self_: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(self_)
            finally:
                with meter._lock:
                    meter.seconds += time.perf_counter() - started
                    meter.calls += 1

        LogsResponse.filter_log_events = timed  # type: ignore[method-assign]
        try:
            yield self
        finally:
            LogsResponse.filter_log_events = original  # type: ignore[method-assign]

    def take(self) -> tuple[float, int]:
        with self._lock:
            seconds, calls = self.seconds, self.calls
            self.seconds, self.calls = 0.0, 0
        return seconds, calls


def inject(world: Any, total: int) -> None:
    """``total`` events, half per log group, over ``STREAMS_PER_GROUP`` streams each, in moto directly."""
    from moto.logs.models import logs_backends

    backend = logs_backends[world.account_id][world.region]
    end_ms = int(time.time() * 1000) - 5_000
    per_group = total // 2
    with world._lock:  # the world's ticker writes logs too
        for group in (API_LOGS, WORKER_LOGS):
            per_stream = per_group // STREAMS_PER_GROUP
            for s in range(STREAMS_PER_GROUP):
                name = f"ecs/bench/{s:02d}{'0' * 30}"
                if name not in backend.groups[group].streams:
                    backend.create_log_stream(group, name)
                stream = backend.groups[group].streams[name]
                step = SPREAD_MS / per_stream
                for first in range(0, per_stream, BATCH):
                    stream.put_log_events([
                        {"timestamp": int(end_ms - SPREAD_MS + i * step), "message": MESSAGE.format(i=i, lat=i % 997)}
                        for i in range(first, min(first + BATCH, per_stream))])


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_mib: float
    moto_seconds: float
    pages: int


def _inv_capture(env: dict[str, str], meter: MotoMeter) -> Sample:
    meter.take()
    result = run_measured([INV, "-r", str(ROOT), "capture"], env)
    assert result.code == 0, f"inv capture exited {result.code}"
    moto, pages = meter.take()
    return Sample(result.seconds, result.rss_mib, moto, pages)


def _cli_logs(env: dict[str, str], out: Path, meter: MotoMeter, text: bool) -> Sample:
    """Both groups, one ``aws logs filter-log-events`` each (as the checklist runs them)."""
    start_ms = int((time.time() - 600) * 1000)
    meter.take()
    seconds, rss = 0.0, 0.0
    for group in (API_LOGS, WORKER_LOGS):
        argv = aws_argv(runbook.CHECKLIST_LOGS.format(group=group, start_ms=start_ms))
        if text:
            argv += ["--output", "text", "--query", "events[].[timestamp,logStreamName,message]"]
        result: Measured = run_measured(argv, env, stdout=out)
        assert result.code == 0, f"aws logs filter-log-events exited {result.code}"
        seconds, rss = seconds + result.seconds, max(rss, result.rss_mib)
    out.unlink(missing_ok=True)
    moto, pages = meter.take()
    return Sample(seconds, rss, moto, pages)


VARIANTS = {
    "inv": "inv capture (whole checklist)",
    "cli-json": "aws logs filter-log-events x2 (json, as written)",
    "cli-text": "aws logs filter-log-events x2 (--output text)",
}


def _measure(variant: str, world: Any, home: Path, meter: MotoMeter) -> Sample:
    if variant == "inv":
        return _inv_capture(inv_env(world, home / "inv"), meter)
    return _cli_logs(cli_env(world, home / "cli"), home / "cli-out.txt", meter, text=variant == "cli-text")


def run(volumes: list[int], reps: int, variants: list[str]) -> None:
    from ops.sandbox import World

    rows: list[list[str]] = []
    meter = MotoMeter()
    with meter.installed():
        for volume in volumes:
            with World("api-bad-release", rollout_seconds=3.0) as world, \
                    tempfile.TemporaryDirectory(prefix="bench-vol-") as tmp:
                inject(world, volume)
                samples: dict[str, list[Sample]] = {v: [] for v in variants}
                for _ in range(reps):
                    for variant in variants:
                        samples[variant].append(_measure(variant, world, Path(tmp), meter))
                rows += _rows(volume, samples)
    section(f"2. capture at volume: events over 10 min, both groups, {STREAMS_PER_GROUP} streams each; median of {reps}")
    print("note: `aws logs filter-log-events` (CLI v1) stands in for `aws logs tail` (v2 only); inv capture also "
          "does the checklist's ECS reads; 'moto s' = server time in moto's FilterLogEvents handler (serialised "
          "by the World's lock); 'client ev/s' = events / (wall - moto s)")
    print(table(["events", "reader", "wall s", "ev/s", "moto s", "moto share", "client ev/s", "pages", "peak RSS MiB",
                 "wall vs cli-json"], rows))


def _rows(volume: int, samples: dict[str, list[Sample]]) -> list[list[str]]:
    rows = []
    base = med(s.seconds for s in samples.get("cli-json", samples[next(iter(samples))]))
    for variant, items in samples.items():
        wall, moto = med(s.seconds for s in items), med(s.moto_seconds for s in items)
        client = max(wall - moto, 1e-6)
        rows.append([f"{volume:,}", VARIANTS[variant], f"{wall:.2f}", f"{volume / wall:,.0f}", f"{moto:.2f}",
                     f"{moto / wall:.0%}", f"{volume / client:,.0f}", str(items[0].pages),
                     f"{max(s.rss_mib for s in items):.0f}", ratio(wall, base)])
    return rows
