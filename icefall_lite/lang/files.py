"""Checks on the input files of the lang tools, so that a missing file fails with its name."""

from __future__ import annotations

import os
from pathlib import Path


def require_file(path: str | Path, what: str) -> Path:
    """Return ``path`` as a Path if it is a readable file, else raise ``FileNotFoundError``.

    ``what`` names the role of the file in the message, e.g. ``"words.txt (word table)"``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path} (expected a file)")
    if not os.access(path, os.R_OK):
        raise PermissionError(f"{what} is not readable: {path}")
    return path
