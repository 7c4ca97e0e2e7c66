"""Degraded copies of a test set, to measure how a model holds up beyond its recording conditions.

Two conditions, both made with lhotse's own cut transforms and stored as fbank features beside the
clean split, so that ``decode.py --test-sets test,test-telephone,test-noise10db`` decodes them:

- ``telephone``: each recording resampled to 8 kHz and back to the corpus rate (lhotse's
  ``Cut.resample``): nothing above 4 kHz survives, as on a narrow-band telephone line;
- ``noise``: additive noise at a fixed SNR (lhotse's ``CutSet.mix``, which scales the noise so
  that the energy of the utterance over the energy of the noise is ``--snr`` dB). The noise is
  synthesised (no download): 60 s of Gaussian noise, white or pink (power falling as 1/f), written
  once with a fixed seed under ``--noise-dir``; each utterance gets a random stretch of it.

For training, :func:`augment_copies` degrades the speed-perturbed copies of the training cuts
(``prepare.sh --augment 1``, :mod:`icefall_lite.data.fbank`): each copy, by a draw seeded with its
id, stays clean, is band-limited, or gets the noise at an SNR drawn from 5-20 dB, one third each.

Command line (the AN4 recipe's ``run.sh`` stage 5 runs it)::

    python -m icefall_lite.data.degrade --manifest-dir data/manifests --fbank-dir data/fbank \\
        --prefix an4 --split test --condition noise --snr 10 --noise-dir data/noise

writes ``data/fbank/an4_cuts_test-noise10db.jsonl.gz`` (``test-telephone`` for telephone).
"""

from __future__ import annotations

import argparse
import logging
import random
from pathlib import Path

import numpy as np
import soundfile as sf
from lhotse import CutSet, LilcomChunkyWriter, Recording, load_manifest
from lhotse.cut import MonoCut

from icefall_lite.data.audio import use_libsndfile_for_sphere
from icefall_lite.data.fbank import make_fbank_extractor
from icefall_lite.data.manifests import manifest_path
from icefall_lite.lang.cli import run_tool
from icefall_lite.utils.logging import setup_logging

logger = logging.getLogger(__name__)

CONDITIONS = ("telephone", "noise")
NOISE_COLOURS = ("white", "pink")
NOISE_SECONDS = 60.0


def degraded_split_name(split: str, condition: str, snr: float = 10.0) -> str:
    """``test`` → ``test-telephone`` / ``test-noise10db`` (the split name decode.py takes)."""
    if condition == "telephone":
        return f"{split}-telephone"
    if condition == "noise":
        return f"{split}-noise{snr:g}db"
    raise ValueError(f"condition must be one of {CONDITIONS}, got {condition!r}")


def synthesize_noise(num_samples: int, colour: str = "white", seed: int = 0) -> np.ndarray:
    """Unit-variance Gaussian noise, white or pink (1/f power: the white spectrum scaled by
    1/sqrt(f) above 20 Hz)."""
    if colour not in NOISE_COLOURS:
        raise ValueError(f"noise colour must be one of {NOISE_COLOURS}, got {colour!r}")
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(num_samples)
    if colour == "pink":
        spectrum = np.fft.rfft(noise)
        freqs = np.fft.rfftfreq(num_samples)
        scale = np.zeros_like(freqs)
        low = max(1, int(20 / 16000 * num_samples))  # the DC bin and below ~20 Hz removed
        scale[low:] = 1 / np.sqrt(freqs[low:])
        noise = np.fft.irfft(spectrum * scale, n=num_samples)
    return (noise / noise.std()).astype(np.float32)


def noise_cuts(noise_dir: Path, sampling_rate: int, colour: str = "white",
               seed: int = 0) -> CutSet:
    """The noise recording (written once under ``noise_dir``) as a one-cut CutSet."""
    path = noise_dir / f"{colour}-noise-seed{seed}-{sampling_rate}.flac"
    if not path.is_file():
        noise_dir.mkdir(parents=True, exist_ok=True)
        samples = synthesize_noise(int(NOISE_SECONDS * sampling_rate), colour, seed)
        # 16-bit FLAC: peak at 0.25 full scale, 4 standard deviations
        tmp = path.with_name(path.stem + ".tmp.flac")
        sf.write(tmp, 0.25 * samples / np.abs(samples).max(), sampling_rate, subtype="PCM_16")
        tmp.replace(path)
    recording = Recording.from_file(path, recording_id=path.stem)
    return CutSet.from_cuts([MonoCut(id=path.stem, start=0.0, duration=recording.duration,
                                     channel=0, recording=recording)])


