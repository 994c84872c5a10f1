"""IAM enforcement at the world's WSGI layer, and the operations the world answers itself.

A request signed with a moto-issued assumed-role key (the on-call session) is evaluated against
its role's policies before moto sees it: the action is the SigV4 credential scope's service plus
the operation (``ecs:UpdateService``); ``resources.asked_of`` gives its resources and condition
context, and the actions the request implies (RegisterTaskDefinition's ``iam:PassRole`` and
tag-on-create ``ecs:TagResource``). Any
other key (``testing``, the AWS CLI's profile keys, unsigned requests) keeps full access: the
sandbox's endpoint accepts any credentials. Denials answer as AWS does for the protocol: JSON
``AccessDeniedException`` (400), query ``AccessDenied`` (403).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .faults import WsgiApp
from .iam import WorldIam
from .policy import Evaluation, SourcePolicy, evaluate
from .resources import asked_of
from .wire import Answer, AwsError, Request, json_error, read_request, xml_error

Handler = Callable[[Request], Answer]
# AWS: "No permissions are required to perform this operation", even under an explicit Deny.
ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity"})


class Gate:
    """Refuses what the caller's role may not do; routes world-served operations to handlers."""

    def __init__(self, iam: WorldIam, handlers: dict[str, Handler] | None = None) -> None:
        self.iam = iam
        self.handlers = dict(handlers or {})

    def middleware(self, app: WsgiApp) -> WsgiApp:
        """Wrap moto's WSGI app (call it with the world's lock held)."""

        def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            request = read_request(environ)
            answer = self.refusal(request)
            handler = self.handlers.get(request.iam_action or "")
            if answer is None and handler is not None:
                answer = handler(request)
            if answer is not None:
                return answer.send(start_response)
            return app(environ, start_response)

        return wrapped

    def refusal(self, request: Request) -> Answer | None:
        """The AccessDenied answer for a role session not allowed this request; else None."""
        action = request.iam_action
        if not request.access_key or not action or action in ALWAYS_ALLOWED:
            return None
        caller = self.iam.caller(request.access_key)
        if caller is None:
            return None
        session_arn, role_arn = caller
        policies = self._policies(role_arn)
        account = session_arn.split(":")[4]
        principal = {"aws:principalarn": [role_arn]}  # for an assumed-role session: the role's ARN
        for name, resources, context in asked_of(request, account):
            for resource in resources:
                evaluation = evaluate(policies, name, resource, {**context, **principal})
                if not evaluation.allowed:
                    return denied(request, session_arn, evaluation)
        return None

    def _policies(self, role_arn: str) -> list[SourcePolicy]:
        try:
            return self.iam.policies_of(role_arn)
        except AwsError:  # the role is gone: nothing allows anything
            return []


def denial_message(caller_arn: str, evaluation: Evaluation) -> str:
    """AWS's wording for an identity-policy denial."""
    head = (f"User: {caller_arn} is not authorized to perform: {evaluation.action} "
            f"on resource: {evaluation.resource}")
    if evaluation.decision == "explicitDeny":
        return f"{head} with an explicit deny in an identity-based policy"
    return f"{head} because no identity-based policy allows the {evaluation.action} action"


def denied(request: Request, caller_arn: str, evaluation: Evaluation) -> Answer:
    """The protocol's access-denied answer."""
    message = denial_message(caller_arn, evaluation)
    if request.protocol == "query":
        return xml_error("AccessDenied", message, 403)
    return json_error("AccessDeniedException", message, 400)
