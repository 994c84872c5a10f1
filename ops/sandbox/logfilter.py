"""CloudWatch Logs ``FilterLogEvents`` for the world in O(page): sorted per-stream indexes over
moto's events, merged by time, and a next token that names a position, not a list index.

moto's own implementation filters, sorts and converts every event of the group on every page and
finds the token by a linear scan. Served at the HTTP layer because moto's response handler also
drops ``logStreamNamePrefix`` and ``logGroupIdentifier``. Semantics, as AWS documents them:
``startTime`` and ``endTime`` both inclusive; events ordered by timestamp, then ingestion time,
then PutLogEvents request (moto's event id grows with each request); pages of up to ``limit``
(default and maximum 10,000) events and 1 MB of messages; a page may be partial, even empty, with
a token (after ``SCAN_BUDGET`` events examined); no token means the read is complete;
``searchedLogStreams`` is the empty list AWS has returned since 2020. Events appended during a read
appear in a later page when they sort after the token's position, and no event appears twice.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from moto.logs.models import LogEvent, LogGroup, LogsBackend, LogStream
from moto.logs.utils import EventMessageFilter

from .wire import Answer, Request, json_answer, json_error

MAX_LIMIT = 10_000
PAGE_BYTES = 1_048_576
SCAN_BUDGET = 200_000
Entry = tuple[int, int, int, str, LogEvent]  # timestamp, ingestion time, event id, stream, event
Cursor = tuple[int, ...]


class FilterError(Exception):
    """An error answer of FilterLogEvents."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class _StreamIndex:
    """One stream's events sorted by (timestamp, ingestion time, event id), kept up to date."""

    def __init__(self, stream: LogStream) -> None:
        self.stream = stream
        self.entries: list[Entry] = []
        self.seen = 0

    def sync(self) -> list[Entry]:
        """Take in events moto appended since the last call; return the sorted entries."""
        events = self.stream.events
        if len(events) < self.seen:  # something removed events: start over
            self.entries, self.seen = [], 0
        if len(events) == self.seen:
            return self.entries
        name = self.stream.log_stream_name
        new = sorted((e.timestamp, e.ingestion_time, e.event_id, name, e) for e in events[self.seen:])
        self.seen = len(events)
        in_order = not self.entries or new[0] > self.entries[-1]
        self.entries.extend(new)
        if not in_order:  # keys are unique (event ids), so tuples never compare past them
            self.entries.sort()
        return self.entries


class LogFilter:
    """FilterLogEvents over one moto Logs backend (call with the world's lock held)."""

    def __init__(self, backend: LogsBackend) -> None:
        self.backend = backend
        self._indexes: dict[tuple[str, str], _StreamIndex] = {}

    def serve(self, request: Request) -> Answer:
        """The HTTP answer to a FilterLogEvents request."""
        params = request.params
        try:
            events, token = self.filter(
                _group_name(params), params.get("logStreamNames"), params.get("logStreamNamePrefix"),
                params.get("startTime"), params.get("endTime"), params.get("filterPattern") or "",
                _limit(params.get("limit")), params.get("nextToken"))
        except FilterError as error:
            return json_error(error.code, error.message)
        payload: dict[str, Any] = {"events": events, "searchedLogStreams": []}
        if token:
            payload["nextToken"] = token
        return json_answer(payload)

    def filter(self, group_name: str, stream_names: list[str] | None, prefix: str | None,
               start: int | None, end: int | None, pattern: str, limit: int = MAX_LIMIT,
               token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of matching events, in AWS's order, and the token for the next (or None)."""
        group = self.backend.groups.get(group_name)
        if group is None:
            raise FilterError("ResourceNotFoundException", "The specified log group does not exist.")
        if stream_names and prefix:
            raise FilterError("InvalidParameterException",
                              "logStreamNames and logStreamNamePrefix are mutually exclusive.")
        cursor = _decode(token, group_name) if token else ()
        if cursor is None:  # as moto: an unusable token reads as the end
            return [], None
        lower: Cursor = max((start,) if start else (), cursor)
        upper: Cursor | None = (end + 1,) if end else None
        runs = [self._run(group, s, lower, upper) for s in _streams(group, stream_names, prefix)]
        page, last, more = _collect(heapq.merge(*runs), pattern, limit)
        return [_event(entry) for entry in page], _encode(group_name, last) if more and last else None

    def _run(self, group: LogGroup, stream: LogStream, lower: Cursor,
             upper: Cursor | None) -> Iterator[Entry]:
        key = (group.name, stream.log_stream_name)
        index = self._indexes.get(key)
        if index is None or index.stream is not stream:
            index = self._indexes[key] = _StreamIndex(stream)
        entries = index.sync()
        first = bisect_left(entries, lower)
        stop = bisect_left(entries, upper) if upper else len(entries)
        return map(entries.__getitem__, range(first, stop))


def _collect(merged: Iterator[Entry], pattern: str, limit: int) -> tuple[list[Entry], Entry | None, bool]:
    """Fill a page: (entries, the last entry consumed, whether more may follow)."""
    matches = EventMessageFilter(pattern).matches if pattern else None
    page: list[Entry] = []
    size = 0
    last: Entry | None = None
    for scanned, entry in enumerate(merged, start=1):
        if matches is None or matches(entry[4].message):
            length = len(entry[4].message.encode("utf-8"))
            if len(page) == limit or (page and size + length > PAGE_BYTES):
                return page, last, True
            page.append(entry)
            size += length
        last = entry
        if scanned >= SCAN_BUDGET:
            return page, last, True
    return page, last, False


def _streams(group: LogGroup, names: list[str] | None, prefix: str | None) -> list[LogStream]:
    if names:
        return [group.streams[n] for n in dict.fromkeys(names) if n in group.streams]
    return [s for n, s in group.streams.items() if not prefix or n.startswith(prefix)]


def _event(entry: Entry) -> dict[str, Any]:
    event = entry[4].to_filter_dict()
    event["logStreamName"] = entry[3]
    return event


def _encode(group_name: str, entry: Entry) -> str:
    return f"{group_name}@{entry[0]}@{entry[1]}@{entry[2]}"


def _decode(token: str, group_name: str) -> Cursor | None:
    """The position just after the token's event, or None for a token of another group or none."""
    group, _, rest = token.partition("@")
    try:
        timestamp, ingestion, event_id = (int(part) for part in rest.split("@"))
    except ValueError:
        return None
    return (timestamp, ingestion, event_id + 1) if group == group_name else None


def _group_name(params: dict[str, Any]) -> str:
    name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
    if name and identifier:
        raise FilterError("InvalidParameterException",
                          "LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if identifier:
        return str(identifier).split(":log-group:", 1)[-1].removesuffix(":*")
    if not name:
        raise FilterError("InvalidParameterException",
                          "Either logGroupName or logGroupIdentifier must be specified.")
    return str(name)


def _limit(raw: Any) -> int:
    if raw is None:
        return MAX_LIMIT
    if int(raw) > MAX_LIMIT:
        raise FilterError("InvalidParameterException",
                          f"1 validation error detected: Value '{raw}' at 'limit' failed to satisfy "
                          f"constraint: Member must have value less than or equal to {MAX_LIMIT}")
    return int(raw)
