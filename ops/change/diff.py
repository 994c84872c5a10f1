"""What differs between two task definitions: the plan's ``diff:`` block, and the same-image refusal's
list of settings apart from images (secret-looking values masked in both)."""
from __future__ import annotations

from typing import Any

from ops.aws.ecr import short_digest
from ops.aws.ecs import READ_ONLY_FIELDS
from ops.redact import environment_value, is_secret_name


def config_difference(current: dict[str, Any], target: dict[str, Any]) -> list[str]:
    """One line per changed setting, ``key: old -> new`` (secret values never shown)."""
    lines: list[str] = []
    old, new = _flatten(_without_images(current)), _flatten(_without_images(target))
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            if is_secret_name(key):
                lines.append(f"{key}: (secret value changed, not shown)")
            else:
                lines.append(f"{key}: {old.get(key, '(unset)')!r} -> {new.get(key, '(unset)')!r}")
    return lines


def _without_images(document: dict[str, Any]) -> dict[str, Any]:
    clean = {k: v for k, v in document.items() if k not in READ_ONLY_FIELDS}
    clean["containerDefinitions"] = [
        {k: v for k, v in c.items() if k != "image"} for c in document.get("containerDefinitions", [])
    ]
    return clean


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and name-keyed lists (containers, environment) as ``a.b[NAME].c`` keys."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(i, dict) and "name" in i for i in value):
        out = {}
        for item in value:
            rest = {k: v for k, v in item.items() if k != "name"}
            out.update(_flatten(rest.get("value", rest) if set(rest) == {"value"} else rest, f"{prefix}[{item['name']}]"))
        return out
    return {prefix: value}


def plan_diff(current_name: str, target_name: str, current: dict[str, Any], target: dict[str, Any],
              running: dict[str, set[str]] | None = None, resolved: dict[str, str | None] | None = None) -> list[str]:
    """The plan's ``diff:`` block: per container the image (and digest: ``running`` now, ``resolved`` for the
    target), environment keys added, removed or changed (secrets masked), command, cpu and memory; then the
    task's cpu and memory. Identical definitions say so."""
    tried = resolved is not None  # the caller resolved the target's digests (say when one could not be)
    running, resolved = running or {}, resolved or {}
    lines: list[str] = []
    old = {c.get("name", ""): c for c in current.get("containerDefinitions", [])}
    new = {c.get("name", ""): c for c in target.get("containerDefinitions", [])}
    for name in [*new, *(n for n in old if n not in new)]:
        if name not in old:
            lines.append(f"  {name}: container added ({_short(new[name].get('image'))})")
        elif name not in new:
            lines.append(f"  {name}: container removed")
        else:
            lines += _container_lines(name, old[name], new[name], running.get(name, set()), resolved.get(name), tried)
    for key in ("cpu", "memory"):
        if current.get(key) != target.get(key):
            lines.append(f"  task {key}: {current.get(key, '(unset)')} -> {target.get(key, '(unset)')}")
    changed = [line for line in lines if not line.endswith((SAME_DIGEST, UNKNOWN_DIGEST))]
    if not changed:
        return [f"diff: {current_name} and {target_name} are identical (images, environment, command, cpu, memory)",
                *lines]
    return [f"diff: {current_name} (running now) -> {target_name}", *lines]


SAME_DIGEST = ", the same digest"
UNKNOWN_DIGEST = ", unchanged; the digest it would run is unknown (could not be resolved)"


def _short(image: Any) -> str:
    """``...amazonaws.com/sandbox-broker-api:v8`` -> ``sandbox-broker-api:v8``."""
    return str(image or "?").rsplit("/", 1)[-1]


def _digests(found: set[str] | str | None) -> str:
    if not found:
        return ""
    values = sorted(found) if isinstance(found, set) else [found]
    return " (" + ", ".join(short_digest(d) for d in values) + ")"


def _container_lines(name: str, old: dict[str, Any], new: dict[str, Any], running: set[str],
                     resolved: str | None, tried: bool = False) -> list[str]:
    lines = []
    before, after = f"{_short(old.get('image'))}{_digests(running)}", f"{_short(new.get('image'))}{_digests(resolved)}"
    if old.get("image") != new.get("image") or (resolved and running and running != {resolved}):
        lines.append(f"  {name} image: {before} -> {after}")
    elif resolved and running == {resolved}:
        lines.append(f"  {name} image: {before}{SAME_DIGEST}")
    elif tried and not resolved:
        lines.append(f"  {name} image: {before}{UNKNOWN_DIGEST}")
    lines += [f"  {name} environment {change}" for change in _environment_changes(old, new)]
    for key in ("command", "entryPoint", "cpu", "memory", "memoryReservation"):
        if old.get(key) != new.get(key):
            lines.append(f"  {name} {key}: {old.get(key, '(unset)')} -> {new.get(key, '(unset)')}")
    return lines


def _environment_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``added: A, B``, ``removed: C``, ``changed: D 'x' -> 'y', SECRET (secret, not shown)``."""
    before = {e.get("name", ""): e.get("value") for e in old.get("environment", []) or []}
    after = {e.get("name", ""): e.get("value") for e in new.get("environment", []) or []}
    added = [k for k in after if k not in before]
    removed = [k for k in before if k not in after]
    changed = [_changed(k, before[k], after[k]) for k in after if k in before and before[k] != after[k]]
    return [f"{label}: {', '.join(keys)}" for label, keys in (("added", added), ("removed", removed),
                                                              ("changed", changed)) if keys]


def _changed(key: str, old: Any, new: Any) -> str:
    if is_secret_name(key):
        return f"{key} (secret, not shown)"
    return f"{key} {environment_value(key, old)!r} -> {environment_value(key, new)!r}"
