"""Manifest file names, shared by every stage so that each finds the previous one's output.

``<dir>/<prefix>_<kind>_<split>.jsonl.gz`` with kind ``recordings``, ``supervisions`` or
``cuts`` (icefall's names), e.g. ``data/fbank/an4_cuts_train.jsonl.gz``.

Example::

    >>> from icefall_lite.data.manifests import manifest_path
    >>> manifest_path("data/fbank", "an4", "cuts", "train").as_posix()
    'data/fbank/an4_cuts_train.jsonl.gz'
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

ManifestKind = Literal["recordings", "supervisions", "cuts"]


def manifest_path(directory: str | Path, prefix: str, kind: ManifestKind, split: str) -> Path:
    """Path of the ``kind`` manifest of ``split`` for corpus ``prefix`` in ``directory``."""
    return Path(directory) / f"{prefix}_{kind}_{split}.jsonl.gz"


def list_splits(directory: str | Path, prefix: str, kind: ManifestKind) -> list[str]:
    """The splits that have a ``kind`` manifest in ``directory``, sorted."""
    head, tail = f"{prefix}_{kind}_", ".jsonl.gz"
    return sorted(
        p.name[len(head) : -len(tail)] for p in Path(directory).glob(f"{head}*{tail}")
    )


def ensure_outside(output_dir: str | Path, dl_dir: str | Path) -> None:
    """Refuse to write into the (read-only) download directory."""
    out, dl = Path(output_dir).resolve(), Path(dl_dir).resolve()
    if out == dl or dl in out.parents:
        raise ValueError(f"output directory {out} is inside the download directory {dl}")
