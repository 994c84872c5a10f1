"""botocore's data loader for the toolkit: its services only, their data cut to the operations it calls.

``python -m ops.aws.loader`` writes those cut copies (``ops/aws/models``) from the installed botocore; run it after
changing ``ACTIONS`` or botocore's pin (``tests/unit/test_loader.py`` fails until then).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.loaders import Loader, instance_cache

if TYPE_CHECKING:
    import botocore.session


# the clients botocore's own credential and token providers build from the same session: assume-role and web
# identity (sts), SSO credentials (sso), SSO token refresh (sso-oidc), `aws login` sessions (signin)
CREDENTIAL_CLIENTS = frozenset({"sts", "sso", "sso-oidc", "signin"})
MODELS = Path(__file__).resolve().with_name("models")
_SERVICE_MODEL = "service-2"
_ENDPOINTS = "endpoints"  # every partition's regions and every service's endpoints (1.3 MB of JSON)
_KEEPS = "toolkitKeeps"  # the one key a cut copy adds: the operations (a model's) or services (endpoints') it keeps
_EXTENSIONS = (".json", ".json.gz")  # what botocore's JSONFileLoader reads, in its order


class ToolkitLoader(Loader):
    """``Loader`` as botocore builds it, but for the given services alone (``operations``' keys: the toolkit's,
    and ``CREDENTIAL_CLIENTS`` with no operations of their own), two changes:

    - ``list_available_services`` looks into those services' folders only: botocore's looks into every
      folder it ships (~420 of them: ~30 ms of every task that calls AWS) only to check a name. Same rule (a
      service is available for a type when one of its API versions has that file); a client for any other
      service is refused with botocore's own ``UnknownServiceError``.
    - the file botocore would read for a service model, or for ``endpoints``, is read from its cut copy in
      ``models`` when there is one made from that very file (the start of its SHA-256 is in the copy's name):
      botocore's model with only the operations the toolkit calls and the shapes they reach, or botocore's
      endpoints with only these services' entries (ECS and SSM models and the endpoints: ~0.035 s less to
      read). Any other file (another botocore, a customer model in ``AWS_DATA_PATH``) is read as it is, and
      so is a copy that keeps fewer operations, or services, than this loader's. A cut service's client has
      the toolkit's operations only: a waiter or paginator of another operation (none the toolkit uses) is
      not there.
    """

    def __init__(self, operations: Mapping[str, Iterable[str]], extra_search_paths: list[str] | None = None,
                 models: Path = MODELS) -> None:
        super().__init__(extra_search_paths=extra_search_paths)
        self._operations = {service: frozenset(names) for service, names in operations.items()}
        self._services = tuple(sorted(self._operations))
        self._models = models

    @instance_cache
    def list_available_services(self, type_name: str) -> list[str]:
        return [name for name in self._services
                if any(self._has(os.path.join(base, name), type_name) for base in self.search_paths)]

    def _has(self, folder: str, type_name: str) -> bool:
        if not os.path.isdir(folder):
            return False
        return any(self.file_loader.exists(os.path.join(folder, version, type_name)) for version in os.listdir(folder))

    @instance_cache
    def load_data_with_path(self, name: str) -> tuple[Any, str]:
        cut_copy = self._cut_copy(name) if self._may_be_cut(name) else None
        return cut_copy if cut_copy is not None else super().load_data_with_path(name)

    def _may_be_cut(self, name: str) -> bool:
        service, _, rest = name.partition("/")
        cut_service = service in self._services and service not in CREDENTIAL_CLIENTS  # those stay whole
        return name == _ENDPOINTS or (rest.endswith("/" + _SERVICE_MODEL) and cut_service)

    def _cut_copy(self, name: str) -> tuple[Any, str] | None:
        """The cut copy of the file botocore would read for ``name`` and that file's path (botocore's path is
        what the session is told, as for the file itself), or None."""
        found = next(((path, source) for path in self._potential_locations(name)
                      if (source := _source(path)) is not None), None)
        if found is None:
            return None
        stem = self._models / _stem(name, found[1])  # botocore's file loader adds the extension
        if not stem.with_name(stem.name + ".json.gz").is_file():
            return None
        data = self.file_loader.load_file(str(stem))
        needed = set(self._services) if name == _ENDPOINTS else self._operations[name.partition("/")[0]]
        return (data, found[0]) if needed <= set(data.get(_KEEPS, ())) else None


def _source(path: str) -> Path | None:
    """The file botocore reads for ``path`` (``.../ecs/2014-11-13/service-2``), as its JSONFileLoader looks."""
    return next((Path(path + ext) for ext in _EXTENSIONS if os.path.isfile(path + ext)), None)


def fingerprint(source: Path) -> str:
    """The start of the SHA-256 of ``source``'s bytes: which file a cut copy was made from."""
    return hashlib.sha256(source.read_bytes()).hexdigest()[:16]


def _stem(name: str, source: Path) -> str:
    """``ecs-2014-11-13-service-2-<sha>`` for ``ecs/2014-11-13/service-2``, ``endpoints-<sha>``."""
    return f"{name.replace('/', '-')}-{fingerprint(source)}"


