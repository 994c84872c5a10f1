"""Notifications: one JSON document per event of a run that changes AWS, POSTed to the webhook URL the
env var ``notify.webhook_env`` names (Slack-compatible ``text`` plus structured fields).

Sending happens off the critical path (a background thread, 5 s timeout); a webhook that fails,
answers an error or hangs is one ``warning:`` line on stderr and never changes what the task does.
The URL is never printed, and no token or secret is ever in a message.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import requests

from ops.config import Settings, token_from_env
from ops.redact import scrub

Event = Literal["started", "succeeded", "failed", "interrupted"]
TIMEOUT = 5.0
USER_AGENT = "sandbox-broker-rollback-toolkit/notify"
TEXT_VERBS = {"started": "started", "succeeded": "succeeded", "failed": "FAILED", "interrupted": "was INTERRUPTED"}


@dataclass(frozen=True)
class Change:
    """One service's change as the channel sees it."""

    service: str
    before: str
    after: str

    def to_json(self) -> dict[str, str]:
        return {"service": self.service, "from": self.before, "to": self.after}


@dataclass
class Notifier:
    """Sends a run's events; ``url`` None: notifications are off and nothing is sent."""

    url: str | None
    task: str
    caller: str
    api_service: str  # the service a message names when it has no change to name (ecs.api.service)
    secrets: tuple[str, ...] = ()  # scrubbed from every message (the URL itself, the API token)
    started: float = field(default_factory=time.monotonic)
    sent: list[dict[str, Any]] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _failed: list[str] = field(default_factory=list)  # why each undelivered event was not delivered

    @classmethod
    def for_run(cls, settings: Settings, task: str, caller: str) -> "Notifier":
        url = (os.environ.get(settings.notify.webhook_env) or "").strip() or None
        token = token_from_env(settings)
        return cls(url, task, caller, settings.api_service.service, tuple(s for s in (url, token) if s))

    def document(self, event: Event, changes: list[Change], capture: str | None, detail: str = "",
                 headline: str | None = None) -> dict[str, Any]:
        """The contract's document (``text`` for Slack, then the structured fields)."""
        service = changes[0].service if changes else self.api_service
        what = ", ".join(f"{c.before} -> {c.after}" if c.service == service else f"{c.service} {c.before} -> {c.after}"
                         for c in changes) or "no change"
        text = headline or f"{service} rollback {TEXT_VERBS[event]} by {self.caller}: {what}"
        if detail:
            text += f": {detail}"
        return {"text": self._clean(text), "event": event, "task": self.task, "caller": self.caller,
                "changes": [c.to_json() for c in changes], "capture": capture,
                "seconds": round(time.monotonic() - self.started)}

    def send(self, event: Event, changes: list[Change], capture: str | None = None, detail: str = "",
             headline: str | None = None) -> None:
        """Queue one event (in the background); nothing when notifications are off."""
        first = detail.splitlines()[0] if detail else ""
        document = self.document(event, changes, capture, first, headline)
        self.sent.append(document)
        if self.url is None:
            return
        thread = threading.Thread(target=self._post, args=(self.url, document), name=f"notify-{event}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def flush(self) -> None:
        """Wait (at most the timeout each) for the events still being sent, so the last one is delivered;
        then one ``warning:`` line for all that were not (never one per event)."""
        try:
            for thread in self._threads:
                thread.join(TIMEOUT + 1)
        except KeyboardInterrupt:  # do not wait for the channel
            self._failed.append("interrupted while sending")
        self._failed.extend(f"'{t.name.removeprefix('notify-')}': no answer" for t in self._threads if t.is_alive())
        self._threads.clear()
        if self._failed:
            reasons = "; ".join(dict.fromkeys(self._failed))
            _warn(f"{len(self._failed)} of {len(self.sent)} notifications not delivered to the webhook "
                  f"({reasons}); the task went on")
            self._failed.clear()

    def _post(self, url: str, document: dict[str, Any]) -> None:
        try:
            response = requests.post(url, json=document, timeout=TIMEOUT, allow_redirects=False,
                                     headers={"User-Agent": USER_AGENT})
        except requests.RequestException as exc:
            self._failed.append(f"'{document['event']}': {_reason(exc)}")
            return
        if not 200 <= response.status_code < 300:
            self._failed.append(f"'{document['event']}': HTTP {response.status_code}")

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = scrub(text, secret)
        return text


def _reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return f"no answer within {TIMEOUT:.0f}s"
    if isinstance(exc, requests.ConnectionError):
        return "cannot connect"
    return type(exc).__name__  # never the exception text: it holds the URL


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
