"""The world's FilterLogEvents (O(page)) against moto's original on the same data, over HTTP."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.logs.models import LogsBackend, logs_backends

from ops.sandbox import World, logfilter
from ops.sandbox.scenarios import API_LOG_GROUP
from ops.sandbox.wire import AwsError

GROUP = "/test/compare"
STREAMS = ("ecs/api/a", "ecs/api/b", "ecs/worker/c")
WORDS = ("INFO GET /healthz 200", "ERROR POST /v1/allocate 500 KeyError", "WARN slow request",
         "INFO job done", "ERROR fatal: cannot acquire job lock")


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with World(rollout_seconds=1.0) as w:
        yield w


@pytest.fixture(scope="module")
def logs(world: World) -> BaseClient:
    return boto3.client("logs", endpoint_url=world.aws_endpoint, region_name=world.region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def base(world: World, logs: BaseClient) -> int:
    """GROUP: three streams written in order (cross-stream timestamp ties), one with a backfill."""
    rng = random.Random(5)
    start = int(time.time() * 1000) - 3_600_000
    logs.create_log_group(logGroupName=GROUP)
    for name in STREAMS:
        logs.create_log_stream(logGroupName=GROUP, logStreamName=name)
        times = sorted(start + 2 * rng.randrange(0, 2_000) for _ in range(1_500))  # even: ties across streams
        put(logs, name, [(t, rng.choice(WORDS)) for t in times])
    backfill = sorted(start + 2 * rng.randrange(0, 2_000) + 1 for _ in range(400))  # odd, older than a's end
    put(logs, STREAMS[0], [(t, f"{rng.choice(WORDS)} backfill") for t in backfill])
    return start


def put(logs: BaseClient, stream: str, events: list[tuple[int, str]], group: str = GROUP) -> None:
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": t, "message": m} for t, m in events])


def backend(world: World) -> LogsBackend:
    return logs_backends[world.account_id][world.region]


def read_ours(logs: BaseClient, **query: Any) -> list[tuple[list[dict[str, Any]], bool]]:
    """Every page over HTTP: (events, whether a nextToken came with it)."""
    pages, token = [], None
    while True:
        answer = logs.filter_log_events(logGroupName=GROUP, **query, **({"nextToken": token} if token else {}))
        assert answer["searchedLogStreams"] == []
        token = answer.get("nextToken")
        pages.append((answer["events"], token is not None))
        if not token:
            return pages


def read_motos(world: World, names: list[str] | None = None, start: int | None = None, end: int | None = None,
               limit: int | None = None, pattern: str = "") -> list[tuple[list[dict[str, Any]], bool]]:
    """The same read through moto's own LogsBackend.filter_log_events (interleaved, as AWS is)."""
    pages, token = [], None
    while True:
        events, token, _ = LogsBackend.filter_log_events(
            backend(world), GROUP, names or [], start, end, limit, token, pattern, True)  # type: ignore[arg-type]
        pages.append((events, token is not None))
        if not token:
            return pages


def query(names: list[str] | None = None, prefix: str | None = None, start: int | None = None,
          end: int | None = None, limit: int | None = None, pattern: str = "") -> dict[str, Any]:
    given = {"logStreamNames": names, "logStreamNamePrefix": prefix, "startTime": start, "endTime": end,
             "limit": limit, "filterPattern": pattern}
    return {k: v for k, v in given.items() if v}


CASES = [
    {},
    {"limit": 1_000},
    {"limit": 7, "end_offset": 300},
    {"start_offset": 1_000, "end_offset": 2_000},  # boundaries land on events: both ends inclusive
    {"start_offset": 2_000, "end_offset": 2_000},  # one millisecond, ties across streams
    {"names": [STREAMS[1]], "limit": 250},
    {"names": [STREAMS[0], STREAMS[2], "no-such-stream"], "start_offset": 500, "limit": 333},
    {"prefix": "ecs/api/", "limit": 900},
    {"pattern": "ERROR", "limit": 100},
    {"pattern": '"job lock"'},
    {"pattern": "ERROR 500", "names": [STREAMS[1]], "limit": 10},
    {"pattern": "backfill", "start_offset": 100, "end_offset": 3_500, "limit": 50},
]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_pages_match_motos_original(world: World, logs: BaseClient, base: int, case: dict[str, Any]) -> None:
    start = base + case["start_offset"] if "start_offset" in case else None
    end = base + case["end_offset"] if "end_offset" in case else None
    prefix = case.get("prefix")
    names = case.get("names") or ([s for s in STREAMS if s.startswith(prefix)] if prefix else None)
    ours = read_ours(logs, **query(case.get("names"), prefix, start, end, case.get("limit"), case.get("pattern", "")))
    motos = read_motos(world, names, start, end, case.get("limit"), case.get("pattern", ""))
    assert ours == motos
    assert sum(len(page) for page, _ in ours) > 0


def test_order_is_timestamp_then_ingestion_then_request(world: World, logs: BaseClient) -> None:
    group = "/test/ties"
    logs.create_log_group(logGroupName=group)
    for name in ("a", "b"):
        logs.create_log_stream(logGroupName=group, logStreamName=name)
    at = int(time.time() * 1000) - 60_000
    for stream, message in (("a", "first"), ("b", "second"), ("a", "third")):
        put(logs, stream, [(at, message)], group)
    put(logs, "b", [(at - 1, "earliest")], group)
    events = logs.filter_log_events(logGroupName=group)["events"]
    assert [e["message"] for e in events] == ["earliest", "first", "second", "third"]  # moto's: a's both first


