"""Audio cut short, undecodable transcript lines: reported by file (and line), or counted skips.

The oracle for every length check is the header the test writes byte by byte (NIST
``sample_count``, the WAV data-chunk size), never the code's own reader.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from data_helpers import (
    GOOD_UTTERANCES,
    SHARED_DOWNLOAD,
    FakeUtterance,
    make_an4_corpus,
    make_librispeech_part,
    nist_sphere_bytes,
    tone,
    wav_bytes,
    yesno_link_farm,
)
from lhotse import load_manifest

from icefall_lite.data.audio_header import AudioHeaderError, declared_length
from icefall_lite.data.prepare_manifests import main as prepare_manifests_main
from icefall_lite.data.prepare_manifests import prepare_manifests
from icefall_lite.data.validation import ManifestError
from icefall_lite.lang.cli import run_tool

SAMPLES = tone(1.0, 16000, seed=3)  # 16,000 int16 samples


@pytest.mark.parametrize(("declared", "stored"), [(16000, 16000), (16000, 988), (500, 988)])
def test_sphere_header_count_and_stored_samples(tmp_path, declared, stored):
    path = tmp_path / "a.sph"
    path.write_bytes(nist_sphere_bytes(declared, SAMPLES[:stored]))
    length = declared_length(path)
    assert (length.num_samples, length.stored_samples) == (declared, stored)
    assert length.cut_short == (stored < declared)


def test_wav_header_count_skips_chunks_before_the_data(tmp_path):
    path = tmp_path / "a.wav"
    list_chunk = b"LIST" + (5).to_bytes(4, "little") + b"abcde" + b"\0"  # odd size: padded
    path.write_bytes(wav_bytes(16000, SAMPLES[:988], extra_chunk=list_chunk))
    length = declared_length(path)
    assert (length.num_samples, length.stored_samples) == (16000, 988)


def test_malformed_headers_are_errors(tmp_path):
    no_count = tmp_path / "no_count.sph"
    no_count.write_bytes(nist_sphere_bytes(1, SAMPLES[:10]).replace(b"sample_count -i 1\n",
                                                                     b"\n"))
    with pytest.raises(AudioHeaderError, match="no sample_count"):
        declared_length(no_count)
    not_wav = tmp_path / "x.wav"
    not_wav.write_bytes(b"\0" * 100)
    with pytest.raises(AudioHeaderError, match="not a RIFF"):
        declared_length(not_wav)


def _truncate_an4_sph(dl_dir: Path, utt: FakeUtterance) -> Path:
    path = dl_dir / "an4" / "wav" / "an4_clstk" / utt.speaker / f"{utt.utterance_id}.sph"
    path.write_bytes(nist_sphere_bytes(16000, SAMPLES[:988]))
    return path


def test_truncated_sphere_file_is_an_error_naming_it(tmp_path):
    dl_dir = tmp_path / "download"
    make_an4_corpus(dl_dir, GOOD_UTTERANCES)
    path = _truncate_an4_sph(dl_dir, GOOD_UTTERANCES[1])
    assert sf.info(str(path)).frames == 988  # libsndfile alone sees a valid 0.06 s file
    with pytest.raises(ManifestError) as error:
        prepare_manifests("an4", dl_dir, tmp_path / "manifests")
    assert str(error.value) == (
        f"truncated audio: {path} (utterance an2-spka-b): header declares 16000 samples, "
        "the file holds 988"
    )


def test_truncated_sphere_file_is_a_counted_skip_and_the_cli_fails_cleanly(tmp_path, caplog):
    dl_dir = tmp_path / "download"
    make_an4_corpus(dl_dir, GOOD_UTTERANCES)
    path = _truncate_an4_sph(dl_dir, GOOD_UTTERANCES[1])
    with caplog.at_level(logging.WARNING):
        paths = prepare_manifests("an4", dl_dir, tmp_path / "manifests", on_error="skip")
    kept = {s.id for s in load_manifest(paths["train"][1])}
    assert kept == {u.utterance_id for u in GOOD_UTTERANCES if u.split == "train"} - {
        "an2-spka-b"}
    messages = [r.getMessage() for r in caplog.records]
    assert "skipped 1 of 8 utterances (truncated audio: 1)" in messages
    assert any(m.startswith(f"skipping truncated audio: {path}") for m in messages)

    status, stderr = _cli(["--corpus", "an4", "--dl-dir", str(dl_dir), "--output-dir",
                           str(tmp_path / "m2")])
    assert status == 1 and "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert " ERROR " in last and last.endswith(
        f"] truncated audio: {path} (utterance an2-spka-b): header declares 16000 samples, the "
        "file holds 988")


def _cli(argv: list[str]) -> tuple[int, str]:
    """(exit status, stderr) of the prepare_manifests command line, run in this process."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exit_:
        run_tool(lambda: prepare_manifests_main(argv))
    logging.basicConfig(force=True)  # drop the handler that wrote to ``stderr``
    return exit_.value.code, stderr.getvalue()


