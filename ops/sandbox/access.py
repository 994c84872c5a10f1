"""The World's caller side (a mixin): the on-call role session it hands out, that role's policy,
the IAM gate in front of moto, and the webhook receiver notifications go to."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import partial
from typing import Any

from .authz import Gate, Handler
from .iam import WorldIam
from .simulate import simulate_principal_policy
from .webhook import WebhookReceiver

WEBHOOK_ENV = "SANDBOX_BROKER_ROLLBACK_WEBHOOK"  # the contract's default notify.webhook_env


class CallerAccess:
    """Who calls the world (an assumed-role session of ``sandbox-broker-oncall``) and may do what.

    ``World.env()`` hands out that session's keys: requests signed with them are evaluated
    against the role's policy (``role_policy()``, ``set_role_policy()``, ``deny()``). Any other
    credentials keep full access.
    """

    account_id: str
    region: str
    _lock: threading.RLock
    _iam: WorldIam | None = None
    _webhook: WebhookReceiver | None = None

    def _start_access(self, denied: Iterable[str], handlers: dict[str, Handler]) -> Gate:
        """Create and assume the role (``denied`` actions explicitly denied), start the webhook."""
        self._iam = WorldIam(self.account_id, self.region)
        self._iam.install(denied)
        self._webhook = WebhookReceiver()
        self._webhook.start()
        served: dict[str, Handler] = {"iam:SimulatePrincipalPolicy": partial(simulate_principal_policy, self._iam),
                  **handlers}
        return Gate(self._iam, served)

    def _stop_access(self) -> None:
        if self._webhook is not None:
            self._webhook.stop()
            self._webhook = None

    def _access_env(self) -> dict[str, str]:
        """The session's credentials and the webhook URL, for ``World.env()``."""
        session = self._require_iam().session
        assert session is not None
        return {"AWS_ACCESS_KEY_ID": session.access_key_id,
                "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
                "AWS_SESSION_TOKEN": session.session_token, WEBHOOK_ENV: self.webhook_url}

    def _require_iam(self) -> WorldIam:
        if self._iam is None:
            raise RuntimeError("the World is not running; use it as a context manager")
        return self._iam

    # -- the role ------------------------------------------------------------------------------

    @property
    def role_arn(self) -> str:
        """``arn:aws:iam::ACCOUNT:role/sandbox-broker-oncall``: the on-call role."""
        return self._require_iam().role_arn

    @property
    def caller_arn(self) -> str:
        """``arn:aws:sts::ACCOUNT:assumed-role/sandbox-broker-oncall/SESSION``: who env() is."""
        session = self._require_iam().session
        assert session is not None
        return session.arn

    def role_policy(self) -> dict[str, Any]:
        """The on-call role's policy document now."""
        with self._lock:
            return self._require_iam().policy()

    def set_role_policy(self, document: dict[str, Any]) -> None:
        """Replace the on-call role's policy (validated as IAM does)."""
        with self._lock:
            self._require_iam().set_policy(document)

    def deny(self, *actions: str) -> None:
        """Explicitly deny ``actions`` (``ecs:UpdateService``, ``ssm:*``) to the on-call role."""
        with self._lock:
            self._require_iam().deny(actions)

    # -- the webhook ---------------------------------------------------------------------------

    @property
    def webhook(self) -> WebhookReceiver:
        """The receiver ``SANDBOX_BROKER_ROLLBACK_WEBHOOK`` points at (``received()``, ...)."""
        if self._webhook is None:
            raise RuntimeError("the World is not running; use it as a context manager")
        return self._webhook

    @property
    def webhook_url(self) -> str:
        """``http://127.0.0.1:N/webhook``."""
        return self.webhook.url
