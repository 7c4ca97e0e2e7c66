"""The ASR data module: cut manifests → batches for training, validation and decoding.

Batches are lhotse's :class:`~lhotse.dataset.K2SpeechRecognitionDataset` dicts::

    {"inputs": Tensor [N, T, 80],                  # log-mel fbank, padded
     "supervisions": {"text": list[str],           # N transcripts
                      "sequence_idx": Tensor [N],  # row of inputs each utterance is in
                      "start_frame": Tensor [N], "num_frames": Tensor [N],
                      "cut": list[Cut]}}           # when return_cuts

Training uses a :class:`~lhotse.dataset.DynamicBucketingSampler` (``--max-duration`` seconds of
audio per batch, ``--num-buckets``, ``--shuffle``), optional SpecAugment, MUSAN noise and 0.9/1.1
speed perturbation, features read from disk or computed on the fly. Under DDP every rank gets its
own share (``world_size``/``rank``, taken from ``torch.distributed`` when not given). The
sampler's ``state_dict()`` goes into checkpoints; pass it back to resume mid-epoch.

Example::

    >>> import argparse
    >>> from icefall_lite.data.datamodule import AsrDataConfig, AsrDataModule
    >>> parser = argparse.ArgumentParser()
    >>> AsrDataModule.add_arguments(parser)
    >>> config = AsrDataConfig.from_args(parser.parse_args(["--max-duration", "100"]))
    >>> data = AsrDataModule(config)

and, once the recipe has prepared AN4's cuts::

    train_dl = data.train_dataloaders(data.load_cuts("an4", "train"))
    batch = next(iter(train_dl))
"""

from __future__ import annotations

import argparse
import itertools
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lhotse import CutSet, load_manifest_lazy
from lhotse.dataset import (
    CutMix,
    DynamicBucketingSampler,
    K2SpeechRecognitionDataset,
    OnTheFlyFeatures,
    PerturbSpeed,
    PrecomputedFeatures,
    SimpleCutSampler,
    SpecAugment,
)
from lhotse.dataset.sampling.base import CutSampler
from torch.utils.data import DataLoader

from icefall_lite.data.audio import use_libsndfile_for_sphere
from icefall_lite.data.fbank import SPEED_FACTORS, make_fbank_extractor
from icefall_lite.data.manifests import manifest_path
from icefall_lite.utils.config import add_dataclass_arguments, config_from_args

logger = logging.getLogger(__name__)


