"""Atomic file writes: a file appears under its final name complete, or not at all.

The bytes go to a temporary file in the same directory, are flushed and fsynced, and the
temporary file is renamed over the final name (``os.replace``: atomic on POSIX within one
file system); the directory is fsynced too so the rename survives a power cut. A process killed
at any moment leaves either the old file or the new one, never a truncated one; a leftover
``.<name>.*.tmp`` is only ever a temporary file (:func:`remove_stale_temporaries` clears them).

Example::

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = atomic_torch_save({"x": torch.zeros(2)}, Path(d) / "a.pt")
    ...     sorted(p.name for p in Path(d).iterdir())
    ['a.pt']
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

__all__ = ["atomic_copy", "atomic_torch_save", "remove_stale_temporaries", "write_atomically"]

logger = logging.getLogger(__name__)

_TMP_SUFFIX = ".tmp"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, make it durable, then rename it to
    ``path``. On any error (or interrupt) the temporary file is removed and ``path`` is left as
    it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)  # reopened by name, so that the file object (and its errors) name it
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj, path)``, atomically."""
    return write_atomically(path, lambda f: torch.save(obj, f))


def atomic_copy(src: str | Path, dst: str | Path) -> Path:
    """Copy ``src`` to ``dst`` atomically (e.g. ``epoch-3.pt`` -> ``best-valid-loss.pt``)."""
    def copy(f: IO[bytes]) -> None:
        with open(src, "rb") as source:
            shutil.copyfileobj(source, f)

    return write_atomically(dst, copy)


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Delete the temporary files a killed writer left in ``directory``; returns them. Call it
    only while no other process writes there (training holds the exp-dir lock)."""
    removed = []
    for path in Path(directory).glob(f".*{_TMP_SUFFIX}"):
        path.unlink()
        removed.append(path)
        logger.info("Removed %s, left by an interrupted write", path)
    return removed
