"""Bad input: missing/corrupt audio, wrong sample rate, empty transcript, stale manifests."""

from __future__ import annotations

import logging

import pytest
from data_helpers import GOOD_UTTERANCES, FakeUtterance, make_an4_corpus
from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet, load_manifest

from icefall_lite.data.prepare_manifests import prepare_manifests
from icefall_lite.data.validation import DataIssues, ManifestError, validate_manifests

BAD = {
    "missing audio": FakeUtterance("bad1-x-b", "x", "train", "YES", audio="missing"),
    "unreadable audio": FakeUtterance("bad2-x-b", "x", "train", "NO", audio="corrupt"),
    "wrong sample rate": FakeUtterance("bad3-x-b", "x", "train", "GO", sampling_rate=8000),
    "empty transcript": FakeUtterance("bad4-x-b", "x", "train", ""),
}


@pytest.mark.parametrize("problem", sorted(BAD))
def test_each_bad_input_stops_the_run_with_an_error_naming_the_file(tmp_path, problem):
    utt = BAD[problem]
    dl_dir = tmp_path / "download"
    make_an4_corpus(dl_dir, GOOD_UTTERANCES[:2] + [utt])
    with pytest.raises(ManifestError) as error:
        prepare_manifests("an4", dl_dir, tmp_path / "manifests", on_error="raise")
    message = str(error.value)
    assert message.startswith(problem)
    assert f"an4_clstk/x/{utt.utterance_id}.sph" in message
    assert utt.utterance_id in message


def test_skip_mode_drops_each_bad_utterance_and_logs_the_counts(tmp_path, caplog):
    dl_dir = tmp_path / "download"
    good = GOOD_UTTERANCES[:3]
    make_an4_corpus(dl_dir, good + list(BAD.values()) + GOOD_UTTERANCES[4:5] + GOOD_UTTERANCES[-1:])
    with caplog.at_level(logging.WARNING):
        paths = prepare_manifests("an4", dl_dir, tmp_path / "manifests", on_error="skip")
    kept = {s.id for s in load_manifest(paths["train"][1])}
    assert kept == {u.utterance_id for u in good}
    assert {r.id for r in load_manifest(paths["train"][0])} == kept
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped")]
    assert summary == [
        "skipped 4 of 9 utterances (empty transcript: 1, missing audio: 1, "
        "unreadable audio: 1, wrong sample rate: 1)"
    ]
    for problem, utt in BAD.items():
        assert any(problem in r.getMessage() and utt.utterance_id in r.getMessage()
                   for r in caplog.records)


def _recording(tmp_path, seconds_in_manifest: float) -> Recording:
    make_an4_corpus(tmp_path, [FakeUtterance("an1-a-b", "a", "test", "YES", 1.0)])
    path = tmp_path / "an4" / "wav" / "an4test_clstk" / "a" / "an1-a-b.sph"
    recording = Recording.from_file(path)
    samples = int(seconds_in_manifest * recording.sampling_rate)
    return Recording(
        id=recording.id, sources=recording.sources, sampling_rate=recording.sampling_rate,
        num_samples=samples, duration=samples / recording.sampling_rate,
    )


def test_manifest_promising_more_audio_than_the_file_has_is_reported(tmp_path):
    # A stale manifest: the file on disk is 1.0 s, the manifest says 2.0 s.
    recording = _recording(tmp_path, 2.0)
    supervision = SupervisionSegment("an1-a-b", recording.id, 0.0, 2.0, text="YES")
    with pytest.raises(ManifestError, match=r"audio length mismatch: .*an1-a-b\.sph.*header "
                       r"declares 16000 samples, the manifest has 32000"):
        validate_manifests(RecordingSet.from_recordings([recording]),
                           SupervisionSet.from_segments([supervision]),
                           sampling_rate=16000, issues=DataIssues("raise"))


def test_segment_ending_after_its_recording_is_reported(tmp_path):
    recording = _recording(tmp_path, 1.0)
    supervision = SupervisionSegment("an1-a-b", recording.id, 0.5, 1.0, text="YES")
    with pytest.raises(ManifestError, match=r"bad segment: .*ends at 1\.500 s"):
        validate_manifests([recording], [supervision], sampling_rate=None,
                           issues=DataIssues("raise"))


def test_supervision_without_recording_is_reported(tmp_path):
    supervision = SupervisionSegment("u1", "nowhere", 0.0, 1.0, text="YES")
    issues = DataIssues("skip")
    recording = _recording(tmp_path, 1.0)
    good = SupervisionSegment("an1-a-b", recording.id, 0.0, 1.0, text="YES")
    _, kept = validate_manifests([recording], [supervision, good], sampling_rate=16000,
                                 issues=issues)
    assert [s.id for s in kept] == ["an1-a-b"]
    assert dict(issues.counts) == {"no recording": 1}


def test_nothing_left_after_validation_is_an_error(tmp_path):
    dl_dir = tmp_path / "download"
    make_an4_corpus(dl_dir, [BAD["empty transcript"], FakeUtterance("t1-x-b", "x", "test", "")])
    with pytest.raises(ManifestError, match="no utterance passed validation"):
        prepare_manifests("an4", dl_dir, tmp_path / "manifests", on_error="skip")


def test_output_inside_the_download_directory_is_refused(tmp_path):
    make_an4_corpus(tmp_path, GOOD_UTTERANCES[:1])
    with pytest.raises(ValueError, match="inside the download directory"):
        prepare_manifests("an4", tmp_path, tmp_path / "an4" / "manifests")


def test_unknown_on_error_mode_is_rejected():
    with pytest.raises(ValueError, match="on_error must be"):
        DataIssues("ignore")