@dataclass
class AsrDataConfig:
    """Data options; each field is a command-line flag (``--max-duration`` etc.)."""

    manifest_dir: Path = field(
        default=Path("data/fbank"),
        metadata={"help": "directory with <prefix>_cuts_<split>.jsonl.gz"},
    )
    max_duration: float = field(
        default=200.0, metadata={"help": "seconds of audio per batch (before padding)"}
    )
    bucketing_sampler: bool = field(
        default=True,
        metadata={"help": "group utterances of similar duration (DynamicBucketingSampler)"},
    )
    num_buckets: int = field(default=30, metadata={"help": "duration buckets of the sampler"})
    shuffle: bool = field(default=True, metadata={"help": "reshuffle training cuts every epoch"})
    # icefall defaults to 1, which on small corpora silently drops whole buckets (yesno: every
    # batch, AN4: 30% of the cuts with 30 buckets).
    drop_last: bool = field(
        default=False,
        metadata={"help": "drop batches that run out of cuts before --max-duration"},
    )
    return_cuts: bool = field(
        default=True, metadata={"help": "put the cuts in batch['supervisions']['cut']"}
    )
    num_workers: int = field(default=2, metadata={"help": "DataLoader worker processes"})
    enable_spec_aug: bool = field(
        default=True,
        metadata={"help": "SpecAugment on training batches", "aliases": ("--spec-aug",)},
    )
    spec_aug_time_warp_factor: int = field(
        default=80, metadata={"help": "SpecAugment time-warp factor; below 1 disables warping"}
    )
    spec_aug_num_feature_masks: int = field(
        default=2, metadata={"help": "SpecAugment: frequency masks per utterance"}
    )
    spec_aug_features_mask_size: int = field(
        default=27, metadata={"help": "SpecAugment: widest frequency mask (bins)"}
    )
    spec_aug_num_frame_masks: int = field(
        default=10, metadata={"help": "SpecAugment: most time masks per utterance (fewer on "
                                      "short ones: see --spec-aug-max-frames-mask-fraction)"}
    )
    spec_aug_frames_mask_size: int = field(
        default=100, metadata={"help": "SpecAugment: widest time mask (frames)"}
    )
    spec_aug_max_frames_mask_fraction: float = field(
        default=0.15, metadata={"help": "SpecAugment: most of an utterance's frames that time "
                                        "masks may cover"}
    )
    spec_aug_start_epoch: int = field(
        default=1,
        metadata={"help": "first training epoch whose batches get SpecAugment (a model can "
                          "first learn the clean data, e.g. during --ctc-only-batches)"},
    )
    enable_musan: bool = field(
        default=False,
        metadata={"help": "mix MUSAN noise into training cuts (needs musan_cuts.jsonl.gz)"},
    )
    perturb_speed: bool = field(
        default=False,
        metadata={
            "help": f"speed perturbation {SPEED_FACTORS} on the fly (needs --on-the-fly-feats; "
            "with precomputed features perturb at fbank time instead)"
        },
    )
    on_the_fly_feats: bool = field(
        default=False, metadata={"help": "compute fbank in the DataLoader instead of reading it"}
    )
    feature_dim: int = field(default=80, metadata={"help": "fbank bins for on-the-fly features"})
    seed: int = field(default=42, metadata={"help": "seed of the sampler and the workers"})
    world_size: int | None = field(
        default=None, metadata={"help": "DDP world size (None: from torch.distributed)"}
    )
    rank: int | None = field(
        default=None, metadata={"help": "DDP rank (None: from torch.distributed)"}
    )

    def __post_init__(self) -> None:
        self.manifest_dir = Path(self.manifest_dir)
        if self.max_duration <= 0:
            raise ValueError(f"--max-duration must be positive, got {self.max_duration}")
        if self.num_buckets < 1:
            raise ValueError(f"--num-buckets must be at least 1, got {self.num_buckets}")
        if self.spec_aug_start_epoch < 1:
            raise ValueError(
                f"--spec-aug-start-epoch must be at least 1, got {self.spec_aug_start_epoch}")
        if self.enable_spec_aug and self.spec_aug_num_frame_masks < 1:
            raise ValueError(
                f"--spec-aug-num-frame-masks must be at least 1 (lhotse's SpecAugment needs a "
                f"time mask), got {self.spec_aug_num_frame_masks}; --enable-spec-aug 0 turns "
                f"SpecAugment off")
        if self.perturb_speed and not self.on_the_fly_feats:
            raise ValueError(
                "--perturb-speed needs --on-the-fly-feats 1; with precomputed features use "
                "python -m icefall_lite.data.fbank --perturb-speed-splits train"
            )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> AsrDataConfig:
        return config_from_args(cls, args, allow_missing=False)