def degrade(cuts: CutSet, condition: str, *, snr: float = 10.0, noise: CutSet | None = None,
            seed: int = 0) -> CutSet:
    """``cuts`` (with recordings) under ``condition``; the cut ids are kept."""
    if condition == "telephone":
        rates = {c.sampling_rate for c in cuts}
        if len(rates) != 1:
            raise ValueError(f"cuts have several sampling rates {sorted(rates)}")
        rate = rates.pop()
        return cuts.resample(8000).resample(rate)
    if condition == "noise":
        if noise is None:
            raise ValueError("condition 'noise' needs the noise cuts")
        return cuts.mix(noise, snr=snr, mix_prob=1.0, seed=seed, preserve_id="left",
                        random_mix_offset=True)
    raise ValueError(f"condition must be one of {CONDITIONS}, got {condition!r}")


def augment_copies(cuts: CutSet, noise: CutSet, seed: int = 0,
                   snr_range: tuple[float, float] = (5.0, 20.0)) -> CutSet:
    """Each cut (with a recording) clean, band-limited or noisy, one third each, by a draw seeded
    with ``seed`` and the cut's id (the same cut gets the same treatment in every run); a noisy
    cut gets a random stretch of ``noise`` at an SNR uniform in ``snr_range``. Ids are kept."""
    (noise_cut,) = list(noise)
    out = []
    for cut in cuts:
        rng = random.Random(f"{seed}/{cut.id}")
        kind = rng.choice(("clean", "telephone", "noise"))
        if kind == "telephone":
            cut = cut.resample(8000).resample(cut.sampling_rate)
        elif kind == "noise":
            if noise_cut.duration < cut.duration:
                raise ValueError(f"the noise ({noise_cut.duration:.1f} s) is shorter than cut "
                                 f"{cut.id} ({cut.duration:.1f} s)")
            offset = rng.uniform(0, noise_cut.duration - cut.duration)
            stretch = noise_cut.truncate(offset=offset, duration=cut.duration)
            cut = cut.mix(stretch, snr=rng.uniform(*snr_range), preserve_id="left")
        out.append(cut)
    return CutSet.from_cuts(out)


def make_degraded_split(manifest_dir: Path, fbank_dir: Path, prefix: str, split: str,
                        condition: str, *, snr: float = 10.0, noise_dir: Path | None = None,
                        noise_colour: str = "white", seed: int = 0,
                        num_mel_bins: int = 80) -> Path:
    """Degrade ``split``'s recordings, compute fbank, write the cut manifest; return its path."""
    name = degraded_split_name(split, condition, snr)
    cuts_path = manifest_path(fbank_dir, prefix, "cuts", name)
    use_libsndfile_for_sphere()
    recordings = load_manifest(manifest_path(manifest_dir, prefix, "recordings", split))
    supervisions = load_manifest(manifest_path(manifest_dir, prefix, "supervisions", split))
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    cuts = cuts.trim_to_supervisions(keep_overlapping=False).to_eager()
    rate = next(iter(cuts)).sampling_rate
    noise = None
    if condition == "noise":
        if noise_dir is None:
            raise ValueError("condition 'noise' needs --noise-dir")
        noise = noise_cuts(noise_dir, rate, noise_colour, seed)
    degraded = degrade(cuts, condition, snr=snr, noise=noise, seed=seed)
    extractor = make_fbank_extractor(num_mel_bins, sampling_rate=rate)
    fbank_dir.mkdir(parents=True, exist_ok=True)
    logger.info("%s %s: %d cuts, %s", prefix, name, len(cuts),
                "8 kHz and back" if condition == "telephone"
                else f"{noise_colour} noise at {snr:g} dB SNR")
    degraded = degraded.compute_and_store_features(
        extractor, storage_path=fbank_dir / f"{prefix}_feats_{name}", num_jobs=1,
        storage_type=LilcomChunkyWriter)
    tmp_path = cuts_path.with_name(cuts_path.name.replace(".jsonl.gz", ".tmp.jsonl.gz"))
    degraded.to_file(tmp_path)
    tmp_path.replace(cuts_path)
    return cuts_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest-dir", type=Path, required=True)
    parser.add_argument("--fbank-dir", type=Path, required=True)
    parser.add_argument("--prefix", required=True, help="corpus prefix of the manifests")
    parser.add_argument("--split", default="test")
    parser.add_argument("--condition", choices=CONDITIONS, required=True)
    parser.add_argument("--snr", type=float, default=10.0, help="noise: SNR in dB")
    parser.add_argument("--noise-dir", type=Path, default=None,
                        help="noise: where the synthesised noise file is kept")
    parser.add_argument("--noise-colour", choices=NOISE_COLOURS, default="white")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-mel-bins", type=int, default=80)
    args = parser.parse_args(argv)
    setup_logging()
    path = make_degraded_split(args.manifest_dir, args.fbank_dir, args.prefix, args.split,
                               args.condition, snr=args.snr, noise_dir=args.noise_dir,
                               noise_colour=args.noise_colour, seed=args.seed,
                               num_mel_bins=args.num_mel_bins)
    print(path)


if __name__ == "__main__":
    run_tool(main)
