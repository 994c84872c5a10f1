"""SSM parameters in the world (the toolkit's rollback lock), over HTTP as the on-call role."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from ops.sandbox import World
from tests.world.helpers import oncall

LOCK = "/rollback-toolkit/sandbox-broker-cluster/sandbox-broker"
RACERS = 12
ROUNDS = 8
# One operator: wait for "go" on stdin, then try to take the lock once; print what happened.
RACER = """
import sys, boto3
from botocore.exceptions import ClientError
ssm = boto3.client("ssm")
ssm.get_parameter  # client built before the start line
sys.stdin.readline()
try:
    ssm.put_parameter(Name=sys.argv[1], Value=sys.argv[2], Type="String", Overwrite=False)
    print("won")
except ClientError as error:
    print(error.response["Error"]["Code"])
"""


def code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


def take(ssm: BaseClient, name: str, value: str) -> str:
    try:
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=False)
        return "won"
    except ClientError as error:
        return str(error.response["Error"]["Code"])


def test_lock_lifecycle(world: World) -> None:
    ssm = oncall(world, "ssm")
    holder = json.dumps({"caller": world.caller_arn, "task": "rollback.api"})
    assert take(ssm, LOCK, holder) == "won"
    assert take(ssm, LOCK, "someone else") == "ParameterAlreadyExists"
    parameter = ssm.get_parameter(Name=LOCK)["Parameter"]
    assert (parameter["Value"], parameter["Type"], parameter["Version"]) == (holder, "String", 1)
    assert parameter["ARN"] == f"arn:aws:ssm:{world.region}:{world.account_id}:parameter{LOCK}"
    ssm.delete_parameter(Name=LOCK)
    for call in (ssm.get_parameter, ssm.delete_parameter):
        with pytest.raises(ClientError) as raised:
            call(Name=LOCK)
        assert code(raised) == "ParameterNotFound"
    assert take(ssm, LOCK, "next") == "won"


def test_threads_racing_exactly_one_wins(world: World) -> None:
    clients = [oncall(world, "ssm") for _ in range(RACERS)]
    for round_ in range(ROUNDS):
        name = f"{LOCK}-{round_}"
        start = threading.Barrier(RACERS)
        outcomes: list[str] = []

        def race(ssm: BaseClient, me: int, name: str = name, start: threading.Barrier = start,
                 outcomes: list[str] = outcomes) -> None:
            start.wait()
            outcomes.append(take(ssm, name, str(me)))

        threads = [threading.Thread(target=race, args=(c, i)) for i, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes) == ["ParameterAlreadyExists"] * (RACERS - 1) + ["won"], round_
        winner = clients[0].get_parameter(Name=name)["Parameter"]
        assert winner["Version"] == 1 and winner["Value"] in {str(i) for i in range(RACERS)}


def test_processes_racing_exactly_one_wins(world: World) -> None:
    env = world.env()
    procs = [subprocess.Popen([sys.executable, "-c", RACER, LOCK, f"operator-{i}"], env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE) for i in range(6)]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outcomes = sorted(proc.communicate(timeout=60)[0].strip() for proc in procs)
    assert outcomes == ["ParameterAlreadyExists"] * 5 + ["won"]
    assert oncall(world, "ssm").get_parameter(Name=LOCK)["Parameter"]["Value"].startswith("operator-")


def test_role_permissions_apply_to_ssm(world: World) -> None:
    ssm = oncall(world, "ssm")
    assert take(ssm, LOCK, "held") == "won"
    world.deny("ssm:DeleteParameter")
    with pytest.raises(ClientError) as raised:
        ssm.delete_parameter(Name=LOCK)
    assert code(raised) == "AccessDeniedException"
    assert raised.value.response["Error"]["Message"] == (
        f"User: {world.caller_arn} is not authorized to perform: ssm:DeleteParameter on resource: "
        f"arn:aws:ssm:{world.region}:{world.account_id}:parameter{LOCK} with an explicit deny in an "
        "identity-based policy")
    assert ssm.get_parameter(Name=LOCK)["Parameter"]["Value"] == "held"
    full = boto3.client("ssm", endpoint_url=world.aws_endpoint, region_name=world.region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    full.delete_parameter(Name=LOCK)
    world.set_role_policy({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ssm:*",
        "Resource": f"arn:aws:ssm:*:{world.account_id}:parameter/rollback-toolkit/*"}]})
    assert take(ssm, LOCK, "scoped") == "won"
    with pytest.raises(ClientError) as raised:
        ssm.put_parameter(Name="/elsewhere/lock", Value="x", Type="String", Overwrite=False)
    assert code(raised) == "AccessDeniedException"
    assert "because no identity-based policy allows the ssm:PutParameter action" in str(raised.value)
