"""IAM identity-policy evaluation: Allow/Deny, Action/NotAction, Resource/NotResource, wildcards.

The rules AWS documents for one account's identity-based policies: a request is allowed when a
statement allows it and none denies it (an explicit Deny always wins); otherwise it is implicitly
denied. Actions match case-insensitively, resources case-sensitively, both with ``*`` and ``?``.
Not modelled: condition evaluation (a statement with a ``Condition`` never applies and its keys
are reported as missing context values, as AWS's simulator does when no context is given), policy
variables, permissions boundaries, session policies, SCPs and resource-based policies.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Decision = Literal["allowed", "explicitDeny", "implicitDeny"]


@dataclass(frozen=True)
class SourcePolicy:
    """One policy in an evaluation: its id and type as SimulatePrincipalPolicy reports them."""

    policy_id: str
    policy_type: str  # user | group | role | aws-managed | user-managed | none
    statements: tuple[dict[str, Any], ...]

    @classmethod
    def parse(cls, policy_id: str, policy_type: str, document: str | dict[str, Any]) -> SourcePolicy:
        """Read a policy document (JSON text or a dict); a lone statement object is accepted."""
        doc = json.loads(document) if isinstance(document, str) else document
        if not isinstance(doc, dict):
            raise ValueError("a policy document is a JSON object")  # noqa: TRY004 (bad JSON input)
        raw = doc.get("Statement", [])
        statements = raw if isinstance(raw, list) else [raw]
        if not all(isinstance(s, dict) for s in statements):
            raise ValueError("each statement is a JSON object")
        return cls(policy_id, policy_type, tuple(statements))


@dataclass(frozen=True)
class Match:
    """A statement that decided (part of) a result."""

    policy: SourcePolicy
    statement: dict[str, Any]


@dataclass(frozen=True)
class Evaluation:
    """The decision for one action on one resource, and the statements behind it."""

    action: str
    resource: str
    decision: Decision
    matched: tuple[Match, ...] = ()
    missing_context: tuple[str, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        """Whether the request may go ahead."""
        return self.decision == "allowed"


def evaluate(policies: Iterable[SourcePolicy], action: str, resource: str = "*") -> Evaluation:
    """Decide ``action`` (``service:Operation``) on ``resource`` under ``policies``."""
    allows: list[Match] = []
    denies: list[Match] = []
    missing: list[str] = []
    for policy in policies:
        for statement in policy.statements:
            if not _applies(statement, action, resource):
                continue
            condition = statement.get("Condition")
            if condition:
                missing += [k for k in _condition_keys(condition) if k not in missing]
                continue
            effect = statement.get("Effect")
            (denies if effect == "Deny" else allows if effect == "Allow" else []).append(
                Match(policy, statement))
    if denies:
        return Evaluation(action, resource, "explicitDeny", tuple(denies), tuple(missing))
    if allows:
        return Evaluation(action, resource, "allowed", tuple(allows), tuple(missing))
    return Evaluation(action, resource, "implicitDeny", (), tuple(missing))


def _applies(statement: dict[str, Any], action: str, resource: str) -> bool:
    """Whether the statement's action and resource elements cover this request."""
    if "Action" in statement:
        action_ok = _any(statement["Action"], action, ignore_case=True)
    elif "NotAction" in statement:
        action_ok = not _any(statement["NotAction"], action, ignore_case=True)
    else:
        return False
    if not action_ok:
        return False
    if "Resource" in statement:
        return _any(statement["Resource"], resource, ignore_case=False)
    if "NotResource" in statement:
        return not _any(statement["NotResource"], resource, ignore_case=False)
    return False


def _any(patterns: str | Sequence[str], value: str, ignore_case: bool) -> bool:
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    return any(wildcard(p, ignore_case).fullmatch(value) is not None for p in items)


@functools.lru_cache(maxsize=4096)
def wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcard: ``*`` any run of characters (``/`` and ``:`` too), ``?`` one character."""
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _condition_keys(condition: Any) -> list[str]:
    if not isinstance(condition, dict):
        return []
    return [key for block in condition.values() if isinstance(block, dict) for key in block]
