"""HTTP to the broker API (and webhooks): a session that retries connection errors only, and short
one-line reasons for a request that failed or answered unexpectedly."""
from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

EXCERPT_CHARS = 120
CONNECT_RETRIES = 3
BACKOFF_FACTOR = 0.5
USER_AGENT = "sandbox-broker-rollback-toolkit/verify"


def make_session(connect_retries: int = CONNECT_RETRIES, backoff_factor: float = BACKOFF_FACTOR) -> requests.Session:
    """A session that retries connection errors only (never reads, never statuses)."""
    retry = Retry(
        total=connect_retries,
        connect=connect_retries,
        read=False,  # like 0 (never retried), but re-raises the original error: ReadTimeout stays one
        status=0,
        other=0,
        backoff_factor=backoff_factor,
        allowed_methods=None,
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters (with ``...`` when cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def request_error(exc: requests.RequestException) -> str:
    """A short reason for a request that got no HTTP answer."""
    if isinstance(exc, requests.ConnectTimeout):
        return f"cannot connect: timed out (after {CONNECT_RETRIES} retries)"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    reason = exc.args[0] if exc.args else exc
    if isinstance(reason, MaxRetryError):  # connection errors, retried and exhausted
        cause = str(reason.reason).split("): ", 1)[-1]  # drop urllib3's "HTTPConnection(host=..., port=...): "
        return f"cannot connect (after {CONNECT_RETRIES} retries): {excerpt(cause, 80)}"
    if isinstance(exc, requests.ConnectionError):
        return f"connection lost: {excerpt(str(reason), 80)}"
    return f"request failed: {type(exc).__name__}"


def status_detail(response: requests.Response) -> str:
    """``HTTP 503: <body excerpt>`` for an unexpected answer."""
    body = excerpt(response.text)
    return f"HTTP {response.status_code}: {body}" if body else f"HTTP {response.status_code} (empty body)"
