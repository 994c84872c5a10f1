"""Redaction: secret-looking environment values and known secrets never reach a file, a plan or a message."""
from __future__ import annotations

import copy
import re
from typing import Any

REDACTED = "***REDACTED***"
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE|AUTH|SIGNATURE|SESSION", re.I)
URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)[^/\s@]+@")  # postgres://user:PASSWORD@host


def is_secret_name(name: str) -> bool:
    """A variable or key whose name says it holds a secret (``DATABASE_PASSWORD``, ``API_TOKEN``)."""
    return bool(SECRET_NAME.search(name))


def environment_value(name: str, value: Any) -> Any:
    """The value of environment variable ``name`` as it may be shown: secrets masked, URL passwords cut."""
    if is_secret_name(name):
        return REDACTED
    if isinstance(value, str):
        return URL_PASSWORD.sub(rf"\1{REDACTED}@", value)
    return value


def redact_containers(containers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of container definitions with secret-looking environment values replaced by a marker."""
    redacted = copy.deepcopy(containers)
    for container in redacted:
        for variable in container.get("environment", []) or []:
            if "value" in variable:
                variable["value"] = environment_value(str(variable.get("name", "")), variable["value"])
    return redacted


def redact_task_definition(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``{"taskDefinition": {...}}`` with secret-looking environment values masked."""
    redacted = copy.deepcopy(document)
    definition = redacted.get("taskDefinition", {})
    if "containerDefinitions" in definition:
        definition["containerDefinitions"] = redact_containers(definition["containerDefinitions"])
    return redacted


def scrub(text: str, secret: str | None, marker: str = "***") -> str:
    """``text`` with every form of ``secret`` (raw and repr-escaped) replaced by ``marker``."""
    if not secret:
        return text
    for form in {secret, repr(secret)[1:-1], secret.encode("unicode_escape").decode("ascii")}:
        if form:
            text = text.replace(form, marker)
    return text
