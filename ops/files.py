"""Private files for diagnostics: folders 0700, files 0600, created that way (no umask window)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import IO, Any


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) as 0700; an existing folder is left as it is."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def open_private(path: Path, mode: str = "w", append: bool = False) -> IO[Any]:
    """Open a file for writing that is created 0600 (text mode unless ``mode`` has ``b``)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    if "b" in mode:
        return os.fdopen(fd, mode)
    return os.fdopen(fd, mode, encoding="utf-8", newline="\n")


def write_json(path: Path, document: Any) -> None:
    with open_private(path) as handle:
        json.dump(document, handle, indent=2, default=str, sort_keys=False)
        handle.write("\n")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
