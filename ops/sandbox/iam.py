"""The world's IAM: the on-call role, its assumed-role session, its policy, and principals' policies.

The role and its session live in moto's own IAM and STS (so ``GetRole``, ``GetRolePolicy`` and
``GetCallerIdentity`` answer as usual); this module reads their policies for the evaluator.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from moto.iam.models import IAMBackend, ManagedPolicy, iam_backends
from moto.sts.models import STSBackend, sts_backends

from .policy import SourcePolicy
from .wire import AwsError

ROLE_NAME = "sandbox-broker-oncall"
SESSION_NAME = "sandbox-oncall"
POLICY_NAME = "sandbox-broker-rollback"
DENY_SID = "WorldDenied"
SESSION_SECONDS = 43200  # the role's maximum: a long `inv sandbox` keeps one session
PARTITION = "aws"
_ARN = re.compile(r"arn:aws:iam::(\d{12}):(user|group|role)(/.*)?/([^/]+)")


def oncall_policy() -> dict[str, Any]:
    """The on-call role's default policy: every action the toolkit may call (one place to edit)."""
    allow = {
        "Ecs": ["ecs:*"],
        "EcrRead": ["ecr:Describe*", "ecr:List*", "ecr:BatchGet*"],
        "LogsRead": ["logs:FilterLogEvents", "logs:Describe*", "logs:Get*"],
        "AutoScaling": ["application-autoscaling:*"],
        "RollbackLock": ["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"],
        "Identity": ["sts:GetCallerIdentity", "iam:SimulatePrincipalPolicy", "iam:GetRole"],
        "PassTaskRoles": ["iam:PassRole"],  # Option 2's copy names the same task and execution roles
    }
    statements = [{"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": "*"}
                  for sid, actions in allow.items()]
    return {"Version": "2012-10-17", "Statement": statements}


def with_denied(document: dict[str, Any], actions: Iterable[str]) -> dict[str, Any]:
    """``document`` plus (or with an updated) explicit Deny statement for ``actions``."""
    names = list(dict.fromkeys(actions))
    doc = copy.deepcopy(document)
    statements = [s for s in doc.get("Statement", []) if s.get("Sid") != DENY_SID]
    previous = next((s for s in doc.get("Statement", []) if s.get("Sid") == DENY_SID), None)
    if previous is not None:
        names = list(dict.fromkeys([*previous["Action"], *names]))
    if names:
        statements.append({"Sid": DENY_SID, "Effect": "Deny", "Action": names, "Resource": "*"})
    doc["Statement"] = statements
    return doc


@dataclass(frozen=True)
class Session:
    """An assumed-role session: its credentials and who it is."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    arn: str
    role_arn: str

    def __repr__(self) -> str:  # never show the secret parts
        return f"Session(arn={self.arn!r})"


class WorldIam:
    """The on-call role in moto's IAM, its session, and policy lookups for any principal."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self.session: Session | None = None

    @property
    def iam(self) -> IAMBackend:
        """moto's IAM backend for the world's account."""
        return iam_backends[self.account_id][PARTITION]

    @property
    def sts(self) -> STSBackend:
        """moto's STS backend for the world's account."""
        return sts_backends[self.account_id][PARTITION]

    @property
    def role_arn(self) -> str:
        """``arn:aws:iam::ACCOUNT:role/sandbox-broker-oncall``."""
        return f"arn:aws:iam::{self.account_id}:role/{ROLE_NAME}"

    def install(self, denied: Iterable[str] = ()) -> Session:
        """Create the role with its policy (``denied`` actions explicitly denied) and assume it."""
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{self.account_id}:root"},
            "Action": "sts:AssumeRole"}]}
        self.iam.create_role(ROLE_NAME, json.dumps(trust), "/", None,
                             "The on-call engineer's role for sandbox-broker rollbacks", [],
                             str(SESSION_SECONDS))
        self.set_policy(with_denied(oncall_policy(), denied))
        assumed = self.sts.assume_role(region_name=self.region, role_session_name=SESSION_NAME,
                                       role_arn=self.role_arn, policy="", duration=SESSION_SECONDS,
                                       external_id="")
        self.session = Session(assumed.access_key_id, assumed.secret_access_key,
                               assumed.session_token, assumed.arn, self.role_arn)
        return self.session

    def policy(self) -> dict[str, Any]:
        """The role's policy document, as it is now."""
        document: dict[str, Any] = json.loads(self.iam.get_role_policy(ROLE_NAME, POLICY_NAME)[1])
        return document

    def set_policy(self, document: dict[str, Any]) -> None:
        """Replace the role's policy (moto validates it as IAM does: MalformedPolicyDocument)."""
        self.iam.put_role_policy(ROLE_NAME, POLICY_NAME, json.dumps(document))

    def deny(self, actions: Iterable[str]) -> None:
        """Add an explicit Deny of ``actions`` (wildcards allowed) to the role's policy."""
        self.set_policy(with_denied(self.policy(), actions))

    def caller(self, access_key_id: str) -> tuple[str, str] | None:
        """(session ARN, role ARN) of a moto-issued assumed-role key; None for any other key."""
        assumed = self.sts.get_assumed_role_from_access_key(access_key_id)
        if assumed is None:
            return None
        return assumed.arn, assumed.role_arn

    def policies_of(self, principal_arn: str) -> list[SourcePolicy]:
        """Every identity policy of a user (with its groups'), group or role, by ARN.

        Raises AwsError InvalidInput for anything but an IAM user, group or role ARN (an
        ``assumed-role`` session ARN included, as AWS does) and NoSuchEntity for an unknown one.
        """
        match = _ARN.fullmatch(principal_arn)
        if match is None:
            raise AwsError("InvalidInput", f"Invalid Entity Arn: {principal_arn}")
        account, kind, _, name = match.groups()
        backend = iam_backends[account][PARTITION]
        entities: dict[str, Any] = {"user": backend.users, "group": backend.groups,
                                    "role": backend.roles}
        entity = next((e for e in entities[kind].values() if e.arn == principal_arn), None)
        if entity is None:
            raise AwsError("NoSuchEntity", f"The {kind} with name {name} cannot be found.", 404)
        policies = _own_policies(entity, kind)
        if kind == "user":
            for group in backend.get_groups_for_user(entity.name):
                policies += _own_policies(group, "group")
        return policies


def _own_policies(entity: Any, kind: str) -> list[SourcePolicy]:
    inline = [SourcePolicy.parse(name, kind, doc) for name, doc in entity.policies.items()]
    managed = [_managed(policy) for policy in entity.managed_policies.values()]
    return inline + managed


def _managed(policy: ManagedPolicy) -> SourcePolicy:
    version = next(v for v in policy.versions if v.is_default)
    kind = "aws-managed" if ":iam::aws:policy" in policy.arn else "user-managed"
    return SourcePolicy.parse(policy.name, kind, version.document)
