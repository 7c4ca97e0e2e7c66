"""Checks on the input files of the lang tools: a missing file fails with its name, a line that
is not UTF-8 with its file and line number."""

from __future__ import annotations

import os
from collections.abc import Iterator
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


def read_text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of every line of ``path``, each decoded as UTF-8 on its own.

    Raises:
        ValueError: ``path:line: not valid UTF-8 (byte 0x.. at column ..)`` for the first line
            that is not, instead of a ``UnicodeDecodeError`` naming neither file nor line.
    """
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                yield line_no, raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path}:{line_no}: not valid UTF-8 (byte 0x{raw[error.start]:02x} at "
                    f"column {error.start + 1})"
                ) from None