SHARED_YESNO = SHARED_DOWNLOAD / "waves_yesno"
ZERO, GONE, CUT = "0_0_1_0_0_1_1_0.wav", "1_0_1_1_0_1_1_1.wav", "0_1_1_1_1_0_1_0.wav"


def test_yesno_zero_length_missing_and_truncated_wavs_are_errors_naming_the_file(tmp_path):
    farm = yesno_link_farm(tmp_path / "download")
    (farm / ZERO).unlink()
    (farm / ZERO).write_bytes(b"")
    with pytest.raises(ManifestError, match=rf"unreadable audio: {farm / ZERO} "):
        prepare_manifests("yesno", farm.parent, tmp_path / "manifests")
    (farm / ZERO).unlink()
    with pytest.raises(ManifestError, match=rf"missing audio: {farm / ZERO} .*no such file"):
        prepare_manifests("yesno", farm.parent, tmp_path / "manifests")
    (farm / ZERO).symlink_to(SHARED_YESNO / ZERO)
    (farm / CUT).unlink()
    (farm / CUT).write_bytes(wav_bytes(8000, SAMPLES[:988]))
    with pytest.raises(ManifestError, match=rf"truncated audio: {farm / CUT} .*header declares "
                       "8000 samples, the file holds 988"):
        prepare_manifests("yesno", farm.parent, tmp_path / "manifests")


def test_yesno_skip_mode_counts_each_bad_wav_and_keeps_the_split_of_the_others(tmp_path,
                                                                               caplog):
    farm = yesno_link_farm(tmp_path / "download")
    for name in (ZERO, GONE, CUT):
        (farm / name).unlink()
    (farm / ZERO).write_bytes(b"")
    (farm / CUT).write_bytes(wav_bytes(8000, SAMPLES[:988]))
    with caplog.at_level(logging.WARNING):
        paths = prepare_manifests("yesno", farm.parent, tmp_path / "manifests", on_error="skip")
    assert ("skipped 3 of 60 utterances (missing audio: 1, truncated audio: 1, "
            "unreadable audio: 1)") in [r.getMessage() for r in caplog.records]
    # The published split (sorted file names, even positions train) minus the three bad files.
    names = sorted(p.stem for p in SHARED_YESNO.glob("*.wav"))
    bad = {Path(n).stem for n in (ZERO, GONE, CUT)}
    for split, expected in (("train", names[::2]), ("test", names[1::2])):
        assert sorted(s.id for s in load_manifest(paths[split][1])) == sorted(
            set(expected) - bad)


def test_truncated_flac_is_an_error_naming_it(tmp_path):
    dl_dir = tmp_path / "download"
    part = make_librispeech_part(dl_dir, "test-clean", {"7-10-0000": 1.0, "7-10-0001": 1.5})
    path = part / "7" / "10" / "7-10-0001.flac"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    assert sf.info(str(path)).frames == 24000  # STREAMINFO still declares 1.5 s
    with pytest.raises(ManifestError, match=rf"unreadable audio: {path} \(utterance 7-10-0001\): "
                       "decoding failed"):
        prepare_manifests("librispeech", dl_dir, tmp_path / "manifests")


