"""ops.aws.loader: the session's clients come from botocore's models as before, for the toolkit's services only,
without botocore's survey of every service folder, and from cut copies of botocore's own files that hold only the
toolkit's operations. No request is made."""
from __future__ import annotations

import gzip
import itertools
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest
from botocore import xform_name
from botocore.exceptions import ProfileNotFound, UnknownServiceError
from botocore.loaders import Loader
from botocore.regions import EndpointResolver

from ops.aws.actions import ACTIONS, CLIENTS, OPERATIONS
from ops.aws.loader import (
    CREDENTIAL_CLIENTS,
    MODELS,
    ToolkitLoader,
    cut,
    cut_services,
    expected,
    fingerprint,
    unpacked,
)
from ops.aws.session import Aws, connect
from ops.config import AwsSettings

SETTINGS = AwsSettings(profile=None, region="eu-central-1")


def botocore_own() -> Loader:
    """A fresh loader of botocore's own files (not ~/.aws/models; fresh: a loader hands out the dicts it caches)."""
    return Loader(extra_search_paths=[Loader.BUILTIN_DATA_PATH], include_default_search_paths=False)


def test_every_action_the_toolkit_may_call_is_a_method_of_its_client() -> None:
    aws = connect(SETTINGS)
    missing = [f"{a.client}.{a.operation}" for a in ACTIONS if not hasattr(aws.client(a.client), a.operation)]
    assert missing == []
    known = aws.session.get_component("data_loader").list_available_services("service-2")
    assert known == sorted(CLIENTS | CREDENTIAL_CLIENTS)


def test_every_client_botocores_own_credential_providers_build_is_known() -> None:
    # SSO, assume-role, web identity, SSO token refresh, `aws login` build their clients from the same session:
    # read from botocore's source (pinned), so an upgrade that adds one fails here, not in an on-call's login
    pattern = re.compile(r"(?:_client_creator|create_nested_client)\(\s*(?:self\._session,\s*)?['\"]([a-z0-9-]+)['\"]")
    root = Path(botocore.__file__).parent
    built = {name for source in root.rglob("*.py") if source.name != "stub.py"
             for name in pattern.findall(source.read_text(encoding="utf-8"))}
    assert "sso" in built and "sts" in built, "the pattern no longer finds botocore's credential clients"
    assert built <= CREDENTIAL_CLIENTS
    aws = connect(SETTINGS)
    assert all(aws.client(name) for name in sorted(built))


def test_a_client_for_a_service_the_toolkit_does_not_call_is_refused() -> None:
    aws = connect(SETTINGS)
    with pytest.raises(UnknownServiceError):
        aws.client("s3")
    assert "s3" in Loader().list_available_services("service-2")  # botocore itself has it