class FromEpoch:
    """An input transform that acts from epoch ``start_epoch`` on and passes features through
    before. The training loop calls ``set_epoch(epoch)`` (1-based) before it iterates the loader
    of that epoch; the loader's workers are not persistent, so each epoch's workers start with
    the current epoch.

    Example:
        >>> t = FromEpoch(lambda x, sup: x + 1, start_epoch=3)
        >>> t.set_epoch(2); t(torch.zeros(1), None).item()
        0.0
        >>> t.set_epoch(3); t(torch.zeros(1), None).item()
        1.0
    """

    def __init__(self, transform: Any, start_epoch: int) -> None:
        self.transform = transform
        self.start_epoch = start_epoch
        self.epoch = 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __call__(self, features: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.epoch < self.start_epoch:
            return features
        return self.transform(features, *args, **kwargs)

    def __repr__(self) -> str:
        return f"FromEpoch({self.transform!r}, start_epoch={self.start_epoch})"


class _WorkerInit:
    """Seed each DataLoader worker differently and set up SPHERE reading in it."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __call__(self, worker_id: int) -> None:
        seed = self.seed + worker_id
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        use_libsndfile_for_sphere()


class AsrDataModule:
    """Builds the DataLoaders of an ASR recipe from an :class:`AsrDataConfig`."""

    def __init__(self, config: AsrDataConfig) -> None:
        self.config = config
        use_libsndfile_for_sphere()

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """Add the data flags (``--manifest-dir``, ``--max-duration``, ...) to ``parser``."""
        group = parser.add_argument_group("ASR data", "batches, sampling and augmentation")
        add_dataclass_arguments(group, AsrDataConfig)

    def load_cuts(self, prefix: str, split: str) -> CutSet:
        """The lazily opened ``<manifest_dir>/<prefix>_cuts_<split>.jsonl.gz``.

        Feature paths inside are relative to the recipe directory (``data/fbank/...``), so run
        from it, as icefall recipes do.
        """
        path = manifest_path(self.config.manifest_dir, prefix, "cuts", split)
        if not path.is_file():
            raise FileNotFoundError(f"no cut manifest {path}; run the fbank stage of prepare.sh")
        return load_manifest_lazy(path)

    def _prepared(self, cuts: CutSet) -> tuple[CutSet, PrecomputedFeatures | OnTheFlyFeatures]:
        """The cuts as the input strategy wants them, and that strategy."""
        if not self.config.on_the_fly_feats:
            return cuts, PrecomputedFeatures()
        sampling_rate = next(iter(cuts)).sampling_rate
        # Stored features are not used; dropping them also lets lhotse speed-perturb quietly.
        extractor = make_fbank_extractor(self.config.feature_dim, sampling_rate)
        return cuts.drop_features(), OnTheFlyFeatures(extractor)

    def _sampler(self, cuts: CutSet, shuffle: bool, drop_last: bool) -> CutSampler:
        c = self.config
        common = dict(
            max_duration=c.max_duration, shuffle=shuffle, drop_last=drop_last,
            world_size=c.world_size, rank=c.rank, seed=c.seed,
        )
        if c.bucketing_sampler:
            # lhotse refuses more buckets than cuts; only tiny sets (smoke tests) have that few.
            num_cuts = sum(1 for _ in itertools.islice(cuts, c.num_buckets))
            if num_cuts < c.num_buckets:
                logger.info("only %d cuts: using %d buckets instead of %d", num_cuts, num_cuts,
                            c.num_buckets)
            return DynamicBucketingSampler(cuts, num_buckets=num_cuts, **common)
        return SimpleCutSampler(cuts, **common)

    def _loader(self, dataset: K2SpeechRecognitionDataset, sampler: CutSampler) -> DataLoader:
        return DataLoader(
            dataset,
            sampler=sampler,
            batch_size=None,  # the sampler yields whole batches
            num_workers=self.config.num_workers,
            persistent_workers=False,
            worker_init_fn=_WorkerInit(self.config.seed),
        )

    def _cut_transforms(self) -> list[Any]:
        c = self.config
        transforms: list[Any] = []
        if c.enable_musan:
            musan_path = c.manifest_dir / "musan_cuts.jsonl.gz"
            if not musan_path.is_file():
                raise FileNotFoundError(f"--enable-musan 1 needs {musan_path}")
            transforms.append(
                CutMix(cuts=load_manifest_lazy(musan_path), p=0.5, snr=(10, 20), preserve_id=True,
                       pad_to_longest=False)
            )
        if c.perturb_speed:
            # p=2/3: each of original, 0.9 and 1.1 is seen equally often.
            transforms.append(PerturbSpeed(factors=list(SPEED_FACTORS), p=2 / 3, preserve_id=True))
        return transforms

    def train_dataloaders(
        self, cuts: CutSet, sampler_state_dict: dict[str, Any] | None = None
    ) -> DataLoader:
        """Shuffled, augmented training batches; ``sampler_state_dict`` resumes mid-epoch."""
        c = self.config
        input_transforms = []
        if c.enable_spec_aug:
            spec_aug = SpecAugment(
                time_warp_factor=c.spec_aug_time_warp_factor,
                num_feature_masks=c.spec_aug_num_feature_masks,
                features_mask_size=c.spec_aug_features_mask_size,
                num_frame_masks=c.spec_aug_num_frame_masks,
                frames_mask_size=c.spec_aug_frames_mask_size,
                max_frames_mask_fraction=c.spec_aug_max_frames_mask_fraction,
            )
            input_transforms.append(
                spec_aug if c.spec_aug_start_epoch == 1
                else FromEpoch(spec_aug, c.spec_aug_start_epoch)
            )
        cuts, input_strategy = self._prepared(cuts)
        dataset = K2SpeechRecognitionDataset(
            return_cuts=c.return_cuts,
            cut_transforms=self._cut_transforms(),
            input_transforms=input_transforms,
            input_strategy=input_strategy,
        )
        sampler = self._sampler(cuts, shuffle=c.shuffle, drop_last=c.drop_last)
        if sampler_state_dict is not None:
            logger.info("resuming the training sampler from a checkpoint")
            sampler.load_state_dict(sampler_state_dict)
        return self._loader(dataset, sampler)

    def valid_dataloaders(self, cuts: CutSet) -> DataLoader:
        """Validation batches: no augmentation, fixed order, nothing dropped."""
        return self.test_dataloaders(cuts)

    def test_dataloaders(self, cuts: CutSet) -> DataLoader:
        """Decoding batches: no augmentation, fixed order, nothing dropped, cuts returned."""
        cuts, input_strategy = self._prepared(cuts)
        dataset = K2SpeechRecognitionDataset(return_cuts=True, input_strategy=input_strategy)
        return self._loader(dataset, self._sampler(cuts, shuffle=False, drop_last=False))
