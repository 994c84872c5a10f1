"""JUnit XML reports (``--junit FILE``) for verify, preflight and guard: one testsuite, one testcase per
check. A failed check is a ``<failure message=DETAIL>``; a skipped one ``<skipped/>``; a warning passes
with its detail in ``<system-out>``. The file is written aside and renamed into place, mode 0600,
parent folders created."""
from __future__ import annotations

import os
import socket
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from ops.checks.verify import Check, VerifyResult
from ops.errors import OperationFailed

SUITE_NAME = "verify"
FILE_MODE = 0o600


@dataclass(frozen=True)
class Case:
    """One testcase: passed unless ``failure``; ``skipped`` and ``output`` say more."""

    name: str
    seconds: float = 0.0
    failure: str | None = None
    skipped: str | None = None
    output: str | None = None
    kind: str = "Failed"  # the failure's type attribute


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _testcase(case: Case, suite: str) -> ET.Element:
    element = ET.Element("testcase", name=case.name, classname=suite, time=_seconds(case.seconds))
    if case.skipped is not None:
        ET.SubElement(element, "skipped", message=case.skipped)
    elif case.failure is not None:
        failure = ET.SubElement(element, "failure", message=case.failure, type=case.kind)
        failure.text = case.failure
    if case.output:
        ET.SubElement(element, "system-out").text = case.output
    return element


def suite(name: str, cases: Iterable[Case]) -> ET.Element:
    """The ``<testsuite>`` element for ``cases``."""
    found = list(cases)
    element = ET.Element(
        "testsuite", name=name, tests=str(len(found)), failures=str(sum(c.failure is not None for c in found)),
        errors="0", skipped=str(sum(c.skipped is not None for c in found)),
        time=_seconds(sum(c.seconds for c in found)),
        timestamp=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), hostname=socket.gethostname(),
    )
    element.extend(_testcase(c, name) for c in found)
    return element


def check_case(check: Check) -> Case:
    """A verification check as a testcase (``VerificationFailed`` on failure, ``skipped`` for --no-allocate)."""
    return Case(check.name, check.seconds, None if check.ok or check.skipped else check.detail,
                check.detail if check.skipped else None, kind="VerificationFailed")


def build(result: VerifyResult) -> ET.Element:
    """The ``<testsuite name="verify">`` element for ``result``."""
    return suite(SUITE_NAME, (check_case(c) for c in result.checks))


def write_suite(element: ET.Element, path: str | os.PathLike[str]) -> Path:
    """Write a suite as JUnit XML to ``path`` (mode 0600, parents created); return the path. A symlink is
    followed; a target that exists and is not a regular file (``/dev/null``, a FIFO) is written through,
    never replaced."""
    target = Path(path).resolve() if Path(path).is_symlink() else Path(path)
    tree = ET.ElementTree(element)
    ET.indent(tree)
    if target.exists() and not target.is_file():
        with open(target, "wb") as handle:
            tree.write(handle, encoding="utf-8", xml_declaration=True)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
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


def write_junit(result: VerifyResult, path: str | os.PathLike[str]) -> Path:
    """``inv verify --junit FILE``."""
    return write_suite(build(result), path)


def write_report(element: ET.Element, path: str) -> None:
    """A task's ``--junit FILE``: a file that cannot be written is OperationFailed (exit 1), said plainly."""
    try:
        write_suite(element, path)
    except OSError as exc:
        raise OperationFailed(f"cannot write the JUnit report {path}: {exc.strerror or exc}") from None
