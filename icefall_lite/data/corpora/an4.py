"""CMU AN4 (census database), prepared by our own code: lhotse has no AN4 recipe.

Layout under the download directory (as ``an4_sphere.tar.gz`` extracts)::

    an4/etc/an4_train.transcription   <s> WORDS </s> (utt-id)     948 lines
    an4/etc/an4_train.fileids         an4_clstk/<speaker>/<utt-id>
    an4/etc/an4_test.transcription    WORDS (utt-id)              130 lines
    an4/etc/an4_test.fileids          an4test_clstk/<speaker>/<utt-id>
    an4/etc/an4.dic                   WORD  PHONES (alternatives as WORD(2))
    an4/wav/<fileid>.sph              16 kHz 16-bit NIST SPHERE, read by libsndfile

AN4 has no official development set. Like ESPnet's ``train_dev`` we hold out speakers of the
training set: the 10 speakers of :data:`DEV_SPEAKERS` (3 female, 7 male, 129 utterances) form the
``dev`` split, the other 64 speakers (819 utterances) the ``train`` split; ``test`` is AN4's test
set (10 other speakers). Every preset of the AN4 recipe is chosen on ``dev``.

From Python (with AN4 extracted under ``/data/an4``)::

    from pathlib import Path
    from icefall_lite.data.corpora.an4 import read_transcripts
    utts = read_transcripts(Path("/data/an4"), "train")
    utts[0]  # An4Utterance(utterance_id='an251-fash-b', fileid='an4_clstk/fash/an251-fash-b', ...)
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from lhotse import RecordingSet, SupervisionSegment, SupervisionSet

from icefall_lite.data.audio import use_libsndfile_for_sphere
from icefall_lite.data.corpora.base import Corpus, SplitManifests
from icefall_lite.data.fetch import download_into_place, fetch_and_extract
from icefall_lite.data.text_lines import read_lines
from icefall_lite.data.validation import DataIssues, ManifestError, at_line, recording_from_file

logger = logging.getLogger(__name__)

URL = "http://www.speech.cs.cmu.edu/databases/an4/an4_sphere.tar.gz"
SPLITS = ("train", "dev", "test")
#: Training-set speakers held out as the ``dev`` split (``f``/``m``: female/male speaker ids):
#: of each gender's sorted speaker ids the 2nd, 10th, 18th, ... (every eighth), as the test set has
#: 3 female and 7 male speakers.
DEV_SPEAKERS = ("fbbh", "fkdo", "fsrb", "mblw", "mdcs2", "mfaa", "mjjs2", "mmsh", "mscg2", "mtje")
#: split -> the AN4 file set it is read from.
_SOURCE = {"train": "train", "dev": "train", "test": "test"}
#: Sentence markers and fillers of ``an4.filler``: not words of the transcript.
FILLERS = frozenset({"<s>", "</s>", "<sil>"})
_LINE = re.compile(r"^(?P<text>.*?)\s*\((?P<utt>[^()\s]+)\)\s*$")


@dataclass(frozen=True)
class An4Utterance:
    """One line of ``an4_<split>.transcription`` with its ``.fileids`` entry."""

    utterance_id: str
    fileid: str
    speaker: str
    text: str


def read_transcripts(
    corpus_dir: Path, split: str, issues: DataIssues | None = None
) -> list[An4Utterance]:
    """Parse ``etc/an4_<set>.transcription`` against ``etc/an4_<set>.fileids``.

    ``split`` ``test`` reads AN4's test set; ``train`` and ``dev`` read its training set, ``dev``
    keeping the utterances of :data:`DEV_SPEAKERS` and ``train`` the others.

    The two files list the same utterances in the same order, so files with different numbers
    of lines raise :class:`~icefall_lite.data.validation.ManifestError`. A line that is not
    UTF-8, lacks ``(utt-id)`` or names another utterance than its file id goes to ``issues``
    (default: raise) as ``file:line``; under skip the pair is dropped. An empty transcript is
    returned as ``text=""`` (validation reports it).
    """
    if split not in SPLITS:
        raise ValueError(f"AN4 split must be one of {SPLITS}, got {split!r}")
    return split_of(_read_file_set(corpus_dir, _SOURCE[split], issues), split)


def split_of(utterances: list[An4Utterance], split: str) -> list[An4Utterance]:
    """The utterances of ``split`` among those read from its file set."""
    if _SOURCE[split] != "train":
        return list(utterances)
    return [u for u in utterances if (u.speaker in DEV_SPEAKERS) == (split == "dev")]


def _read_file_set(
    corpus_dir: Path, source: str, issues: DataIssues | None = None
) -> list[An4Utterance]:
    issues = issues if issues is not None else DataIssues("raise")
    trans_path = corpus_dir / "etc" / f"an4_{source}.transcription"
    ids_path = corpus_dir / "etc" / f"an4_{source}.fileids"
    for path in (trans_path, ids_path):
        if not path.is_file():
            raise FileNotFoundError(f"AN4: missing {path}")
    trans_lines = read_lines(trans_path, issues)
    fileids = read_lines(ids_path, issues)
    if len(trans_lines) != len(fileids):
        raise ManifestError(
            f"{trans_path} has {len(trans_lines)} utterances but {ids_path} has {len(fileids)}"
        )
    utterances = []
    for (line_no, line), (ids_line_no, fileid) in zip(trans_lines, fileids):
        if line is None or fileid is None:
            continue
        fileid = fileid.strip()
        match = _LINE.match(line)
        if match is None:
            issues.flag("malformed transcript line", None, at_line(trans_path, line_no),
                        f"expected 'WORDS (utt-id)', got {line!r}")
            continue
        utt_id = match["utt"]
        if Path(fileid).name != utt_id:
            issues.flag("transcript/fileid mismatch", utt_id, at_line(trans_path, line_no),
                        f"but {at_line(ids_path, ids_line_no)} is {fileid}")
            continue
        speaker = Path(fileid).parent.name
        words = [w for w in match["text"].split() if w not in FILLERS]
        utterances.append(
            An4Utterance(
                utterance_id=utt_id,
                fileid=fileid,
                speaker=speaker,
                text=" ".join(words),
            )
        )
    return utterances


def prepare_split(
    corpus_dir: Path, split: str, issues: DataIssues,
    utterances: list[An4Utterance] | None = None,
) -> tuple[RecordingSet, SupervisionSet]:
    """Recordings and supervisions of one split; unreadable audio goes to ``issues``.

    ``utterances``: the split's transcripts when already read (default: read them).
    """
    use_libsndfile_for_sphere()
    recordings, supervisions = [], []
    if utterances is None:
        utterances = read_transcripts(corpus_dir, split, issues)
    for utt in utterances:
        recording = recording_from_file(
            corpus_dir / "wav" / f"{utt.fileid}.sph", utt.utterance_id, issues
        )
        if recording is None:
            continue
        recordings.append(recording)
        supervisions.append(
            SupervisionSegment(
                id=utt.utterance_id,
                recording_id=recording.id,
                start=0.0,
                duration=recording.duration,
                channel=0,
                text=utt.text,
                speaker=utt.speaker,
                language="English",
            )
        )
    return RecordingSet.from_recordings(recordings), SupervisionSet.from_segments(supervisions)


def _is_present(dl_dir: Path) -> bool:
    return (dl_dir / "an4" / "etc").is_dir() and (dl_dir / "an4" / "wav").is_dir()


def _download(dl_dir: Path) -> Path:
    corpus_dir = dl_dir / "an4"
    if _is_present(dl_dir):
        logger.info("found %s: skipping the download", corpus_dir)
        return corpus_dir

    def fetch(tmp: Path) -> Path:
        fetch_and_extract(URL, "an4_sphere.tar.gz", tmp)
        return tmp / "an4"

    return download_into_place(dl_dir, "an4", fetch)


def _prepare(dl_dir: Path, issues: DataIssues) -> SplitManifests:
    corpus_dir = dl_dir / "an4"
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"AN4: no directory {corpus_dir}; run the download stage first")
    # each file set is read once (train and dev share one), so a bad line is reported once
    file_sets = {source: _read_file_set(corpus_dir, source, issues)
                 for source in dict.fromkeys(_SOURCE.values())}
    return {split: prepare_split(corpus_dir, split, issues,
                                 split_of(file_sets[_SOURCE[split]], split))
            for split in SPLITS}


AN4 = Corpus(name="an4", sampling_rate=16000, download=_download, is_present=_is_present,
             prepare=_prepare)
