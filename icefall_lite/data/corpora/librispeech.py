"""LibriSpeech (OpenSLR 12), prepared by our own code from ``<dl_dir>/LibriSpeech/<part>/``.

Every known part present in the download directory is prepared (``test-clean``,
``train-clean-100``, ..., and mini LibriSpeech's ``dev-clean-2`` / ``train-clean-5``). A part
holds ``<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`` (``UTT-ID WORDS`` per line) next to
the ``<UTT-ID>.flac`` files. The manifests are those of lhotse's ``prepare_librispeech``, but
every transcript line is read as UTF-8 on its own and every problem (an undecodable or malformed
line, a missing flac) goes to the issue collector with ``file:line``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lhotse import RecordingSet, SupervisionSegment, SupervisionSet
from lhotse.recipes.librispeech import LIBRISPEECH as PARTS
from lhotse.recipes.librispeech import MINI_LIBRISPEECH as MINI_PARTS
from lhotse.recipes.librispeech import download_librispeech

from icefall_lite.data.corpora.base import Corpus, SplitManifests
from icefall_lite.data.fetch import download_into_place
from icefall_lite.data.text_lines import read_lines
from icefall_lite.data.validation import DataIssues, at_line, recording_from_file

logger = logging.getLogger(__name__)


def prepare_part(part_dir: Path, issues: DataIssues) -> tuple[RecordingSet, SupervisionSet]:
    """Recordings and supervisions of one part directory, sorted by utterance id."""
    recordings, supervisions = [], []
    for trans_path in sorted(part_dir.glob("*/*/*.trans.txt")):
        for line_no, line in read_lines(trans_path, issues):
            if line is None:
                continue
            fields = line.split(maxsplit=1)
            if len(fields) != 2:
                issues.flag("malformed transcript line", fields[0] if fields else None,
                            at_line(trans_path, line_no), f"expected 'UTT-ID WORDS', got {line!r}")
                continue
            utt_id, text = fields
            recording = recording_from_file(trans_path.parent / f"{utt_id}.flac", utt_id, issues)
            if recording is None:
                continue
            recordings.append(recording)
            supervisions.append(
                SupervisionSegment(
                    id=utt_id, recording_id=utt_id, start=0.0, duration=recording.duration,
                    channel=0, language="English", speaker=utt_id.split("-")[0],
                    text=text.strip(),
                )
            )
    return RecordingSet.from_recordings(recordings), SupervisionSet.from_segments(supervisions)


def _is_present(dl_dir: Path) -> bool:
    return (dl_dir / "LibriSpeech").is_dir()


def _download(dl_dir: Path) -> Path:
    corpus_dir = dl_dir / "LibriSpeech"
    if _is_present(dl_dir):
        logger.info("found %s: skipping the download (parts present are used as they are)",
                    corpus_dir)
        return corpus_dir

    def fetch(tmp: Path) -> Path:
        download_librispeech(target_dir=tmp, dataset_parts="librispeech")
        return tmp / "LibriSpeech"

    return download_into_place(dl_dir, "LibriSpeech", fetch)


def _prepare(dl_dir: Path, issues: DataIssues) -> SplitManifests:
    corpus_dir = dl_dir / "LibriSpeech"
    if not corpus_dir.is_dir():
        raise FileNotFoundError(
            f"librispeech: no directory {corpus_dir}; run the download stage first"
        )
    parts = [p for p in (*PARTS, *MINI_PARTS) if (corpus_dir / p).is_dir()]
    if not parts:
        raise FileNotFoundError(f"librispeech: no known part (e.g. test-clean) in {corpus_dir}")
    return {part: prepare_part(corpus_dir / part, issues) for part in parts}


LIBRISPEECH = Corpus(
    name="librispeech", sampling_rate=16000, download=_download, is_present=_is_present,
    prepare=_prepare,
)