def test_non_utf8_an4_transcript_line_is_named_by_file_and_line(tmp_path, caplog):
    dl_dir = tmp_path / "download"
    root = make_an4_corpus(dl_dir, GOOD_UTTERANCES)
    trans = root / "etc" / "an4_train.transcription"
    lines = trans.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"A B C", b"A \xff C")  # line 3: an3-spkb-b
    trans.write_bytes(b"\n".join(lines))
    with pytest.raises(ManifestError) as error:
        prepare_manifests("an4", dl_dir, tmp_path / "manifests")
    assert str(error.value) == f"non-UTF-8 text: {trans}:3: byte 0xff at column 7 is not UTF-8"
    with caplog.at_level(logging.WARNING):
        paths = prepare_manifests("an4", dl_dir, tmp_path / "manifests", on_error="skip")
    kept = {s.id for s in load_manifest(paths["train"][1])}
    assert "an3-spkb-b" not in kept and len(kept) == 3  # train: 4 of GOOD_UTTERANCES, 1 skipped
    assert "skipped 1 of 8 utterances (non-UTF-8 text: 1)" in [r.getMessage()
                                                               for r in caplog.records]


def test_non_utf8_librispeech_transcript_line_is_named_by_file_and_line(tmp_path):
    dl_dir = tmp_path / "download"
    part = make_librispeech_part(dl_dir, "test-clean", {"7-10-0000": 1.0, "7-10-0001": 1.5})
    trans = part / "7" / "10" / "7-10.trans.txt"
    trans.write_bytes(trans.read_bytes().replace(b"0001 WORDS", b"0001 W\xc3RDS"))
    status, stderr = _cli(["--corpus", "librispeech", "--dl-dir", str(dl_dir), "--output-dir",
                           str(tmp_path / "m")])
    assert status == 1 and "Traceback" not in stderr
    assert f"non-UTF-8 text: {trans}:2: byte 0xc3 at column 12 is not UTF-8" in stderr
    paths = prepare_manifests("librispeech", dl_dir, tmp_path / "m", on_error="skip")
    assert [s.id for s in load_manifest(paths["test-clean"][1])] == ["7-10-0000"]


def test_intact_hand_built_files_pass(tmp_path):
    # The same hand-built headers, declaring exactly what they hold, are accepted.
    dl_dir = tmp_path / "download"
    make_an4_corpus(dl_dir, GOOD_UTTERANCES[:2] + GOOD_UTTERANCES[4:5] + GOOD_UTTERANCES[-1:])
    path = dl_dir / "an4" / "wav" / "an4_clstk" / "spka" / "an2-spka-b.sph"
    path.write_bytes(nist_sphere_bytes(988, SAMPLES[:988]))
    paths = prepare_manifests("an4", dl_dir, tmp_path / "manifests")
    assert {r.id: r.num_samples for r in load_manifest(paths["train"][0])}["an2-spka-b"] == 988
    assert np.array_equal(sf.read(str(path), dtype="int16")[0], SAMPLES[:988])


@pytest.mark.parametrize("corpus", ["yesno", "librispeech"])
def test_own_preparation_matches_lhotse_recipes_on_the_real_corpora(tmp_path, corpus):
    from lhotse.recipes import prepare_librispeech, prepare_yesno

    shared = SHARED_YESNO.parent
    ours = prepare_manifests(corpus, shared, tmp_path / "manifests")
    reference = (prepare_yesno(shared / "waves_yesno") if corpus == "yesno"
                 else prepare_librispeech(shared / "LibriSpeech", dataset_parts="auto"))
    assert sorted(ours) == sorted(reference)
    def sup_key(s):
        return s.id, s.recording_id, s.text, s.duration, s.speaker, s.language

    def rec_key(r):
        return r.id, r.num_samples, r.sampling_rate

    for split, (rec_path, sup_path) in ours.items():
        assert sorted(map(sup_key, load_manifest(sup_path))) == sorted(
            map(sup_key, reference[split]["supervisions"]))
        assert sorted(map(rec_key, load_manifest(rec_path))) == sorted(
            map(rec_key, reference[split]["recordings"]))
