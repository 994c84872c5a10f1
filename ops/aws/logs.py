"""A windowed, streaming reader of CloudWatch Logs (``filter_log_events``, paginated).

Events go to disk a page at a time, so memory does not grow with log volume. Lines are
``<ISO-8601 UTC time> <log stream> <message>``, in time order.
"""
from __future__ import annotations

import functools
import heapq
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, Iterator

from ops.files import open_private

SORT_CHUNK_LINES = 50_000


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


def iter_events(
    logs: Any, group: str, window: Window, filter_pattern: str | None = None, page_size: int | None = None
) -> Iterator[dict[str, Any]]:
    """Every event of ``group`` inside ``window``, page by page."""
    params: dict[str, Any] = {"logGroupName": group, "startTime": window.start_ms, "endTime": window.end_ms}
    if filter_pattern:
        params["filterPattern"] = filter_pattern
    pagination = {"PageSize": page_size} if page_size else {}
    for page in logs.get_paginator("filter_log_events").paginate(**params, PaginationConfig=pagination):
        for event in page.get("events", []):
            if window.start_ms <= int(event.get("timestamp", 0)) <= window.end_ms:
                yield event


@dataclass(frozen=True)
class LogFileStats:
    events: int
    resorted: bool


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
