"""yesno (OpenSLR 1): 60 utterances of 8 Hebrew "yes"/"no" words, prepared by lhotse.

The download directory holds ``waves_yesno/`` (with lhotse's ``.completed`` marker, the
download is skipped). Transcripts are the words ``YES``/``NO``; lhotse splits the sorted files
alternately into 30 train and 30 test utterances.
"""

from __future__ import annotations

from pathlib import Path

from lhotse.recipes import download_yesno, prepare_yesno

from icefall_lite.data.corpora.base import Corpus, SplitManifests
from icefall_lite.data.validation import DataIssues


def _download(dl_dir: Path) -> Path:
    return download_yesno(target_dir=dl_dir)


def _prepare(dl_dir: Path, issues: DataIssues) -> SplitManifests:
    corpus_dir = dl_dir / "waves_yesno"
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"yesno: no directory {corpus_dir}; run the download stage first")
    # output_dir=None: lhotse returns the manifests and writes nothing.
    manifests = prepare_yesno(corpus_dir, output_dir=None)
    return {
        split: (parts["recordings"], parts["supervisions"]) for split, parts in manifests.items()
    }


YESNO = Corpus(name="yesno", sampling_rate=8000, download=_download, prepare=_prepare)
