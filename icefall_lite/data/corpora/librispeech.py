"""LibriSpeech (OpenSLR 12), prepared by lhotse from ``<dl_dir>/LibriSpeech/<part>/``.

Every part present in the download directory is prepared (``test-clean``, ``train-clean-100``,
...).
"""

from __future__ import annotations

import logging
from pathlib import Path

from lhotse.recipes import download_librispeech, prepare_librispeech

from icefall_lite.data.corpora.base import Corpus, SplitManifests
from icefall_lite.data.validation import DataIssues

logger = logging.getLogger(__name__)


def _download(dl_dir: Path) -> Path:
    corpus_dir = dl_dir / "LibriSpeech"
    if corpus_dir.is_dir():
        logger.info("found %s: skipping the download (parts present are used as they are)",
                    corpus_dir)
        return corpus_dir
    return download_librispeech(target_dir=dl_dir, dataset_parts="librispeech")


def _prepare(dl_dir: Path, issues: DataIssues) -> SplitManifests:
    corpus_dir = dl_dir / "LibriSpeech"
    if not corpus_dir.is_dir():
        raise FileNotFoundError(
            f"librispeech: no directory {corpus_dir}; run the download stage first"
        )
    manifests = prepare_librispeech(corpus_dir, dataset_parts="auto", output_dir=None)
    if not manifests:
        raise FileNotFoundError(f"librispeech: no known part (e.g. test-clean) in {corpus_dir}")
    return {
        part: (parts["recordings"], parts["supervisions"]) for part, parts in manifests.items()
    }


LIBRISPEECH = Corpus(
    name="librispeech", sampling_rate=16000, download=_download, prepare=_prepare
)