def install(session: "botocore.session.Session", operations: Mapping[str, Iterable[str]]) -> None:
    """Give ``session`` a ``ToolkitLoader`` for ``operations`` (service -> the operations the toolkit calls) and
    botocore's ``CREDENTIAL_CLIENTS``, built when the session first needs it, as botocore builds its own, with
    the search path that one would have (``AWS_DATA_PATH`` / ``data_path`` first, then ~/.aws/models and
    botocore's)."""
    known = {**{name: frozenset[str]() for name in CREDENTIAL_CLIENTS}, **operations}

    def build() -> ToolkitLoader:
        data_path = session.get_config_variable("data_path")
        extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else None
        return ToolkitLoader(known, extra_search_paths=extra)

    session.lazy_register_component("data_loader", build)


# -- writing the cut models ---------------------------------------------------------------------------------


def cut(model: Mapping[str, Any], operations: Iterable[str]) -> dict[str, Any]:
    """``model`` with only ``operations`` (botocore's names, ``DescribeServices``) and the shapes they reach
    (input, output, errors, and every member, list member, map key and value from there), each unchanged, and
    every exception shape (botocore makes ``client.exceptions`` of all of them, whichever operation lists it)."""
    wanted = set(operations)  # once: a generator would be spent by the first operation
    kept = {name: model["operations"][name] for name in model["operations"] if name in wanted}
    reached: set[str] = set()
    todo = [ref["shape"] for op in kept.values()
            for ref in [op.get("input"), op.get("output"), *op.get("errors", [])] if ref]
    todo += [name for name, body in model["shapes"].items() if body.get("exception")]
    while todo:
        shape = todo.pop()
        if shape in reached:
            continue
        reached.add(shape)
        body = model["shapes"][shape]
        todo += [member["shape"] for member in body.get("members", {}).values()]
        todo += [body[part]["shape"] for part in ("member", "key", "value") if part in body]
    return {**model, "operations": kept, "shapes": {k: v for k, v in model["shapes"].items() if k in reached}}


def cut_services(operations: Mapping[str, Iterable[str]]) -> list[str]:
    """The services whose models are cut: the toolkit's, except the ones botocore's credential providers also
    call (their operations are not the toolkit's to list)."""
    return sorted(set(operations) - CREDENTIAL_CLIENTS)


def cut_endpoints(endpoints: Mapping[str, Any], services: Mapping[str, str]) -> dict[str, Any]:
    """botocore's ``endpoints`` with, in each partition, only the entries of ``services`` (botocore's name ->
    its endpoint prefix, the key ``endpoints`` uses: ``ecr`` -> ``api.ecr``), and ``toolkitKeeps`` naming them."""
    prefixes = set(services.values())
    partitions = [{**p, "services": {k: v for k, v in p["services"].items() if k in prefixes}}
                  for p in endpoints["partitions"]]
    return {**endpoints, "partitions": partitions, _KEEPS: sorted(services)}


def expected(operations: Mapping[str, Iterable[str]]) -> Iterator[tuple[str, bytes]]:
    """Each cut copy's file name and bytes, from the installed botocore (gzip without a timestamp: the same
    botocore and ``ACTIONS`` give the same bytes): the cut services' models, then the endpoints of every
    service a ``ToolkitLoader`` for these operations knows (``CREDENTIAL_CLIENTS`` too)."""
    from botocore import xform_name

    loader = Loader(extra_search_paths=[Loader.BUILTIN_DATA_PATH], include_default_search_paths=False)  # not ~/.aws
    prefixes: dict[str, str] = {}
    for service in sorted({*operations, *CREDENTIAL_CLIENTS}):
        version = loader.determine_latest_version(service, _SERVICE_MODEL)
        name = f"{service}/{version}/{_SERVICE_MODEL}"
        model = loader.load_data(name)
        prefixes[service] = model["metadata"]["endpointPrefix"]
        if service not in cut_services(operations):
            continue
        wanted = set(operations[service])
        names = [op for op in model["operations"] if xform_name(op) in wanted]
        missing = wanted - {xform_name(op) for op in names}
        if missing:
            raise KeyError(f"botocore's {service} model has no {', '.join(sorted(missing))}")
        yield _packed(name, {**cut(model, names), _KEEPS: sorted(wanted)})
    yield _packed(_ENDPOINTS, cut_endpoints(loader.load_data(_ENDPOINTS), prefixes))


def _packed(name: str, data: Mapping[str, Any]) -> tuple[str, bytes]:
    source = _source(os.path.join(Loader.BUILTIN_DATA_PATH, name))
    if source is None:
        raise FileNotFoundError(f"botocore has no {name} of its own")
    text = json.dumps(data, separators=(",", ":")).encode()
    return f"{_stem(name, source)}.json.gz", gzip.compress(text, mtime=0)


def write(operations: Mapping[str, Iterable[str]], models: Path = MODELS) -> list[str]:
    """Write the cut copies into ``models`` whose content changed, remove the ones no longer expected; the names
    of those written."""
    files = dict(expected(operations))
    models.mkdir(exist_ok=True)
    for stale in models.glob("*.json.gz"):
        if stale.name not in files:
            stale.unlink()
    written = [name for name, data in files.items()
               if not (models / name).is_file() or unpacked((models / name).read_bytes()) != unpacked(data)]
    for name in written:
        (models / name).write_bytes(files[name])
    return sorted(written)


def unpacked(data: bytes) -> Any:
    """A cut copy's content (compare these, not the gzip bytes: another zlib may compress the same JSON otherwise)."""
    return json.loads(gzip.decompress(data))


def main() -> None:
    from ops.aws.actions import OPERATIONS

    written = write(OPERATIONS)
    for file_name in written:
        print(f"wrote {MODELS / file_name}")
    if not written:
        print(f"{MODELS}: up to date")


if __name__ == "__main__":
    main()
