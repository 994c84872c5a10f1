"""botocore's data loader, told which services the toolkit calls, so it does not survey all of botocore's first."""
from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from botocore.loaders import Loader, instance_cache

if TYPE_CHECKING:
    import botocore.session


# the clients botocore's own credential and token providers build from the same session: assume-role and web
# identity (sts), SSO credentials (sso), SSO token refresh (sso-oidc), `aws login` sessions (signin)
CREDENTIAL_CLIENTS = frozenset({"sts", "sso", "sso-oidc", "signin"})


class ToolkitLoader(Loader):
    """``Loader`` as botocore builds it, except ``list_available_services``: botocore's answers it by
    looking into every service folder it ships (~420 of them: ~30 ms of every task that calls AWS) only
    to check a name; this one looks into the given services alone (the toolkit's and ``CREDENTIAL_CLIENTS``),
    by the same rule (a service is available for a type when one of its API versions has that file). A client
    for any other service is refused with botocore's own ``UnknownServiceError``."""

    def __init__(self, services: Iterable[str], extra_search_paths: list[str] | None = None) -> None:
        super().__init__(extra_search_paths=extra_search_paths)
        self._services = tuple(sorted(set(services)))

    @instance_cache
    def list_available_services(self, type_name: str) -> list[str]:
        return [name for name in self._services
                if any(self._has(os.path.join(base, name), type_name) for base in self.search_paths)]

    def _has(self, folder: str, type_name: str) -> bool:
        if not os.path.isdir(folder):
            return False
        return any(self.file_loader.exists(os.path.join(folder, version, type_name)) for version in os.listdir(folder))


def install(session: "botocore.session.Session", services: Iterable[str]) -> None:
    """Give ``session`` a ``ToolkitLoader`` for ``services`` and botocore's ``CREDENTIAL_CLIENTS``, built when
    the session first needs it, as botocore builds its own, with the search path that one would have
    (``AWS_DATA_PATH`` / ``data_path`` first, then ~/.aws/models and botocore's)."""
    known = {*services, *CREDENTIAL_CLIENTS}

    def build() -> ToolkitLoader:
        data_path = session.get_config_variable("data_path")
        extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else None
        return ToolkitLoader(known, extra_search_paths=extra)

    session.lazy_register_component("data_loader", build)
