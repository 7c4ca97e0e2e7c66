"""What a corpus module provides: where its audio is, how to fetch it, how to list it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lhotse import RecordingSet, SupervisionSet

from icefall_lite.data.validation import DataIssues

#: split name → (recordings, supervisions), not yet validated.
SplitManifests = dict[str, tuple[RecordingSet, SupervisionSet]]


@dataclass(frozen=True)
class Corpus:
    """A corpus known to :mod:`icefall_lite.data.prepare_manifests`.

    Attributes:
        name: corpus name, also the prefix of its manifest files (``an4_cuts_train.jsonl.gz``).
        sampling_rate: the rate every recording must have (validation rejects others).
        download: ``download(dl_dir) -> corpus_dir``; skips the network when the corpus is
            already in ``dl_dir`` and then writes nothing there; a failed download leaves
            nothing behind (:func:`icefall_lite.data.fetch.download_into_place`).
        is_present: ``is_present(dl_dir)``: the corpus is in ``dl_dir`` (no download needed).
        prepare: ``prepare(dl_dir, issues) -> {split: (recordings, supervisions)}``; reads
            ``dl_dir`` only, reporting unusable files to ``issues``.
    """

    name: str
    sampling_rate: int
    download: Callable[[Path], Path]
    is_present: Callable[[Path], bool]
    prepare: Callable[[Path, DataIssues], SplitManifests]
