"""What Invoke would crash on (with a traceback) while it loads the config, found first and said in one line
(exit 2): a missing ``-f`` file, bad YAML, a section that is not a mapping, an ``INVOKE_*`` value it cannot
cast, and the words (``INVOKE_ECS_API_KNOWN_GOOD_REVISION=auto``) it would try to cast to a number."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping, MutableMapping

from ops.config import DEFAULTS, WORD_OVERRIDES
from ops.errors import ConfigError


def _leaves(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for key, value in tree.items():
        if isinstance(value, Mapping):
            found.extend(_leaves(value, prefix + (key,)))
        else:
            found.append((prefix + (key,), value))
    return found


def env_name(path: tuple[str, ...]) -> str:
    return "INVOKE_" + "_".join(path).upper()


def _value_at(tree: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    node = tree
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def take_word_overrides(environ: MutableMapping[str, str], runtime: Mapping[str, Any] | None = None
                        ) -> dict[tuple[str, ...], str]:
    """Take out the ``INVOKE_*`` words Invoke would cast to a number and crash on (``..._REVISION=auto``);
    ``load(config, words)`` puts them back. A ``-f`` file that sets the key wins, as in Invoke."""
    taken: dict[tuple[str, ...], str] = {}
    for path, words in WORD_OVERRIDES.items():
        name = env_name(path)
        if name in environ and environ[name].strip().lower() in words:
            word = environ.pop(name).strip().lower()
            if not _value_at(runtime or {}, path)[0]:
                taken[path] = word
    return taken


def check_env_overrides(environ: Mapping[str, str], files: Mapping[str, Any] | None = None) -> None:
    """Reject an ``INVOKE_*`` override Invoke itself would crash on (with a traceback): Invoke casts it to
    the type of the value the config files (else the defaults) give the key."""
    for path, default in _leaves(DEFAULTS):
        name = env_name(path)
        found, value = _value_at(files or {}, path)
        current = value if found else default
        if name not in environ or isinstance(current, (bool, str)) or current is None:
            continue
        if isinstance(current, (Mapping, list, tuple)):
            raise ConfigError(f"{name} cannot override config key {'.'.join(path)}: it holds a "
                              f"{type(current).__name__} in the config files", f"unset {name}")
        try:
            type(current)(environ[name])
        except ValueError:
            kind = "a whole number" if isinstance(current, int) else "a number"
            raise ConfigError(
                f"{name}={environ[name]!r} is not {kind} (config key {'.'.join(path)}"
                + (f" is {value!r} in the config files)" if found else ")"),
                f"set {name} to {kind}, or unset it",
            ) from None


def config_files(argv: list[str], environ: Mapping[str, str], project: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The project's invoke.yaml and the ``-f`` runtime file, read as Invoke will merge them, so that what
    Invoke would crash on (a missing ``-f`` file, bad YAML, a section that is not a mapping) is one line
    and exit 2 first. Returns ``(both merged, the runtime file alone)``."""
    merged: dict[str, Any] = {}
    for name in ("invoke.yaml", "invoke.yml", "invoke.json"):
        if (project / name).is_file():
            _merge(merged, _read(project / name, "the project's " + name))
    runtime_path = _runtime_path(argv) or environ.get("INVOKE_RUNTIME_CONFIG")
    runtime: dict[str, Any] = {}
    if runtime_path:
        path = Path(runtime_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"the config file {runtime_path} (-f) does not exist or is not a file",
                              "check the path: nothing was changed")
        if path.suffix in (".yaml", ".yml", ".json"):
            runtime = _read(path, runtime_path)
            _merge(merged, runtime)
    return merged, runtime


def _runtime_path(argv: list[str]) -> str | None:
    for index, word in enumerate(argv):
        if word in ("-f", "--config") and index + 1 < len(argv):
            return argv[index + 1]
        if word.startswith("--config="):
            return word.split("=", 1)[1]
        if word.startswith("-f") and len(word) > 2 and not word.startswith("--"):
            return word[2:]
    return None


def _read(path: Path, label: str) -> dict[str, Any]:
    import json

    from invoke.util import yaml

    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise ConfigError(f"cannot read the config file {label}: {reason}", "fix its syntax: nothing was changed") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"the config file {label} must hold a mapping of sections (aws:, ecs:, ...), "
                          f"not a {type(data).__name__}", "see the README's Config section")
    _check_sections(data, DEFAULTS, label, ())
    return data


def _check_sections(data: Mapping[str, Any], defaults: Mapping[str, Any], label: str, path: tuple[str, ...]) -> None:
    for key, default in defaults.items():
        if key in data and isinstance(default, Mapping):
            if not isinstance(data[key], Mapping):
                dotted = ".".join((*path, key))
                raise ConfigError(f"config key {dotted} in {label} must be a mapping of keys, got {data[key]!r}",
                                  f"fix it in {label} (see the README's Config section)")
            _check_sections(data[key], default, label, (*path, key))


def _merge(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