def test_building_the_clients_looks_into_the_toolkits_service_folders_only(monkeypatch: pytest.MonkeyPatch) -> None:
    listed: list[str] = []
    real_listdir = os.listdir

    def listdir(path: str = ".") -> list[str]:  # a spy on the standard library: every folder botocore lists
        listed.append(os.fspath(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    aws = connect(SETTINGS)
    for name in sorted(CLIENTS):
        aws.client(name)
    aws.client("ecs").get_paginator("list_tasks")  # paginator models come through the loader too
    assert listed, "botocore listed no folder at all: the spy is not in place"
    assert {Path(p).name for p in listed} <= CLIENTS | CREDENTIAL_CLIENTS  # botocore's own lists all ~420


@pytest.mark.parametrize(("service", "operation"), [("sts", "GetCallerIdentity"), ("ecs", "DescribeServices")])
def test_aws_data_path_comes_first_as_with_botocores_own_loader(service: str, operation: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # a customer model (what AWS_DATA_PATH is for) with one more operation, in the same API version: read as it
    # is, for a service whose botocore model has a cut copy (ecs) as for one without (sts)
    model = botocore_own().load_service_model(service, "service-2")
    model["operations"][f"{operation}Probe"] = dict(model["operations"][operation], name=f"{operation}Probe")
    folder = tmp_path / "models" / service / model["metadata"]["apiVersion"]
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    monkeypatch.setenv("AWS_DATA_PATH", f"{tmp_path / 'nowhere'}{os.pathsep}{tmp_path / 'models'}")
    aws = connect(SETTINGS)
    assert hasattr(aws.client(service), f"{xform_name(operation)}_probe")
    assert len(aws.client(service).meta.service_model.operation_names) == len(model["operations"])
    assert aws.session.get_component("data_loader").search_paths[:2] == [str(tmp_path / "nowhere"),
                                                                          str(tmp_path / "models")]


def test_the_loader_is_built_when_the_first_client_is_as_botocore_builds_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # building it reads the profile's config (data_path): a profile missing from the AWS config is botocore's
    # error at the first client, as without the loader, not in connect()
    monkeypatch.setenv("AWS_PROFILE", "not-in-the-config")
    aws = connect(SETTINGS)
    with pytest.raises(ProfileNotFound):
        aws.client("ecs")


def test_the_cut_models_in_the_tree_are_the_ones_the_installed_botocore_and_actions_give() -> None:
    shipped = {p.name: unpacked(p.read_bytes()) for p in MODELS.glob("*.json.gz")}
    wanted = {name: unpacked(data) for name, data in expected(OPERATIONS)}
    assert shipped == wanted, "stale cut models: run `python -m ops.aws.loader`, then commit"


def test_a_cut_services_client_has_the_toolkits_operations_and_no_other() -> None:
    aws = connect(SETTINGS)
    cut_ones = cut_services(OPERATIONS)
    assert {"ecs", "ssm", "logs"} <= set(cut_ones) and not set(cut_ones) & CREDENTIAL_CLIENTS
    for service in cut_ones:
        names = aws.client(service).meta.service_model.operation_names
        assert {xform_name(name) for name in names} == OPERATIONS[service], service
    # botocore's credential providers call sts's AssumeRole and the rest: that model is read whole
    assert hasattr(aws.client("sts"), "assume_role") and hasattr(aws.client("sts"), "assume_role_with_web_identity")


def test_a_cut_copy_is_read_only_for_the_file_it_was_cut_from(tmp_path: Path) -> None:
    name = "ecs/2014-11-13/service-2"
    whole = botocore_own().load_data(name)
    ecs = {"ecs": OPERATIONS["ecs"]}
    assert len(ToolkitLoader(ecs, models=tmp_path).load_data(name)["operations"]) == len(whole["operations"])
    (shipped,) = MODELS.glob("ecs-2014-11-13-*.json.gz")
    shutil.copy(shipped, tmp_path / "ecs-2014-11-13-service-2-0000000000000000.json.gz")  # cut from another file
    assert len(ToolkitLoader(ecs, models=tmp_path).load_data(name)["operations"]) == len(whole["operations"])
    shutil.copy(shipped, tmp_path / shipped.name)
    more = {"ecs": OPERATIONS["ecs"] | {"delete_service"}}  # an action added without writing the copies again
    assert len(ToolkitLoader(more, models=tmp_path).load_data(name)["operations"]) == len(whole["operations"])
    cut_model = ToolkitLoader(ecs, models=tmp_path).load_data(name)
    assert {xform_name(op) for op in cut_model["operations"]} == OPERATIONS["ecs"]
    assert cut_model == unpacked(shipped.read_bytes())
    for op_name, op in cut_model["operations"].items():  # each operation and shape as botocore has it
        assert op == whole["operations"][op_name]
    assert all(body == whole["shapes"][shape] for shape, body in cut_model["shapes"].items())
    exceptions = {name for name, body in whole["shapes"].items() if body.get("exception")}
    assert exceptions and exceptions <= set(cut_model["shapes"])  # client.exceptions is made of all of them


def test_cut_keeps_the_shapes_an_operation_reaches_and_drops_the_rest() -> None:
    model = {
        "version": "2.0", "metadata": {"protocol": "json"},
        "operations": {
            "Get": {"name": "Get", "input": {"shape": "GetIn"}, "output": {"shape": "GetOut"},
                    "errors": [{"shape": "Oops"}]},
            "Put": {"name": "Put", "input": {"shape": "PutIn"}},
        },
        "shapes": {
            "GetIn": {"type": "structure", "members": {"Ids": {"shape": "IdList"}}},
            "IdList": {"type": "list", "member": {"shape": "Id"}},
            "Id": {"type": "string"},
            "GetOut": {"type": "structure", "members": {"Tags": {"shape": "TagMap"}}},
            "TagMap": {"type": "map", "key": {"shape": "Key"}, "value": {"shape": "Value"}},
            "Key": {"type": "string"},
            "Value": {"type": "string"},
            "Oops": {"type": "structure", "members": {}, "exception": True},
            "PutIn": {"type": "structure", "members": {"Blob": {"shape": "Body"}}},
            "Body": {"type": "blob"},
        },
    }
    trimmed = cut(model, ["Get"])
    assert list(trimmed["operations"]) == ["Get"] and trimmed["metadata"] == model["metadata"]
    assert set(trimmed["shapes"]) == {"GetIn", "IdList", "Id", "GetOut", "TagMap", "Key", "Value", "Oops"}
    assert list(cut(model, (name for name in ["Put"]))["operations"]) == ["Put"]  # any iterable, read once


def _endpoints_resolver(aws: Aws) -> EndpointResolver:
    aws.client("ecs")  # the session builds its endpoint resolver with the first client
    return aws.session._get_internal_component("endpoint_resolver")


def _answer(call: Any, *args: Any, **kwargs: Any) -> Any:
    """What a resolver call returns, or the name of the error it raises (unknown regions raise)."""
    try:
        return call(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the same error from both resolvers is the same answer
        return type(exc).__name__


def test_the_cut_endpoints_resolve_every_known_service_in_every_region_as_botocores_do() -> None:
    full = EndpointResolver(botocore_own().load_data("endpoints"), uses_builtin_data=True)
    used = _endpoints_resolver(connect(SETTINGS))
    assert used.uses_builtin_data  # botocore's own path is reported, as for its own file
    assert used._endpoint_data["toolkitKeeps"] == sorted(CLIENTS | CREDENTIAL_CLIENTS)  # the cut one
    prefixes = {botocore_own().load_service_model(s, "service-2")["metadata"]["endpointPrefix"]
                for s in CLIENTS | CREDENTIAL_CLIENTS}
    assert "api.ecr" in prefixes and "oidc" in prefixes  # endpoints names services by endpoint prefix
    assert used.get_available_partitions() == full.get_available_partitions()
    answers = 0
    for partition in full.get_available_partitions():
        regions = [*full.get_available_endpoints("ecs", partition), "aws-global", "no-such-region-1"]
        for region in regions:
            assert _answer(used.get_partition_for_region, region) == _answer(full.get_partition_for_region, region)
        for prefix in sorted(prefixes):
            assert used.get_available_endpoints(prefix, partition) == full.get_available_endpoints(prefix, partition)
            for region, fips, dualstack in itertools.product(regions, (False, True), (False, True)):
                kwargs = {"use_fips_endpoint": fips, "use_dualstack_endpoint": dualstack}
                assert _answer(used.construct_endpoint, prefix, region, **kwargs) == \
                    _answer(full.construct_endpoint, prefix, region, **kwargs), (prefix, region, kwargs)
                answers += 1
    assert answers > 1000


def test_endpoints_cut_for_fewer_services_than_the_loaders_are_read_whole() -> None:
    loader = ToolkitLoader({**OPERATIONS, **{name: set() for name in CREDENTIAL_CLIENTS}, "s3": set()})
    assert "toolkitKeeps" not in loader.load_data("endpoints")
    assert "s3" in loader.load_data("endpoints")["partitions"][0]["services"]


def test_a_cut_client_knows_every_modeled_error_botocores_does(tmp_path: Path) -> None:
    # botocore turns an error code into its class (ssm's ThrottlingException, logs' AccessDeniedException) from
    # every exception shape of the model, whichever operation lists it; `inv triage` names the class it caught
    aws = connect(SETTINGS)
    whole = botocore.session.Session()
    whole.register_component("data_loader", botocore_own())
    for service in cut_services(OPERATIONS):
        theirs = whole.create_client(service, region_name="eu-central-1").exceptions._code_to_exception
        ours = aws.client(service).exceptions._code_to_exception
        assert sorted(ours) == sorted(theirs), service
    assert "ThrottlingException" in aws.client("ssm").exceptions._code_to_exception


def test_a_credential_clients_model_is_never_read_from_a_copy(tmp_path: Path) -> None:
    # botocore's providers call sts's AssumeRole and the rest: a copy cut to the toolkit's get_caller_identity,
    # were one ever written, must not be used
    name = f"sts/{botocore_own().determine_latest_version('sts', 'service-2')}/service-2"
    whole = botocore_own().load_data(name)
    source = Path(Loader.BUILTIN_DATA_PATH, name + ".json.gz")
    copy = {**cut(whole, ["GetCallerIdentity"]), "toolkitKeeps": ["get_caller_identity"]}
    target = tmp_path / f"{name.replace('/', '-')}-{fingerprint(source)}.json.gz"
    target.write_bytes(gzip.compress(json.dumps(copy).encode()))
    read = ToolkitLoader({"sts": {"get_caller_identity"}}, models=tmp_path).load_data(name)
    assert "AssumeRole" in read["operations"] and read == whole
