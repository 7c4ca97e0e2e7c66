"""80-bin log-mel filter-bank features for lhotse cuts, stored with lilcom.

kaldifeat computes the features (through lhotse's :class:`~lhotse.KaldifeatFbank`) when it is
installed; otherwise lhotse's own Kaldi-compatible :class:`~lhotse.Fbank` does, with a log line.
Features go into one ``LilcomChunkyWriter`` archive per split; the cuts that point at them are
written to ``<output_dir>/<prefix>_cuts_<split>.jsonl.gz``.

Command line (the fbank stage of every ``prepare.sh``)::

    python -m icefall_lite.data.fbank --manifest-dir data/manifests --output-dir data/fbank \\
        --prefix an4 --perturb-speed-splits train

Example::

    >>> from icefall_lite.data.fbank import make_fbank_extractor
    >>> extractor = make_fbank_extractor(num_mel_bins=80)
    >>> extractor.feature_dim(16000)
    80
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from lhotse import CutSet, FeatureExtractor, LilcomChunkyWriter, load_manifest

from icefall_lite.data.audio import use_libsndfile_for_sphere
from icefall_lite.data.manifests import list_splits, manifest_path
from icefall_lite.lang.cli import run_tool
from icefall_lite.utils.logging import setup_logging

logger = logging.getLogger(__name__)

#: Speed factors of icefall's 3-way speed perturbation (the original speed is kept too).
SPEED_FACTORS = (0.9, 1.1)


def kaldifeat_available() -> bool:
    try:
        import kaldifeat  # noqa: F401
    except ImportError:
        return False
    return True


def make_fbank_extractor(
    num_mel_bins: int = 80, sampling_rate: int = 16000, device: str | torch.device = "cpu"
) -> FeatureExtractor:
    """A log-mel fbank extractor: kaldifeat when importable, else lhotse's ``Fbank``.

    Both follow Kaldi's ``compute-fbank-feats`` (25 ms window, 10 ms shift, povey window,
    dither 0), so features from either are interchangeable.
    """
    if kaldifeat_available():
        from lhotse import KaldifeatFbank, KaldifeatFbankConfig
        from lhotse.features.kaldifeat import KaldifeatFrameOptions, KaldifeatMelOptions

        return KaldifeatFbank(
            KaldifeatFbankConfig(
                frame_opts=KaldifeatFrameOptions(sampling_rate=sampling_rate),
                mel_opts=KaldifeatMelOptions(num_bins=num_mel_bins),
                device=device,
            )
        )
    from lhotse import Fbank, FbankConfig

    logger.info("kaldifeat is not installed: computing fbank with lhotse's Fbank instead")
    return Fbank(
        FbankConfig(num_filters=num_mel_bins, sampling_rate=sampling_rate, device=str(device))
    )


def speed_copies(cuts: CutSet, factors: Sequence[float] = SPEED_FACTORS) -> CutSet:
    """One speed-perturbed copy of ``cuts`` per factor (ids get an ``_sp<factor>`` suffix)."""
    copies = [cuts.perturb_speed(factor) for factor in factors]
    result = copies[0]
    for more in copies[1:]:
        result = result + more
    return result


def check_all_extracted(expected_ids: Sequence[str], cuts: CutSet, what: str) -> None:
    """Raise unless ``cuts`` holds a cut with features for each of ``expected_ids``.

    lhotse drops a cut whose audio fails to load (it logs a warning and goes on), so a missing
    audio reader or an unreadable file would otherwise leave a split silently short.

    >>> from lhotse.testing.dummies import dummy_cut, dummy_features
    >>> extracted = dummy_cut(0, features=dummy_features(0))
    >>> check_all_extracted([extracted.id], CutSet.from_cuts([extracted]), "toy train")
    >>> check_all_extracted([extracted.id, "b"], CutSet.from_cuts([extracted]), "toy train")
    Traceback (most recent call last):
        ...
    ValueError: toy train: features of 1 of 2 cuts were not computed (lhotse could not load \
their audio; its warnings above say why), e.g. b
    """
    have = {cut.id for cut in cuts if cut.has_features}
    missing = [cut_id for cut_id in expected_ids if cut_id not in have]
    if missing:
        raise ValueError(
            f"{what}: features of {len(missing)} of {len(expected_ids)} cuts were not computed "
            f"(lhotse could not load their audio; its warnings above say why), e.g. "
            + ", ".join(missing[:5]))


def compute_fbank_split(
    manifest_dir: Path,
    output_dir: Path,
    prefix: str,
    split: str,
    perturb_speed: bool = False,
    num_mel_bins: int = 80,
    num_workers: int = 1,
    augment_noise_dir: Path | None = None,
) -> Path:
    """Compute features for one split; return the path of its cut manifest.

    Cuts come from the split's recordings and supervisions (one cut per supervision, with its
    id). An existing cut manifest is left alone, so an interrupted stage can be rerun.
    ``augment_noise_dir`` (with ``perturb_speed``): the speed-perturbed copies are degraded by
    :func:`icefall_lite.data.degrade.augment_copies` (clean / telephone band / noise at 5-20 dB,
    one third each; the synthesised noise is kept in that directory).
    """
    cuts_path = manifest_path(output_dir, prefix, "cuts", split)
    if cuts_path.is_file():
        logger.info("%s exists: skipping", cuts_path)
        return cuts_path
    use_libsndfile_for_sphere()
    recordings = load_manifest(manifest_path(manifest_dir, prefix, "recordings", split))
    supervisions = load_manifest(manifest_path(manifest_dir, prefix, "supervisions", split))
    # One cut per utterance, named after it (an utterance-long segment needs no trimming).
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    cuts = cuts.trim_to_supervisions(keep_overlapping=False).to_eager()
    rates = {r.sampling_rate for r in recordings}
    if len(rates) != 1:
        raise ValueError(f"{prefix} {split}: recordings have several sampling rates {rates}")
    if perturb_speed:
        logger.info("%s %s: adding speed perturbation %s", prefix, split, SPEED_FACTORS)
        copies = speed_copies(cuts)
        if augment_noise_dir is not None:
            from icefall_lite.data.degrade import augment_copies, noise_cuts  # noqa: PLC0415

            logger.info("%s %s: degrading the speed copies (clean / telephone / noise)",
                        prefix, split)
            copies = augment_copies(copies, noise_cuts(augment_noise_dir, next(iter(rates))))
        cuts = (cuts + copies).to_eager()
    elif augment_noise_dir is not None:
        raise ValueError("augment_noise_dir degrades the speed-perturbed copies: it needs "
                         "perturb_speed")
    expected_ids = [cut.id for cut in cuts]
    extractor = make_fbank_extractor(num_mel_bins, sampling_rate=rates.pop())
    storage_path = output_dir / f"{prefix}_feats_{split}"
    output_dir.mkdir(parents=True, exist_ok=True)
    logger.info("%s %s: computing %d-bin fbank with %s", prefix, split, num_mel_bins,
                type(extractor).__name__)
    if kaldifeat_available() and augment_noise_dir is None:
        cuts = cuts.compute_and_store_features_batch(
            extractor, storage_path=storage_path, num_workers=num_workers,
            storage_type=LilcomChunkyWriter, overwrite=True,
        )
    else:
        # lhotse's worker processes are spawned: each must choose the SPHERE reader itself
        executor = None
        if num_workers > 1:
            executor = ProcessPoolExecutor(
                num_workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=use_libsndfile_for_sphere,
            )
        try:
            cuts = cuts.compute_and_store_features(
                extractor, storage_path=storage_path, num_jobs=num_workers,
                storage_type=LilcomChunkyWriter, executor=executor,
            )
        finally:
            if executor is not None:
                executor.shutdown()
    check_all_extracted(expected_ids, cuts, f"{prefix} {split}")
    # Write to a temporary name first so that a killed run never leaves a partial manifest.
    tmp_path = cuts_path.with_name(cuts_path.name.replace(".jsonl.gz", ".tmp.jsonl.gz"))
    cuts.to_file(tmp_path)
    tmp_path.replace(cuts_path)
    return cuts_path


def compute_fbank(
    manifest_dir: str | Path,
    output_dir: str | Path,
    prefix: str,
    splits: Sequence[str] | None = None,
    perturb_speed_splits: Sequence[str] = (),
    num_mel_bins: int = 80,
    num_workers: int = 1,
    augment_noise_dir: Path | None = None,
) -> dict[str, Path]:
    """:func:`compute_fbank_split` for ``splits`` (default: every split in ``manifest_dir``);
    ``augment_noise_dir`` applies to the speed-perturbed splits."""
    manifest_dir, output_dir = Path(manifest_dir), Path(output_dir)
    splits = list(splits) if splits else list_splits(manifest_dir, prefix, "supervisions")
    if not splits:
        raise FileNotFoundError(f"no {prefix}_supervisions_*.jsonl.gz in {manifest_dir}")
    return {
        split: compute_fbank_split(
            manifest_dir, output_dir, prefix, split,
            perturb_speed=split in perturb_speed_splits,
            num_mel_bins=num_mel_bins, num_workers=num_workers,
            augment_noise_dir=augment_noise_dir if split in perturb_speed_splits else None,
        )
        for split in splits
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest-dir", type=Path, required=True)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--prefix", required=True, help="corpus name, e.g. an4")
    parser.add_argument("--splits", nargs="*", default=None,
                        help="splits to process (default: all found in --manifest-dir)")
    parser.add_argument("--perturb-speed-splits", nargs="*", default=[],
                        help=f"splits that get speed perturbation {SPEED_FACTORS} as well")
    parser.add_argument("--augment-noise-dir", type=Path, default=None,
                        help="degrade the speed-perturbed copies (clean / telephone band / "
                             "synthesised noise at 5-20 dB SNR, one third each); the noise file "
                             "is kept here")
    parser.add_argument("--num-mel-bins", type=int, default=80)
    parser.add_argument("--num-workers", type=int, default=1,
                        help="audio-reading workers (kaldifeat) or extraction jobs (lhotse Fbank)")
    args = parser.parse_args(argv)
    setup_logging()
    # Feature extraction is one matrix product per frame block: more threads only contend.
    torch.set_num_threads(1)
    compute_fbank(args.manifest_dir, args.output_dir, args.prefix, args.splits,
                  args.perturb_speed_splits, args.num_mel_bins, args.num_workers,
                  args.augment_noise_dir)


if __name__ == "__main__":
    run_tool(main)
