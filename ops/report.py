"""Rendering shared by every task: one JSON document on stdout, tabulate tables."""
from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence


def emit_json(document: Any) -> None:
    """One JSON document on stdout and nothing else there."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    from tabulate import tabulate  # only the tasks that print a table pay for it (not --json)

    return tabulate(list(rows), headers=list(headers), tablefmt="simple")
