"""Section 2: ``inv capture`` at incident-scale log volume, beside the CLI on the same data.

Events are injected straight into moto's in-process Logs backend (several streams per group,
timestamps spread over the 4 minutes before the injection, so every reader of a run, even one that starts
minutes later, still finds all of them inside ``--since 10m``: each reader must get every injected event, and the
rates are counted from the events the World actually served). The World answers
``FilterLogEvents`` itself (``ops/sandbox/logfilter.py``: sorted per-stream indexes, O(page) per page,
served at its HTTP layer in front of moto); that server time is measured by wrapping ``LogFilter.serve``
and the client-side rate (events / (wall - server time)) is shown beside the raw rate.

``inv capture`` paces every FilterLogEvents request within the quota (5 per second per account and
Region, ``ops/aws/logs.py``); the CLI is not paced, and the World does not throttle it. So the
toolkit's wall time has a floor of about (requests - 5) / 5 s, shown as '5 TPS floor'.
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
    RATIO_HEADERS,
    ROOT,
    WORKER_LOGS,
    Measured,
    aws_argv,
    cli_env,
    inv_env,
    med,
    ratios,
    run_measured,
    section,
    table,
)
from ops.aws.logs import FILTER_TPS
from ops.sandbox import runbook

STREAMS_PER_GROUP = 8
SPREAD_MS = 4 * 60 * 1000  # a reader starting up to ~6 min after the injection still sees every event
BATCH = 10_000
MESSAGE = ('{{"level":"error","msg":"allocate failed","sandbox":"sbx-{i:07d}","pool":"gcp-eu-west",'
           '"error":"context deadline exceeded","latency_ms":{lat}}}')


class FilterMeter:
    """Server-side seconds the World spends answering FilterLogEvents (``LogFilter.serve``: the page's
    merge, filter and JSON encoding, under the World's lock), how many requests it answered, and how many
    events it served (``LogFilter.filter``).

    The World binds ``LogFilter(...).serve`` when it is built, so install this before the World starts.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self.events = 0
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator["FilterMeter"]:
        from ops.sandbox.logfilter import LogFilter

        original: Callable[..., Any] = LogFilter.serve
        original_filter: Callable[..., Any] = LogFilter.filter
        meter = self

        def timed(self_: Any, request: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(self_, request)
            finally:
                with meter._lock:
                    meter.seconds += time.perf_counter() - started
                    meter.calls += 1

        def counted(self_: Any, *args: Any, **kwargs: Any) -> Any:
            events, token = original_filter(self_, *args, **kwargs)
            with meter._lock:
                meter.events += len(events)
            return events, token

        LogFilter.serve = timed  # type: ignore[method-assign,assignment]
        LogFilter.filter = counted  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            LogFilter.serve = original  # type: ignore[method-assign]
            LogFilter.filter = original_filter  # type: ignore[method-assign]

    def take(self) -> tuple[float, int, int]:
        """Seconds, requests and events since the last take."""
        with self._lock:
            taken = self.seconds, self.calls, self.events
            self.seconds, self.calls, self.events = 0.0, 0, 0
        return taken


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
    server_seconds: float
    pages: int  # FilterLogEvents requests the World answered
    events: int  # events the World served to this reader


def _inv_capture(env: dict[str, str], meter: FilterMeter) -> Sample:
    meter.take()
    result = run_measured([INV, "-r", str(ROOT), "capture"], env)
    assert result.code == 0, f"inv capture exited {result.code}"
    return Sample(result.seconds, result.rss_mib, *meter.take())


def _cli_logs(env: dict[str, str], out: Path, meter: FilterMeter, text: bool) -> Sample:
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
    return Sample(seconds, rss, *meter.take())


VARIANTS = {
    "inv": "inv capture (whole checklist)",
    "cli-json": "aws logs filter-log-events x2 (json, as written)",
    "cli-text": "aws logs filter-log-events x2 (--output text)",
}


def _measure(variant: str, world: Any, home: Path, meter: FilterMeter) -> Sample:
    if variant == "inv":
        return _inv_capture(inv_env(world, home / "inv"), meter)
    return _cli_logs(cli_env(world, home / "cli"), home / "cli-out.txt", meter, text=variant == "cli-text")


def run(volumes: list[int], reps: int, variants: list[str]) -> None:
    from ops.sandbox import World

    rows: list[list[str]] = []
    compared: list[list[str]] = []
    meter = FilterMeter()
    with meter.installed():
        for volume in volumes:
            with World("api-bad-release", rollout_seconds=3.0) as world, \
                    tempfile.TemporaryDirectory(prefix="bench-vol-") as tmp:
                inject(world, volume)
                samples: dict[str, list[Sample]] = {v: [] for v in variants}
                for _ in range(reps):
                    for variant in variants:
                        sample = _measure(variant, world, Path(tmp), meter)
                        assert sample.events >= volume, (
                            f"{variant} got {sample.events:,} of the {volume:,} injected events: the window moved "
                            "past them (raise SPREAD_MS's margin)")
                        samples[variant].append(sample)
                rows += _rows(volume, samples)
                compared += _compared(volume, samples)
    section(f"2. capture at volume: events over 10 min, both groups, {STREAMS_PER_GROUP} streams each; median of {reps}")
    print("note: `aws logs filter-log-events` (CLI v1) stands in for `aws logs tail` (v2 only); inv capture also "
          "does the checklist's ECS reads; 'server s' = time in the World's own FilterLogEvents "
          "(ops/sandbox/logfilter.py, serialised by the World's lock); 'ev/s' and 'client ev/s' = events the World served / wall and / (wall - server s); "
          "'pages' = FilterLogEvents requests the World answered; inv paces them at 5 TPS (the quota), "
          "the CLI does not (the World does not throttle)")
    print(table(["events", "reader", "wall s", "ev/s", "server s", "server share", "client ev/s", "pages",
                 "5 TPS floor s", "peak RSS MiB"], rows))
    if compared:
        print("\ninv capture (toolkit) vs the CLI reading the same window (runbook), wall time and peak RSS:")
        print(table(["events", "runbook reader", "runbook s", "toolkit s", *RATIO_HEADERS, "runbook RSS MiB",
                     "toolkit RSS MiB"], compared))


def _floor(pages: int) -> float:
    """Seconds the 5 TPS token bucket (bursts of 5) needs for ``pages`` requests."""
    return max(0.0, (pages - FILTER_TPS) / FILTER_TPS)


def _rows(volume: int, samples: dict[str, list[Sample]]) -> list[list[str]]:
    rows = []
    for variant, items in samples.items():
        wall, server = med(s.seconds for s in items), med(s.server_seconds for s in items)
        client = max(wall - server, 1e-6)
        pages, events = max(s.pages for s in items), med(s.events for s in items)
        rows.append([f"{volume:,}", VARIANTS[variant], f"{wall:.2f}", f"{events / wall:,.0f}", f"{server:.2f}",
                     f"{server / wall:.0%}", f"{events / client:,.0f}", str(pages),
                     f"{_floor(pages):.1f}" if variant == "inv" else "-",
                     f"{max(s.rss_mib for s in items):.0f}"])
    return rows


def _compared(volume: int, samples: dict[str, list[Sample]]) -> list[list[str]]:
    if "inv" not in samples:
        return []
    inv = samples["inv"]
    toolkit, toolkit_rss = med(s.seconds for s in inv), max(s.rss_mib for s in inv)
    rows = []
    for variant, items in samples.items():
        if variant == "inv":
            continue
        runbook = med(s.seconds for s in items)
        rows.append([f"{volume:,}", VARIANTS[variant], f"{runbook:.2f}", f"{toolkit:.2f}", *ratios(toolkit, runbook),
                     f"{max(s.rss_mib for s in items):.0f}", f"{toolkit_rss:.0f}"])
    return rows