def test_token_survives_appends_during_the_read(world: World, logs: BaseClient) -> None:
    group = "/test/live"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    put(logs, "s", [(now - 10_000 + i, f"old {i}") for i in range(500)], group)
    first = logs.filter_log_events(logGroupName=group, limit=200)
    put(logs, "s", [(now + i, f"new {i}") for i in range(3)], group)  # after the cursor: read later
    put(logs, "s", [(now - 20_000, "before the cursor")], group)  # already passed: not read
    seen, token = [e["message"] for e in first["events"]], first["nextToken"]
    while token:
        page = logs.filter_log_events(logGroupName=group, limit=200, nextToken=token)
        seen += [e["message"] for e in page["events"]]
        token = page.get("nextToken")
    assert seen == [f"old {i}" for i in range(500)] + [f"new {i}" for i in range(3)]


def test_tokens_not_handed_out_for_the_group_are_invalid(logs: BaseClient, base: int) -> None:
    token = logs.filter_log_events(logGroupName=GROUP, limit=1)["nextToken"]
    assert logs.filter_log_events(logGroupName=GROUP, limit=1, nextToken=token)["events"]
    for group, bad in ((GROUP, "garbage"), (GROUP, token.replace(GROUP, "/other/group")),
                       (GROUP, f"{GROUP}@x@y@z"), (GROUP, f"{token}@1"), (API_LOG_GROUP, token)):
        assert error_of(logs, logGroupName=group, nextToken=bad) == (
            "InvalidParameterException", "The specified nextToken is invalid.", 400)


@pytest.mark.parametrize(("limit", "constraint"), [
    (0, "Member must have value greater than or equal to 1"),
    (-5, "Member must have value greater than or equal to 1"),
    (10_001, "Member must have value less than or equal to 10000"),
    ("ten", "Member must be an integer"),
    (2.5, "Member must be an integer"),
])
def test_limit_outside_one_to_ten_thousand_is_invalid(logs: BaseClient, base: int, limit: Any,
                                                      constraint: str) -> None:
    code, message, status = error_of(unvalidated(logs), logGroupName=GROUP, limit=limit)
    assert (code, status) == ("InvalidParameterException", 400)
    assert message.endswith(f"at 'limit' failed to satisfy constraint: {constraint}")


def test_limit_bounds_are_accepted(logs: BaseClient, base: int) -> None:
    assert len(logs.filter_log_events(logGroupName=GROUP, limit=1)["events"]) == 1
    assert len(logs.filter_log_events(logGroupName=GROUP, limit=10_000)["events"]) == 4_900  # all of them


def test_at_most_one_hundred_stream_names(world: World, logs: BaseClient, base: int) -> None:
    names = [STREAMS[0], *(f"no-such-stream-{i}" for i in range(99))]
    assert logs.filter_log_events(logGroupName=GROUP, logStreamNames=names, limit=5)["events"]
    code, message, status = error_of(unvalidated(logs), logGroupName=GROUP, logStreamNames=[*names, "one-more"])
    assert (code, status) == ("InvalidParameterException", 400)
    assert message.endswith("failed to satisfy constraint: Member must have length less than or equal to 100")
    with pytest.raises(AwsError, match="must be a list"):  # botocore would send a string's characters
        logfilter.LogFilter(backend(world)).filter(GROUP, "ecs/api/a", None, None, None, "")  # type: ignore[arg-type]


def unvalidated(logs: BaseClient) -> BaseClient:
    """The same endpoint without botocore's parameter validation: the world's own answer is seen."""
    return boto3.client("logs", endpoint_url=logs.meta.endpoint_url, region_name=logs.meta.region_name,
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(parameter_validation=False, retries={"max_attempts": 1}))


def error_of(logs: BaseClient, **params: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        logs.filter_log_events(**params)
    response: Any = raised.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_log_group_identifier_by_name_or_arn(world: World, logs: BaseClient, base: int) -> None:
    arn = f"arn:aws:logs:{world.region}:{world.account_id}:log-group:{GROUP}"
    expected = logs.filter_log_events(logGroupName=GROUP, limit=20)["events"]
    for identifier in (GROUP, arn, f"{arn}:*"):
        assert logs.filter_log_events(logGroupIdentifier=identifier, limit=20)["events"] == expected


def test_pages_stop_at_one_megabyte(world: World, logs: BaseClient) -> None:
    group = "/test/big"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000) - 60_000
    for batch in range(3):
        put(logs, "s", [(now + batch * 100 + i, f"{batch}-{i}-" + "x" * 10_000) for i in range(90)], group)
    sizes, token = [], None
    while True:
        page = logs.filter_log_events(logGroupName=group, **({"nextToken": token} if token else {}))
        sizes.append(sum(len(e["message"]) for e in page["events"]))
        token = page.get("nextToken")
        if not token:
            break
    assert len(sizes) == 3 and max(sizes) <= 1_048_576
    assert sum(sizes) == sum(len(f"{b}-{i}-") + 10_000 for b in range(3) for i in range(90))


def test_scan_budget_gives_partial_pages_with_tokens(world: World, logs: BaseClient, base: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    expected = [e for page, _ in read_motos(world, pattern="backfill") for e in page]
    monkeypatch.setattr(logfilter, "SCAN_BUDGET", 100)
    pages = read_ours(logs, filterPattern="backfill")
    assert [e for page, _ in pages for e in page] == expected
    assert len(pages) >= 4_900 // 100 and any(not page for page, _ in pages)  # partial, even empty, pages
