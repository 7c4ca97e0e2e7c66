"""Features: 80-bin fbank, Kaldi's frame count, two implementations agree, speed perturbation."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from data_helpers import GOOD_UTTERANCES
from lhotse import load_manifest

from icefall_lite.data import fbank as fbank_module
from icefall_lite.data.manifests import manifest_path


def _cuts(fbank_dir, split):
    return {c.id: c for c in load_manifest(manifest_path(fbank_dir, "an4", "cuts", split))}


def test_every_cut_has_80_bins_and_one_frame_per_10ms(synthetic_fbank):
    _, fbank_dir = synthetic_fbank
    cuts = _cuts(fbank_dir, "test") | _cuts(fbank_dir, "train") | _cuts(fbank_dir, "dev")
    for utt in GOOD_UTTERANCES:
        feats = cuts[utt.utterance_id].load_features()
        num_samples = round(utt.seconds * 16000)
        # Kaldi with snip_edges=false: one frame per 160-sample shift, rounded to nearest.
        assert feats.shape == ((num_samples + 80) // 160, 80)
        assert np.isfinite(feats).all()


def test_training_split_gets_0_9_and_1_1_speed_copies(synthetic_fbank):
    _, fbank_dir = synthetic_fbank
    train, test = _cuts(fbank_dir, "train"), _cuts(fbank_dir, "test")
    originals = [u for u in GOOD_UTTERANCES if u.split == "train"]
    assert len(train) == 3 * len(originals)
    assert len(test) == 2  # the test split is not perturbed
    for utt in originals:
        for factor in (0.9, 1.1):
            cut = train[f"{utt.utterance_id}_sp{factor}"]
            assert cut.duration == pytest.approx(utt.seconds / factor, abs=1e-3)
            assert cut.supervisions[0].text == utt.text
            assert cut.load_features().shape[0] == pytest.approx(100 * utt.seconds / factor, abs=1)


def test_lhotse_fbank_fallback_matches_kaldifeat_features(synthetic_fbank, tmp_path,
                                                          monkeypatch, caplog):
    manifest_dir, fbank_dir = synthetic_fbank
    assert fbank_module.kaldifeat_available()  # the fixture's features come from kaldifeat
    monkeypatch.setattr(fbank_module, "kaldifeat_available", lambda: False)
    with caplog.at_level(logging.INFO):
        path = fbank_module.compute_fbank_split(manifest_dir, tmp_path, "an4", "test")
    assert any("kaldifeat is not installed" in r.getMessage() for r in caplog.records)
    fallback = {c.id: c for c in load_manifest(path)}
    for cut_id, cut in _cuts(fbank_dir, "test").items():
        expected = cut.load_features()
        actual = fallback[cut_id].load_features()
        assert actual.shape == expected.shape
        # Both are Kaldi fbank; lilcom stores log-energies to about 0.02.
        np.testing.assert_allclose(actual, expected, atol=0.1)


def test_existing_cut_manifest_is_not_recomputed(synthetic_fbank, caplog):
    manifest_dir, fbank_dir = synthetic_fbank
    path = manifest_path(fbank_dir, "an4", "cuts", "test")
    before = path.stat().st_mtime_ns
    with caplog.at_level(logging.INFO):
        fbank_module.compute_fbank(manifest_dir, fbank_dir, "an4", splits=["test"])
    assert path.stat().st_mtime_ns == before
    assert any("skipping" in r.getMessage() for r in caplog.records)


def test_missing_manifests_are_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="no an4_supervisions_"):
        fbank_module.compute_fbank(tmp_path, tmp_path / "fbank", "an4")


@pytest.mark.parametrize("augment", [False, True])
def test_a_cut_whose_audio_cannot_be_read_is_an_error_not_a_shorter_split(
        synthetic_an4, tmp_path, augment):
    """lhotse drops cuts whose audio fails to load; the fbank stage must not."""
    import shutil

    from icefall_lite.data.prepare_manifests import prepare_manifests

    dl_dir = tmp_path / "download"
    shutil.copytree(synthetic_an4, dl_dir)
    prepare_manifests("an4", dl_dir, tmp_path / "manifests")
    victim = next(u for u in GOOD_UTTERANCES if u.split == "train")
    wav = next(dl_dir.rglob(f"{victim.utterance_id}.sph"))
    wav.unlink()  # gone after the manifests were validated
    with pytest.raises(ValueError, match=rf"an4 train: features of \d+ of \d+ cuts were not "
                                         rf"computed .* {victim.utterance_id}"):
        fbank_module.compute_fbank_split(
            tmp_path / "manifests", tmp_path / "fbank", "an4", "train", perturb_speed=True,
            augment_noise_dir=tmp_path / "noise" if augment else None)
