"""IAM identity-policy evaluation: Allow/Deny, Action/NotAction, Resource/NotResource, wildcards.

The rules AWS documents for one account's identity-based policies: a request is allowed when a
statement allows it and none denies it (an explicit Deny always wins); otherwise it is implicitly
denied. Actions match case-insensitively, resources case-sensitively, both with ``*`` and ``?``.
A statement with a ``Condition`` applies when its condition holds for the request's context
(``ops.sandbox.conditions``); the keys it names that the context lacks are reported as missing
context values, as AWS's simulator does. Not modelled: policy variables, permissions boundaries,
session policies, SCPs and resource-based policies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .conditions import Context, holds, keys_of, wildcard

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


def evaluate(policies: Iterable[SourcePolicy], action: str, resource: str = "*",
             context: Context | None = None) -> Evaluation:
    """Decide ``action`` (``service:Operation``) on ``resource`` under ``policies``, with the request's
    ``context`` (lower-cased condition keys and their values) for statements with a ``Condition``."""
    known = context or {}
    allows: list[Match] = []
    denies: list[Match] = []
    missing: list[str] = []
    for policy in policies:
        for statement in policy.statements:
            if not _applies(statement, action, resource):
                continue
            condition = statement.get("Condition")
            if condition:
                missing += [k for k in keys_of(condition)
                            if k.lower() not in known and k.lower() not in {m.lower() for m in missing}]
                if not holds(condition, known):
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
