"""yesno (OpenSLR 1): 60 utterances of 8 Hebrew "yes"/"no" words, prepared by our own code.

The download directory holds ``waves_yesno/`` (downloaded by lhotse's ``download_yesno``, which
skips the network when its ``.completed`` marker is there). Each file is named by its labels
(``0_1_...wav``: 0 = ``NO``, 1 = ``YES``). The corpus is the fixed list :data:`FILE_NAMES`; split
alternately in sorted order (even positions train, odd test: 30 + 30, as lhotse's
``prepare_yesno``), so a missing file is reported by name and never moves another file to the
other split. Every file goes through :mod:`~icefall_lite.data.validation` like any corpus.

Example::

    >>> from icefall_lite.data.corpora.yesno import FILE_NAMES, transcript
    >>> len(FILE_NAMES), transcript("0_0_1_0_1_0_0_1.wav")
    (60, 'NO NO YES NO YES NO NO YES')
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from lhotse import RecordingSet, SupervisionSegment, SupervisionSet
from lhotse.recipes import download_yesno

from icefall_lite.data.corpora.base import Corpus, SplitManifests
from icefall_lite.data.fetch import download_into_place
from icefall_lite.data.validation import DataIssues, recording_from_file

logger = logging.getLogger(__name__)

_LABELS = """
00001111 00010001 00010110 00100010 00100110 00100111 00101000 00101001 00101011 00110001
00110100 00110110 00110111 00111000 00111001 00111100 00111110 01000100 01000110 01001010
01001011 01010000 01011010 01011100 01100110 01100111 01110000 01110010 01110101 01111010
01111111 10000000 10000001 10000011 10001001 10010111 10101001 10110111 10111010 10111101
11000001 11000111 11001010 11001011 11001110 11010100 11010110 11011001 11011011 11011110
11100001 11100101 11100111 11101010 11101011 11110010 11110100 11111000 11111100 11111111
""".split()
#: The corpus's 60 files, sorted.
FILE_NAMES: tuple[str, ...] = tuple("_".join(labels) + ".wav" for labels in _LABELS)
_WORDS = {"0": "NO", "1": "YES"}


def transcript(file_name: str) -> str:
    """The words a file's name spells: ``0`` = ``NO``, ``1`` = ``YES``."""
    return " ".join(_WORDS[label] for label in Path(file_name).stem.split("_"))


def prepare_split(
    corpus_dir: Path, file_names: Sequence[str], issues: DataIssues
) -> tuple[RecordingSet, SupervisionSet]:
    """Recordings and supervisions of ``file_names``; missing or unreadable files go to
    ``issues``."""
    recordings, supervisions = [], []
    for name in file_names:
        utt_id = Path(name).stem
        recording = recording_from_file(corpus_dir / name, utt_id, issues)
        if recording is None:
            continue
        recordings.append(recording)
        supervisions.append(
            SupervisionSegment(
                id=utt_id, recording_id=utt_id, start=0.0, duration=recording.duration,
                channel=0, language="Hebrew", text=transcript(name),
            )
        )
    return RecordingSet.from_recordings(recordings), SupervisionSet.from_segments(supervisions)


def _is_present(dl_dir: Path) -> bool:
    return (dl_dir / "waves_yesno" / ".completed").is_file()


def _download(dl_dir: Path) -> Path:
    corpus_dir = dl_dir / "waves_yesno"
    if _is_present(dl_dir):
        logger.info("found %s: skipping the download", corpus_dir)
        return corpus_dir
    return download_into_place(dl_dir, "waves_yesno", lambda tmp: download_yesno(target_dir=tmp))


def _prepare(dl_dir: Path, issues: DataIssues) -> SplitManifests:
    corpus_dir = dl_dir / "waves_yesno"
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"yesno: no directory {corpus_dir}; run the download stage first")
    known = set(FILE_NAMES)
    extra = sorted(p.name for p in corpus_dir.glob("*.wav") if p.name not in known)
    if extra:
        logger.warning("%s: ignoring %d .wav files that are not part of yesno: %s",
                       corpus_dir, len(extra), ", ".join(extra[:5]))
    return {
        "train": prepare_split(corpus_dir, FILE_NAMES[::2], issues),
        "test": prepare_split(corpus_dir, FILE_NAMES[1::2], issues),
    }


YESNO = Corpus(name="yesno", sampling_rate=8000, download=_download, is_present=_is_present,
               prepare=_prepare)
