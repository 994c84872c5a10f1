"""The log file writer: one event a line, in time order, re-sorted on disk in bounded chunks."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from ops.aws.logs import Pace, Window, format_event, iso_ms, write_events


def test_lines_are_iso_time_stream_message_with_newlines_escaped() -> None:
    line = format_event({"timestamp": 1_700_000_000_123, "logStreamName": "ecs/api/1", "message": "a\nb\r\n"})
    assert line == "2023-11-14T22:13:20.123Z ecs/api/1 a\\nb\\r\n"
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"


def test_window_is_the_last_seconds_in_milliseconds() -> None:
    window = Window.last(600, now=1_700_000_000.5)
    assert (window.start_ms, window.end_ms) == (1_699_999_400_500, 1_700_000_000_500)


def test_out_of_order_events_are_sorted_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ops.aws.logs.SORT_CHUNK_LINES", 7)  # force several on-disk chunks
    stamps = list(range(1_700_000_000_000, 1_700_000_000_000 + 100 * 1000, 1000))
    shuffled = stamps[:]
    random.Random(4).shuffle(shuffled)
    stats = write_events(({"timestamp": t, "logStreamName": "s", "message": str(t)} for t in shuffled), tmp_path / "x.txt")
    lines = (tmp_path / "x.txt").read_text().splitlines()
    assert stats.events == 100 and stats.resorted
    assert [int(line.rsplit(" ", 1)[1]) for line in lines] == stamps
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_pace_keeps_requests_within_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pace = Pace(rate=5, clock=lambda: now[0], sleep=sleep)
    for _ in range(15):
        pace.take()
    assert now[0] == pytest.approx(2.0)  # a burst of 5, then 10 more at 5 a second
    assert all(s <= 0.2 + 1e-9 for s in slept)


def test_slices_cover_the_window_without_gaps_or_overlaps() -> None:
    from ops.aws.logs import _slices

    window = Window(1_000, 2_000)
    parts = _slices(window, 4)
    assert parts[0].start_ms == 1_000 and parts[-1].end_ms == 2_000
    assert all(a.end_ms + 1 == b.start_ms for a, b in zip(parts, parts[1:], strict=False))
    assert _slices(Window(5, 6), 4) == [Window(5, 5), Window(6, 6)]  # never an empty slice
