"""Degraded test sets (data.degrade): the telephone band and the noise SNR measured on the audio
with numpy (FFT band energies, signal/noise energy ratio), not taken from lhotse's settings."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet, Recording, load_manifest
from lhotse.cut import MonoCut

from icefall_lite.data.degrade import (
    degrade,
    degraded_split_name,
    make_degraded_split,
    noise_cuts,
    synthesize_noise,
)
from icefall_lite.data.manifests import manifest_path

RATE = 16000


def _broadband_cuts(tmp_path, n=3, seconds=2.0) -> CutSet:
    """Cuts of white noise plus a 440 Hz tone: energy in every band up to 8 kHz."""
    rng = np.random.default_rng(1)
    cuts = []
    for i in range(n):
        t = np.arange(int(seconds * RATE)) / RATE
        samples = 0.1 * rng.standard_normal(t.size) + 0.3 * np.sin(2 * np.pi * 440 * t)
        path = tmp_path / f"utt{i}.wav"
        sf.write(path, samples, RATE, subtype="FLOAT")
        rec = Recording.from_file(path, recording_id=f"utt{i}")
        cuts.append(MonoCut(id=f"utt{i}", start=0.0, duration=rec.duration, channel=0,
                            recording=rec))
    return CutSet.from_cuts(cuts)


def _band_fraction(samples: np.ndarray, low_hz: float) -> float:
    power = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / RATE)
    return float(power[freqs > low_hz].sum() / power.sum())


def test_telephone_band_removes_everything_above_4khz_and_keeps_the_rest(tmp_path):
    cuts = _broadband_cuts(tmp_path)
    for clean, tel in zip(cuts, degrade(cuts, "telephone")):
        a, b = clean.load_audio()[0], tel.load_audio()[0]
        assert tel.id == clean.id and tel.sampling_rate == RATE and b.shape == a.shape
        # white noise: about half the noise power lies above 4 kHz before, none after
        assert _band_fraction(a, 4100) > 0.05
        assert _band_fraction(b, 4100) < 1e-3
        # below 3.5 kHz the signal is unchanged up to the resampler's ripple
        low = np.fft.rfftfreq(a.size, 1 / RATE) < 3500
        pa, pb = np.abs(np.fft.rfft(a))[low] ** 2, np.abs(np.fft.rfft(b))[low] ** 2
        assert pb.sum() == pytest.approx(pa.sum(), rel=0.05)


@pytest.mark.parametrize("snr", [10.0, 0.0])
@pytest.mark.parametrize("colour", ["white", "pink"])
def test_noise_is_added_at_the_requested_snr(tmp_path, snr, colour):
    cuts = _broadband_cuts(tmp_path)
    noise = noise_cuts(tmp_path / "noise", RATE, colour)
    for clean, noisy in zip(cuts, degrade(cuts, "noise", snr=snr, noise=noise)):
        a, m = clean.load_audio()[0], noisy.load_audio()[0]
        assert noisy.id == clean.id and m.shape == a.shape
        added = m - a
        measured = 10 * np.log10((a ** 2).sum() / (added ** 2).sum())
        assert measured == pytest.approx(snr, abs=0.3)


def test_pink_noise_power_falls_with_frequency_and_white_does_not():
    white, pink = synthesize_noise(RATE * 4, "white"), synthesize_noise(RATE * 4, "pink")
    for noise in (white, pink):
        assert noise.std() == pytest.approx(1.0, rel=1e-3)
    # 1/f: each octave carries the same power, so 250-500 Hz has as much as 4-8 kHz
    def band(x, lo, hi):
        power = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(x.size, 1 / RATE)
        return power[(freqs >= lo) & (freqs < hi)].sum()

    assert band(pink, 250, 500) / band(pink, 4000, 8000) == pytest.approx(1.0, rel=0.15)
    assert band(white, 250, 500) / band(white, 4000, 8000) == pytest.approx(1 / 16, rel=0.15)


def test_degraded_split_gets_features_for_every_cut(synthetic_fbank, tmp_path):
    manifest_dir, fbank_dir = synthetic_fbank
    out = tmp_path / "fbank"
    clean = {c.id: c for c in load_manifest(manifest_path(fbank_dir, "an4", "cuts", "test"))}
    for condition in ("telephone", "noise"):
        path = make_degraded_split(manifest_dir, out, "an4", "test", condition, snr=10,
                                   noise_dir=tmp_path / "noise")
        assert path == manifest_path(out, "an4", "cuts", degraded_split_name("test", condition))
        cuts = load_manifest(path)
        assert sorted(c.id for c in cuts) == sorted(clean)
        for cut in cuts:
            feats, ref = cut.load_features(), clean[cut.id].load_features()
            assert feats.shape == ref.shape and np.isfinite(feats).all()
            assert not np.allclose(feats, ref, atol=0.1)  # the audio did change
            assert cut.supervisions[0].text == clean[cut.id].supervisions[0].text
    assert degraded_split_name("test", "noise", 10) == "test-noise10db"
    with pytest.raises(ValueError, match="condition"):
        degraded_split_name("test", "reverb")


def test_augmented_copies_are_clean_band_limited_or_noisy_by_their_id(tmp_path):
    from icefall_lite.data.degrade import augment_copies

    cuts = _broadband_cuts(tmp_path, n=12, seconds=1.0)
    noise = noise_cuts(tmp_path / "noise", RATE)
    first, again = augment_copies(cuts, noise, seed=3), augment_copies(cuts, noise, seed=3)
    kinds = []
    for clean, aug, aug2 in zip(cuts, first, again):
        a, b = clean.load_audio()[0], aug.load_audio()[0]
        assert aug.id == clean.id and b.shape == a.shape
        assert np.array_equal(b, aug2.load_audio()[0])  # the same draw for the same id
        if np.array_equal(a, b):
            kinds.append("clean")
        elif _band_fraction(b, 4100) < 1e-3:
            kinds.append("telephone")
        else:
            snr = 10 * np.log10((a ** 2).sum() / ((b - a) ** 2).sum())
            assert 5 - 0.3 <= snr <= 20 + 0.3
            kinds.append("noise")
    assert set(kinds) == {"clean", "telephone", "noise"}, kinds


def test_fbank_with_augmentation_degrades_only_the_speed_copies(synthetic_fbank, tmp_path):
    from icefall_lite.data.fbank import compute_fbank_split

    manifest_dir, fbank_dir = synthetic_fbank
    path = compute_fbank_split(manifest_dir, tmp_path / "fbank", "an4", "train",
                               perturb_speed=True, augment_noise_dir=tmp_path / "noise")
    augmented = {c.id: c for c in load_manifest(path)}
    plain = {c.id: c for c in load_manifest(manifest_path(fbank_dir, "an4", "cuts", "train"))}
    assert sorted(augmented) == sorted(plain)  # originals and both speed copies, same ids
    changed = set()
    for cut_id, cut in augmented.items():
        feats, ref = cut.load_features(), plain[cut_id].load_features()
        assert feats.shape == ref.shape
        if not np.allclose(feats, ref, atol=1e-2):
            changed.add(cut_id)
    assert changed and all("_sp" in cut_id for cut_id in changed)


def test_fbank_with_augmentation_in_two_worker_processes(synthetic_fbank, tmp_path):
    """lhotse's extraction workers are spawned: each must read SPHERE audio without sph2pipe
    (the bug: every train cut was dropped with a warning, leaving an empty training set)."""
    from icefall_lite.data.fbank import compute_fbank_split

    manifest_dir, fbank_dir = synthetic_fbank
    path = compute_fbank_split(manifest_dir, tmp_path / "fbank", "an4", "train",
                               perturb_speed=True, augment_noise_dir=tmp_path / "noise",
                               num_workers=2)
    plain = load_manifest(manifest_path(fbank_dir, "an4", "cuts", "train"))
    augmented = load_manifest(path)
    assert sorted(c.id for c in augmented) == sorted(c.id for c in plain)
    assert all(c.has_features for c in augmented)
