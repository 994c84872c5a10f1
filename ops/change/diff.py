"""What differs between two task definitions apart from their images (secret-looking values masked)."""
from __future__ import annotations

from typing import Any

from ops.aws.ecs import READ_ONLY_FIELDS
from ops.redact import is_secret_name


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
