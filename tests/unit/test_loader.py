"""ops.aws.loader: the session's clients come from botocore's models as before, for the toolkit's services only,
without botocore's survey of every service folder. No request is made."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import botocore
import pytest
from botocore.exceptions import ProfileNotFound, UnknownServiceError
from botocore.loaders import Loader

from ops.aws.actions import ACTIONS, CLIENTS
from ops.aws.loader import CREDENTIAL_CLIENTS
from ops.aws.session import connect
from ops.config import AwsSettings

SETTINGS = AwsSettings(profile=None, region="eu-central-1")


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


def test_aws_data_path_comes_first_as_with_botocores_own_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a customer model (what AWS_DATA_PATH is for): STS with one more operation, in the same API version
    model = Loader().load_service_model("sts", "service-2")
    model["operations"]["GetCallerIdentityProbe"] = dict(model["operations"]["GetCallerIdentity"],
                                                         name="GetCallerIdentityProbe")
    folder = tmp_path / "models" / "sts" / model["metadata"]["apiVersion"]
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    monkeypatch.setenv("AWS_DATA_PATH", f"{tmp_path / 'nowhere'}{os.pathsep}{tmp_path / 'models'}")
    aws = connect(SETTINGS)
    assert hasattr(aws.client("sts"), "get_caller_identity_probe")
    assert aws.session.get_component("data_loader").search_paths[:2] == [str(tmp_path / "nowhere"),
                                                                          str(tmp_path / "models")]


def test_the_loader_is_built_when_the_first_client_is_as_botocore_builds_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # building it reads the profile's config (data_path): a profile missing from the AWS config is botocore's
    # error at the first client, as without the loader, not in connect()
    monkeypatch.setenv("AWS_PROFILE", "not-in-the-config")
    aws = connect(SETTINGS)
    with pytest.raises(ProfileNotFound):
        aws.client("ecs")
