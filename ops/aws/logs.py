"""A windowed, streaming reader of CloudWatch Logs (``filter_log_events``, paginated).

Events go to disk a page at a time, so memory does not grow with log volume. Lines are
``<ISO-8601 UTC time> <log stream> <message>``, in time order. A window that holds more than one
page is read in time slices side by side (each slice to its own file, joined in order), every
request paced within FilterLogEvents' quota.
"""
from __future__ import annotations

import functools
import heapq
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Generator, Iterable, Iterator

from ops.files import open_private

SORT_CHUNK_LINES = 50_000
FILTER_TPS = 5.0  # CloudWatch Logs: FilterLogEvents is 5 transactions per second per account and Region
SLICES = 2  # readers side by side per log group once it holds more than a page (4 for both: enough for 5 TPS)


@dataclass(frozen=True)
class Window:
    """``[start_ms, end_ms]`` in epoch milliseconds, as CloudWatch Logs takes it."""

    start_ms: int
    end_ms: int

    @classmethod
    def last(cls, seconds: int, now: float | None = None) -> "Window":
        end = int((time.time() if now is None else now) * 1000)
        return cls(start_ms=end - seconds * 1000, end_ms=end)

    def to_json(self) -> dict[str, Any]:
        return {"start": iso_ms(self.start_ms), "end": iso_ms(self.end_ms), "startMs": self.start_ms, "endMs": self.end_ms}


def iso_ms(epoch_ms: int) -> str:
    """Epoch milliseconds -> ``2026-11-28T16:24:12.345Z``."""
    seconds, millis = divmod(int(epoch_ms), 1000)
    return f"{_iso_second(seconds)}{millis:03d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_second(epoch_seconds: int) -> str:
    """``2026-11-28T16:24:12.`` for one epoch second (log events bunch up: formatted once per second)."""
    return datetime.fromtimestamp(epoch_seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")


def format_event(event: dict[str, Any]) -> str:
    """One event as one line (newlines inside the message are escaped)."""
    message = str(event.get("message", "")).rstrip("\n").replace("\r", "\\r").replace("\n", "\\n")
    return f"{iso_ms(int(event.get('timestamp', 0)))} {event.get('logStreamName', '-')} {message}\n"


class Pace:
    """A token bucket shared by every reader of one run: at most ``rate`` requests a second (bursts of ``rate``)."""

    def __init__(self, rate: float = FILTER_TPS, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate, self._clock, self._sleep = rate, clock, sleep
        self._tokens, self._at = rate, clock()
        self._lock = threading.Lock()

    def take(self) -> None:
        """Wait for the next request's turn."""
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
                self._at = now
                if self._tokens >= 1 - 1e-9:  # (float dust must not spin the loop)
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            self._sleep(wait)


def pages(logs: Any, group: str, window: Window, pace: Pace, page_size: int | None = None
          ) -> Generator[tuple[list[dict[str, Any]], bool], None, None]:
    """``(events inside the window, more pages follow)`` per FilterLogEvents page, each request paced
    (the quota is per account and Region: pass the run's ``Runtime.log_pace``)."""
    params: dict[str, Any] = {"logGroupName": group, "startTime": window.start_ms, "endTime": window.end_ms}
    if page_size:
        params["limit"] = page_size
    while True:
        pace.take()
        answer = logs.filter_log_events(**params)
        events = [e for e in answer.get("events", []) if window.start_ms <= int(e.get("timestamp", 0)) <= window.end_ms]
        token = answer.get("nextToken")
        yield events, bool(token)
        if not token:
            return
        params["nextToken"] = token


def iter_events(logs: Any, group: str, window: Window, pace: Pace, page_size: int | None = None
                ) -> Iterator[dict[str, Any]]:
    """Every event of ``group`` inside ``window``, page by page."""
    for events, _ in pages(logs, group, window, pace, page_size):
        yield from events


@dataclass(frozen=True)
class LogFileStats:
    events: int
    resorted: bool


def write_window(logs: Any, group: str, window: Window, path: Path, pace: Pace,
                 slices: int = SLICES, page_size: int | None = None) -> LogFileStats:
    """Every event of ``group`` in ``window`` to ``path``, in time order. A window of one page is one
    request; a larger one is read again in ``slices`` time slices side by side, each to its own file,
    joined in order (memory stays flat; one request spent to learn the size, whatever order pages have)."""
    first = pages(logs, group, window, pace, page_size)
    events, more = next(first)
    first.close()
    if not more:
        return write_events(events, path)
    parts = _slices(window, slices)
    files = [path.with_name(f"{path.name}.slice{i}") for i in range(len(parts))]
    try:
        with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="log-slice") as pool:
            stats = list(pool.map(lambda i: write_events(iter_events(logs, group, parts[i], pace, page_size), files[i]),
                                  range(len(parts))))
        _join(files, path)
    finally:
        for file in files:
            file.unlink(missing_ok=True)
    return LogFileStats(events=sum(s.events for s in stats), resorted=any(s.resorted for s in stats))


def _slices(window: Window, count: int) -> list[Window]:
    """``count`` consecutive windows covering ``window`` (ends inclusive, as FilterLogEvents takes them)."""
    span = window.end_ms - window.start_ms + 1
    count = max(1, min(count, span))
    bounds = [window.start_ms + span * i // count for i in range(count + 1)]
    return [Window(bounds[i], bounds[i + 1] - 1) for i in range(count)]


def _join(parts: list[Path], path: Path) -> None:
    with open_private(path, "wb") as out:
        for part in parts:
            with open(part, "rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)


def write_events(events: Iterable[dict[str, Any]], path: Path) -> LogFileStats:
    """Stream ``events`` to ``path`` (0600); re-sort on disk, in bounded memory, if out of order."""
    count, last, in_order = 0, -1, True
    with open_private(path) as handle:
        for event in events:
            stamp = int(event.get("timestamp", 0))
            in_order = in_order and stamp >= last
            last = max(last, stamp)
            handle.write(format_event(event))
            count += 1
    if not in_order:
        _external_sort(path)
    return LogFileStats(events=count, resorted=not in_order)


def _external_sort(path: Path) -> None:
    """Sort a file's lines (ISO timestamps first, so text order is time order) in chunks."""
    chunk_paths: list[Path] = []
    with open(path, encoding="utf-8") as source:
        while chunk := list(islice(source, SORT_CHUNK_LINES)):
            chunk.sort(key=lambda line: line[:24])
            chunk_path = path.with_name(f"{path.name}.sort{len(chunk_paths)}")
            with open_private(chunk_path) as out:
                out.writelines(chunk)
            chunk_paths.append(chunk_path)
    handles = [open(p, encoding="utf-8") for p in chunk_paths]
    try:
        with open_private(path) as out:
            out.writelines(heapq.merge(*handles, key=lambda line: line[:24]))
    finally:
        for handle, chunk_path in zip(handles, chunk_paths, strict=True):
            handle.close()
            os.unlink(chunk_path)
