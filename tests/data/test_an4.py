"""AN4 preparation: transcript parsing on the real files, SPHERE reading, format errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
from data_helpers import FakeUtterance, make_an4_corpus, snapshot

from icefall_lite.data.corpora.an4 import DEV_SPEAKERS, prepare_split, read_transcripts
from icefall_lite.data.download import download
from icefall_lite.data.validation import DataIssues, ManifestError


@pytest.fixture(scope="module")
def real_an4(corpus_dir) -> Path:
    return corpus_dir("an4")


def test_real_transcripts_have_the_documented_utterance_counts(real_an4):
    # AN4's training set is 948 utterances of 74 speakers; dev holds out 10 of them
    train, dev = read_transcripts(real_an4, "train"), read_transcripts(real_an4, "dev")
    assert (len(train), len(dev)) == (819, 129)
    assert len(read_transcripts(real_an4, "test")) == 130
    train_ids = (real_an4 / "etc" / "an4_train.fileids").read_text().split()
    assert len(train_ids) == 948
    assert sorted(u.fileid for u in train + dev) == sorted(train_ids)
    speakers = {p.split("/")[1] for p in train_ids}
    assert len(speakers) == 74
    dev_speakers = {u.speaker for u in dev}
    assert dev_speakers == set(DEV_SPEAKERS) and not dev_speakers & {u.speaker for u in train}
    # the same genders as the test set: 3 female, 7 male
    assert sorted(s[0] for s in dev_speakers) == ["f"] * 3 + ["m"] * 7


def test_real_transcripts_match_hand_checked_lines(real_an4):
    # etc/an4_train.transcription line 4: "<s> U M N Y H SIX </s> (an255-fash-b)"
    train = read_transcripts(real_an4, "train")
    assert train[3].utterance_id == "an255-fash-b"
    assert train[3].text == "U M N Y H SIX"
    assert train[3].speaker == "fash"
    assert train[3].fileid == "an4_clstk/fash/an255-fash-b"
    # etc/an4_test.transcription line 1 has no sentence markers.
    test = read_transcripts(real_an4, "test")
    assert (test[0].utterance_id, test[0].text) == ("an406-fcaw-b", "RUBOUT G M E F THREE NINE")


def test_real_transcripts_drop_sentence_markers_and_cover_101_words(real_an4):
    utterances = [u for split in ("train", "dev", "test")
                  for u in read_transcripts(real_an4, split)]
    words = {w for u in utterances for w in u.text.split()}
    assert not any(w.startswith("<") for w in words)
    assert len(words) == 101  # the corpus README's vocabulary size
    assert len({u.utterance_id for u in utterances}) == 948 + 130


def test_real_sphere_audio_is_read_with_the_header_rate_and_length(real_an4):
    utt = read_transcripts(real_an4, "test")[0]
    path = real_an4 / "wav" / f"{utt.fileid}.sph"
    info = sf.info(str(path))  # libsndfile reads the NIST header directly
    recordings, supervisions = _first_recordings(real_an4, "test", 1)
    assert recordings[0].sampling_rate == 16000 == info.samplerate
    assert recordings[0].num_samples == info.frames
    assert recordings[0].load_audio().shape == (1, info.frames)


def _first_recordings(root: Path, split: str, n: int):
    recordings, supervisions = prepare_split(root, split, DataIssues("raise"))
    return list(recordings)[:n], list(supervisions)[:n]


def test_transcript_id_not_matching_fileid_names_file_and_line(tmp_path):
    root = make_an4_corpus(tmp_path, [FakeUtterance("an1-a-b", "a", "train", "YES"),
                                      FakeUtterance("an2-a-b", "a", "train", "NO")])
    trans = root / "etc" / "an4_train.transcription"
    trans.write_text(trans.read_text().replace("(an2-a-b)", "(an3-a-b)"))
    with pytest.raises(ManifestError, match=r"an4_train\.transcription:2 \(utterance an3-a-b\): "
                       r"but .*an4_train\.fileids:2 is an4_clstk/a/an2-a-b"):
        read_transcripts(root, "train")


def test_transcript_and_fileids_of_different_length_are_rejected(tmp_path):
    root = make_an4_corpus(tmp_path, [FakeUtterance("an1-a-b", "a", "test", "YES")])
    (root / "etc" / "an4_test.fileids").write_text("a\nb\n")
    with pytest.raises(ManifestError, match="has 1 utterances but .*an4_test.fileids has 2"):
        read_transcripts(root, "test")


def test_line_without_utterance_id_is_rejected(tmp_path):
    root = make_an4_corpus(tmp_path, [FakeUtterance("an1-a-b", "a", "test", "YES")])
    (root / "etc" / "an4_test.transcription").write_text("YES\n")
    with pytest.raises(ManifestError, match=r"an4_test\.transcription:1: expected"):
        read_transcripts(root, "test")


def test_download_is_skipped_and_nothing_written_when_an4_is_present(synthetic_an4):
    before = snapshot(synthetic_an4)
    assert download("an4", synthetic_an4) == synthetic_an4 / "an4"
    assert snapshot(synthetic_an4) == before
