"""Files whose pickle would write a marker file when loaded, for the code-free loading tests.

``Payload(marker)`` pickles as "call ``open(marker, 'w')``": loading it with the normal pickle
machinery creates ``marker`` (:func:`assert_payload_is_live` proves that on a copy), so a loader
that leaves the marker absent ran none of the file's code.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def save_with_payload(obj: dict, path: Path, marker: Path) -> Path:
    """``torch.save`` of ``obj`` plus an entry whose unpickling writes ``marker``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**obj, "payload": Payload(marker)}, path)
    return path


def assert_payload_is_live(path: Path, marker: Path, tmp_dir: Path) -> None:
    """Oracle: the unrestricted unpickler does run the payload of ``path`` (on a copy, with the
    marker removed again), so the refusals the tests check are real."""
    copy = tmp_dir / f"live-{path.name}"
    shutil.copyfile(path, copy)
    assert not marker.exists()
    torch.load(copy, weights_only=False)
    assert marker.exists(), "the payload did not run under the unrestricted unpickler"
    marker.unlink()
