"""CloudWatch Logs ``FilterLogEvents`` for the world in O(page): sorted per-stream indexes over
moto's events, merged by time, and a next token that names a position, not a list index.

moto's own implementation filters, sorts and converts every event of the group on every page and
finds the token by a linear scan. Served at the HTTP layer because moto's response handler also
drops ``logStreamNamePrefix`` and ``logGroupIdentifier``. Semantics, as AWS documents them:
``startTime`` and ``endTime`` both inclusive; events ordered by timestamp, then ingestion time,
then PutLogEvents request (moto's event id grows with each request); pages of up to ``limit``
(default and maximum 10,000) events and 1 MB of messages; a page may be partial, even empty, with
a token (after ``SCAN_BUDGET`` events examined); no token means the read is complete; a token
this group's reads did not hand out, a ``limit`` outside 1..10,000 and more than 100
``logStreamNames`` are answered InvalidParameterException;
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

from .resources import log_group_name
from .wire import Answer, AwsError, Request, json_answer, json_error

MAX_LIMIT = 10_000
MAX_STREAMS = 100  # logStreamNames: at most 100 names
PAGE_BYTES = 1_048_576
SCAN_BUDGET = 200_000
Entry = tuple[int, int, int, str, LogEvent]  # timestamp, ingestion time, event id, stream, event
Cursor = tuple[int, ...]


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
        except AwsError as error:
            return json_error(error.code, error.message, error.status)
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
            raise AwsError("ResourceNotFoundException", "The specified log group does not exist.")
        _check_names(stream_names)
        if stream_names and prefix:
            raise _invalid("logStreamNames and logStreamNamePrefix are mutually exclusive.")
        cursor = _decode(token, group_name) if token else ()
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


def _decode(token: Any, group_name: str) -> Cursor:
    """The position just after the token's event; InvalidParameterException for anything but a
    token a read of this group handed out."""
    parts = token.rsplit("@", 3) if isinstance(token, str) else []
    try:
        if len(parts) == 4 and parts[0] == group_name:
            return int(parts[1]), int(parts[2]), int(parts[3]) + 1
    except ValueError:
        pass
    raise _invalid("The specified nextToken is invalid.")


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


def _violation(value: Any, member: str, constraint: str) -> AwsError:
    """AWS's wording for a parameter outside its documented constraint."""
    return _invalid(f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
                    f"constraint: {constraint}")


def _check_names(names: Any) -> None:
    if names is None:
        return
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise _invalid("logStreamNames must be a list of log stream names.")
    if len(names) > MAX_STREAMS:
        raise _violation(names, "logStreamNames",
                         f"Member must have length less than or equal to {MAX_STREAMS}")


def _group_name(params: dict[str, Any]) -> str:
    name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
    if name and identifier:
        raise _invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if identifier:
        return log_group_name(str(identifier))
    if not name:
        raise _invalid("Either logGroupName or logGroupIdentifier must be specified.")
    return str(name)


def _limit(raw: Any) -> int:
    """The page size asked for: an integer from 1 to 10,000 (absent: 10,000)."""
    if raw is None:
        return MAX_LIMIT
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise _violation(raw, "limit", "Member must be an integer")
    if raw < 1:
        raise _violation(raw, "limit", "Member must have value greater than or equal to 1")
    if raw > MAX_LIMIT:
        raise _violation(raw, "limit", f"Member must have value less than or equal to {MAX_LIMIT}")
    return raw
