"""JUnit XML for ``inv verify --junit FILE``: one testsuite ``verify``, one testcase per check.

A failed check is a ``<failure message=DETAIL>``; a skipped allocation is ``<skipped/>``.
The file is written aside and renamed into place, mode 0600, parent folders created.
"""
from __future__ import annotations

import os
import socket
import tempfile
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from ops.checks.verify import Check, VerifyResult

SUITE_NAME = "verify"
FILE_MODE = 0o600


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _testcase(check: Check) -> ET.Element:
    """``<testcase>`` for one check, with ``<failure>`` or ``<skipped>`` when it applies."""
    case = ET.Element("testcase", name=check.name, classname=SUITE_NAME, time=_seconds(check.seconds))
    if check.skipped:
        ET.SubElement(case, "skipped", message=check.detail)
    elif not check.ok:
        failure = ET.SubElement(case, "failure", message=check.detail, type="VerificationFailed")
        failure.text = check.detail
    return case


def build(result: VerifyResult) -> ET.Element:
    """The ``<testsuite name="verify">`` element for ``result``."""
    checks = result.checks
    suite = ET.Element(
        "testsuite",
        name=SUITE_NAME,
        tests=str(len(checks)),
        failures=str(sum(1 for c in checks if not c.ok)),
        errors="0",
        skipped=str(sum(1 for c in checks if c.skipped)),
        time=_seconds(sum(c.seconds for c in checks)),
        timestamp=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        hostname=socket.gethostname(),
    )
    suite.extend(_testcase(c) for c in checks)
    return suite


def write_junit(result: VerifyResult, path: str | os.PathLike[str]) -> Path:
    """Write ``result`` as JUnit XML to ``path`` (mode 0600, parents created); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(build(result))
    ET.indent(tree)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            tree.write(handle, encoding="utf-8", xml_declaration=True)
            handle.write(b"\n")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
