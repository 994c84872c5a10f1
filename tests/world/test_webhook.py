"""The local webhook receiver: real HTTP on 127.0.0.1, recording, errors, hangs, the World's own."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from ops.sandbox import World
from ops.sandbox.webhook import WebhookReceiver

MESSAGE = {"text": "sandbox-broker rollback started", "event": "started", "task": "rollback.api"}


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def test_records_each_post(hook: WebhookReceiver) -> None:
    before = time.time()
    answer = requests.post(hook.url, json=MESSAGE, timeout=5)
    assert (answer.status_code, answer.text) == (200, "ok")
    requests.post(hook.url.replace("/webhook", "/services/T0/B0/x"), data=b"not json", timeout=5)
    first, second = hook.wait_for(2, timeout=5)
    assert first.path == "/webhook" and first.json == MESSAGE
    assert first.headers["Content-Type"] == "application/json"
    assert before <= first.received_at <= second.received_at <= time.time()
    assert (second.path, second.raw, second.json) == ("/services/T0/B0/x", b"not json", None)
    assert hook.url.startswith("http://127.0.0.1:")


def test_answers_errors_for_the_next_requests(hook: WebhookReceiver) -> None:
    hook.fail(503, times=2)
    codes = [requests.post(hook.url, json={"n": n}, timeout=5).status_code for n in range(3)]
    assert codes == [503, 503, 200]
    assert [d.json["n"] for d in hook.received()] == [0, 1, 2]


def test_hangs_then_answers_and_others_are_served_meanwhile(hook: WebhookReceiver) -> None:
    hook.hang(30.0)  # held past every client timeout below: the quick answer cannot wait for it
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(hook.url, json={"n": "hung"}, timeout=0.5)
    quick = requests.post(hook.url, json={"n": "next"}, timeout=5)  # served while the first still hangs
    assert quick.status_code == 200
    assert [d.json["n"] for d in hook.wait_for(2)] == ["hung", "next"]
    hook.hang(0.3, status=500)
    assert requests.post(hook.url, json={}, timeout=5).status_code == 500


def test_stop_lets_a_hanging_request_go_and_frees_the_port() -> None:
    hook = WebhookReceiver()
    hook.start()
    port = port_of(hook.url)
    hook.hang(30.0)
    failures: list[BaseException] = []

    def post() -> None:
        try:
            requests.post(hook.url, json={}, timeout=60)
        except requests.exceptions.RequestException as error:
            failures.append(error)

    client = threading.Thread(target=post)
    client.start()
    hook.wait_for(1)
    hook.stop()
    client.join(timeout=10)  # the hang is 30 s: a client still waiting was not let go
    assert not client.is_alive()
    assert len(failures) == 1  # dropped unanswered, not answered late
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    hook.stop()  # idempotent


def test_concurrent_posts_are_all_recorded(hook: WebhookReceiver) -> None:
    threads = [threading.Thread(target=requests.post, args=(hook.url,), kwargs={"json": {"n": n}, "timeout": 10})
               for n in range(20)]
    for thread in threads:
        thread.start()
    assert sorted(d.json["n"] for d in hook.wait_for(20, timeout=10)) == list(range(20))
    for thread in threads:
        thread.join()
    hook.clear()
    assert hook.received() == []


def test_wait_for_times_out_and_get_is_not_recorded(hook: WebhookReceiver) -> None:
    assert requests.get(hook.url, timeout=5).status_code == 501
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="0 of 1"):
        hook.wait_for(1, timeout=0.3)
    assert time.monotonic() - started >= 0.3


def test_the_world_owns_one_and_env_points_at_it() -> None:
    with World(rollout_seconds=1.0) as world:
        url = world.env()["SANDBOX_BROKER_ROLLBACK_WEBHOOK"]
        assert url == world.webhook_url
        requests.post(url, json=MESSAGE, timeout=5)
        assert [d.json for d in world.webhook.wait_for(1)] == [MESSAGE]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port_of(url))) != 0
    with pytest.raises(RuntimeError, match="not running"):
        _ = world.webhook_url
