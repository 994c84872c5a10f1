"""IAM ``SimulatePrincipalPolicy`` (moto lacks it), answered by the world as AWS documents it."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from .iam import WorldIam
from .policy import Evaluation, Match, SourcePolicy, evaluate
from .wire import Answer, AwsError, Request, element, members, xml_answer, xml_error

ACTION = "SimulatePrincipalPolicy"
NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
DEFAULT_MAX_ITEMS = 100
MAX_ITEMS = 1000


def simulate_principal_policy(iam: WorldIam, request: Request) -> Answer:
    """Evaluate each action on each resource for the principal's policies; one page of results."""
    try:
        source, actions, resources, size, start = _inputs(request)
        policies = iam.policies_of(source) + _input_policies(request)
    except AwsError as error:
        return xml_error(error.code, error.message, error.status)
    context = _context(request)
    combos = [(a, r) for a in actions for r in resources]
    page = [evaluate(policies, a, r, context) for a, r in combos[start:start + size]]
    end = start + len(page)
    truncated = end < len(combos)
    results = "".join(_result(e, specific=bool(members(request, "ResourceArns"))) for e in page)
    marker = _marker(request, end) if truncated else None
    body = (f"{element('IsTruncated', truncated)}{element('Marker', marker)}"
            f"<EvaluationResults>{results}</EvaluationResults>")
    return xml_answer(ACTION, NAMESPACE, body)


def _inputs(request: Request) -> tuple[str, list[str], list[str], int, int]:
    source = request.params.get("PolicySourceArn", "")
    actions = members(request, "ActionNames")
    if not source:
        raise _validation("policySourceArn", "Member must not be null")
    if not actions:
        raise _validation("actionNames", "Member must not be null")
    size = _max_items(request.params.get("MaxItems"))
    marker = request.params.get("Marker")
    start = _offset(request, marker) if marker else 0
    return source, actions, members(request, "ResourceArns") or ["*"], size, start


def _validation(field: str, constraint: str, value: object = None) -> AwsError:
    shown = f"Value '{value}' at '{field}'" if value is not None else f"Value null at '{field}'"
    return AwsError("ValidationError",
                    f"1 validation error detected: {shown} failed to satisfy constraint: {constraint}")


def _max_items(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_MAX_ITEMS
    try:
        value = int(raw)
    except ValueError:
        raise AwsError("InvalidInput", f"Invalid value for MaxItems: {raw}") from None
    if value < 1:
        raise _validation("maxItems", "Member must have value greater than or equal to 1", value)
    if value > MAX_ITEMS:
        raise _validation("maxItems", f"Member must have value less than or equal to {MAX_ITEMS}", value)
    return value


def _input_policies(request: Request) -> list[SourcePolicy]:
    policies = []
    for index, document in enumerate(members(request, "PolicyInputList"), start=1):
        try:
            policies.append(SourcePolicy.parse(f"PolicyInputList.{index}", "none", document))
        except ValueError:
            raise AwsError("InvalidInput",
                           f"PolicyInputList.{index} is not a valid policy document") from None
    return policies


def _context(request: Request) -> dict[str, list[str]]:
    """``ContextEntries``: each entry's key (lower-cased: condition keys are case-insensitive) and values."""
    found: dict[str, list[str]] = {}
    prefix = "ContextEntries.member."
    entries = {k[len(prefix):].split(".", 1)[0] for k in request.multi if k.startswith(prefix)}
    for entry in sorted(entries, key=lambda e: int(e) if e.isdigit() else 0):
        name = request.params.get(f"{prefix}{entry}.ContextKeyName")
        if name:
            found.setdefault(str(name).lower(), []).extend(members(request, f"{prefix}{entry}.ContextKeyValues"))
    return found


def _fingerprint(request: Request) -> str:
    """Ties a marker to the question it continues (principal, actions, resources, policies, context)."""
    context = [f"{k}={','.join(v)}" for k, v in sorted(_context(request).items())]
    parts: Sequence[str] = [request.params.get("PolicySourceArn", ""),
                            *members(request, "ActionNames"), "|", *members(request, "ResourceArns"),
                            "|", *members(request, "PolicyInputList"), "|", *context]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _marker(request: Request, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{offset}:{_fingerprint(request)}".encode()).decode()


def _offset(request: Request, marker: str) -> int:
    try:
        offset, fingerprint = base64.urlsafe_b64decode(marker.encode()).decode().split(":")
        if fingerprint == _fingerprint(request) and int(offset) > 0:
            return int(offset)
    except ValueError:
        pass
    raise AwsError("InvalidInput", "Invalid Marker.")


def _result(evaluation: Evaluation, specific: bool) -> str:
    """One EvaluationResult; with ResourceArns given, its ResourceSpecificResults too."""
    statements = _statements(evaluation.matched)
    missing = "".join(element("member", k) for k in evaluation.missing_context)
    inner = (f"{element('EvalActionName', evaluation.action)}"
             f"{element('EvalResourceName', evaluation.resource)}"
             f"{element('EvalDecision', evaluation.decision)}"
             f"<MatchedStatements>{statements}</MatchedStatements>")
    if specific:
        inner += (f"<MissingContextValues/><ResourceSpecificResults><member>"
                  f"{element('EvalResourceName', evaluation.resource)}"
                  f"{element('EvalResourceDecision', evaluation.decision)}"
                  f"<MatchedStatements>{statements}</MatchedStatements>"
                  f"<MissingContextValues>{missing}</MissingContextValues>"
                  f"</member></ResourceSpecificResults><EvalDecisionDetails/>")
    else:
        inner += f"<MissingContextValues>{missing}</MissingContextValues>"
    return f"<member>{inner}</member>"


def _statements(matched: Sequence[Match]) -> str:
    return "".join(f"<member>{element('SourcePolicyId', m.policy.policy_id)}"
                   f"{element('SourcePolicyType', m.policy.policy_type)}</member>" for m in matched)
