"""The ASR data module: batch layout, augmentation, resume, DDP sharding, flags."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from data_helpers import GOOD_UTTERANCES
from lhotse import load_manifest

from icefall_lite.data.datamodule import AsrDataConfig, AsrDataModule
from icefall_lite.data.manifests import manifest_path
from icefall_lite.training.train import set_transforms_epoch


def _module(fbank_dir, **overrides) -> AsrDataModule:
    options = dict(manifest_dir=fbank_dir, max_duration=4.0, num_workers=0, shuffle=True,
                   drop_last=False, num_buckets=2)
    options.update(overrides)
    return AsrDataModule(AsrDataConfig(**options))


def _ids(batch) -> list[str]:
    return [c.id for c in batch["supervisions"]["cut"]]


def test_test_batches_hold_padded_features_and_supervisions_of_every_utterance(synthetic_fbank):
    _, fbank_dir = synthetic_fbank
    data = _module(fbank_dir)
    stored = {c.id: c for c in load_manifest(manifest_path(fbank_dir, "an4", "cuts", "test"))}
    seen = {}
    for batch in data.test_dataloaders(data.load_cuts("an4", "test")):
        inputs, sup = batch["inputs"], batch["supervisions"]
        assert inputs.dtype == torch.float32 and inputs.dim() == 3 and inputs.shape[2] == 80
        assert sorted(sup) == ["cut", "num_frames", "sequence_idx", "start_frame", "text"]
        for i, cut in enumerate(sup["cut"]):
            row = int(sup["sequence_idx"][i])
            frames = int(sup["num_frames"][i])
            expected = stored[cut.id].load_features()
            assert (int(sup["start_frame"][i]), frames) == (0, expected.shape[0])
            # No augmentation at test time: the stored features, then zero padding.
            np.testing.assert_allclose(inputs[row, :frames].numpy(), expected, atol=1e-6)
            seen[cut.id] = sup["text"][i]
        assert inputs.shape[1] == int(sup["num_frames"].max())
    assert seen == {u.utterance_id: u.text for u in GOOD_UTTERANCES if u.split == "test"}


def test_training_batches_respect_max_duration_and_cover_the_epoch(synthetic_fbank):
    _, fbank_dir = synthetic_fbank
    data = _module(fbank_dir, enable_spec_aug=False)
    cuts = data.load_cuts("an4", "train")
    ids = []
    for batch in data.train_dataloaders(cuts):
        assert sum(c.duration for c in batch["supervisions"]["cut"]) <= 4.0 + 1e-6
        ids += _ids(batch)
    assert sorted(ids) == sorted(c.id for c in cuts)


def test_default_config_keeps_every_cut_of_a_corpus_smaller_than_its_buckets(synthetic_fbank):
    _, fbank_dir = synthetic_fbank
    data = AsrDataModule(AsrDataConfig(manifest_dir=fbank_dir, num_workers=0))
    cuts = data.load_cuts("an4", "train")  # 18 cuts, 30 buckets by default
    ids = [i for batch in data.train_dataloaders(cuts) for i in _ids(batch)]
    assert sorted(ids) == sorted(c.id for c in cuts)


def test_spec_augment_masks_training_features_without_changing_shapes(synthetic_fbank):
    _, fbank_dir = synthetic_fbank
    plain = _module(fbank_dir, enable_spec_aug=False, shuffle=False)
    augmented = _module(fbank_dir, enable_spec_aug=True, shuffle=False)
    cuts = plain.load_cuts("an4", "train")
    changed = 0
    for a, b in zip(plain.train_dataloaders(cuts), augmented.train_dataloaders(cuts)):
        assert _ids(a) == _ids(b) and a["inputs"].shape == b["inputs"].shape
        changed += int(not torch.equal(a["inputs"], b["inputs"]))
    assert changed > 0


def test_spec_augment_mask_options_bound_what_is_masked(synthetic_fbank):
    # one time mask of at most 3 frames and one frequency mask of at most 4 bins, no warping:
    # per utterance the changed entries are whole frames (at most 3) and whole bins (at most 4)
    _, fbank_dir = synthetic_fbank
    masks = dict(spec_aug_time_warp_factor=0, spec_aug_max_frames_mask_fraction=1.0,
                 spec_aug_num_feature_masks=1, spec_aug_features_mask_size=4,
                 spec_aug_num_frame_masks=1, spec_aug_frames_mask_size=3)
    plain = _module(fbank_dir, enable_spec_aug=False, shuffle=False)
    augmented = _module(fbank_dir, enable_spec_aug=True, shuffle=False, **masks)
    cuts = plain.load_cuts("an4", "train")
    frames, bins = [], []
    for a, b in zip(plain.train_dataloaders(cuts), augmented.train_dataloaders(cuts)):
        for x, y in zip(a["inputs"], b["inputs"]):
            diff = x != y  # (frames, bins)
            whole_frames, whole_bins = diff.all(1), diff.all(0)
            assert torch.equal(diff, whole_frames[:, None] | whole_bins[None, :])
            frames.append(int(whole_frames.sum()))
            bins.append(int(whole_bins.sum()))
    assert max(frames) <= 3 and max(bins) <= 4 and sum(frames) > 0 and sum(bins) > 0


def test_spec_augment_needs_a_time_mask():
    # lhotse's SpecAugment divides by the number of time masks
    with pytest.raises(ValueError, match="--spec-aug-num-frame-masks"):
        AsrDataConfig(spec_aug_num_frame_masks=0)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_spec_augment_from_a_later_epoch_leaves_earlier_epochs_clean(synthetic_fbank,
                                                                      num_workers):
    _, fbank_dir = synthetic_fbank
    plain = _module(fbank_dir, enable_spec_aug=False, shuffle=False)
    delayed = _module(fbank_dir, enable_spec_aug=True, shuffle=False, spec_aug_start_epoch=2,
                      num_workers=num_workers)
    cuts = plain.load_cuts("an4", "train")
    clean = [b["inputs"] for b in plain.train_dataloaders(cuts)]
    loader = delayed.train_dataloaders(cuts)
    changed = []
    for epoch in (1, 2):
        set_transforms_epoch(loader, epoch)  # what the training loop does before each epoch
        batches = [b["inputs"] for b in loader]
        assert [b.shape for b in batches] == [b.shape for b in clean]
        changed.append(sum(not torch.equal(a, b) for a, b in zip(clean, batches)))
    assert changed[0] == 0 and changed[1] > 0


def test_sampler_state_dict_resumes_where_the_interrupted_epoch_stopped(synthetic_fbank):
    _, fbank_dir = synthetic_fbank
    data = _module(fbank_dir, enable_spec_aug=False, max_duration=3.0)
    cuts = data.load_cuts("an4", "train")
    full_epoch = [_ids(b) for b in data.train_dataloaders(cuts)]
    assert len(full_epoch) >= 4
    interrupted = data.train_dataloaders(cuts)
    iterator = iter(interrupted)
    first = [_ids(next(iterator)) for _ in range(2)]
    state = interrupted.sampler.state_dict()
    resumed = [_ids(b) for b in data.train_dataloaders(cuts, sampler_state_dict=state)]
    assert first + resumed == full_epoch


def test_ddp_ranks_get_disjoint_shares(synthetic_fbank):
    _, fbank_dir = synthetic_fbank
    shares = []
    for rank in (0, 1):
        data = _module(fbank_dir, enable_spec_aug=False, world_size=2, rank=rank)
        shares.append({i for b in data.train_dataloaders(data.load_cuts("an4", "train"))
                       for i in _ids(b)})
    assert shares[0] and shares[1]
    assert not shares[0] & shares[1]


def test_on_the_fly_features_match_precomputed_ones(synthetic_fbank):
    _, fbank_dir = synthetic_fbank
    precomputed = _module(fbank_dir)
    on_the_fly = _module(fbank_dir, on_the_fly_feats=True)
    cuts = precomputed.load_cuts("an4", "test")
    for a, b in zip(precomputed.test_dataloaders(cuts), on_the_fly.test_dataloaders(cuts)):
        assert _ids(a) == _ids(b)
        # Same extractor; the stored copy went through lilcom compression.
        torch.testing.assert_close(b["inputs"], a["inputs"], atol=0.1, rtol=0)


def test_on_the_fly_speed_perturbation_changes_durations_by_the_factors(synthetic_fbank):
    _, fbank_dir = synthetic_fbank
    data = _module(fbank_dir, on_the_fly_feats=True, perturb_speed=True, enable_spec_aug=False,
                   max_duration=100.0)
    originals = {u.utterance_id: u.seconds for u in GOOD_UTTERANCES if u.split == "test"}
    cuts = data.load_cuts("an4", "test")
    ratios = set()
    for _ in range(8):
        for batch in data.train_dataloaders(cuts):
            sup = batch["supervisions"]
            for cut, frames in zip(sup["cut"], sup["num_frames"]):
                ratios.add(round(originals[cut.id] * 100 / int(frames), 1))
    assert ratios <= {0.9, 1.0, 1.1} and len(ratios) >= 2


def test_speed_perturbation_without_on_the_fly_features_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="--perturb-speed needs --on-the-fly-feats"):
        AsrDataConfig(manifest_dir=tmp_path, perturb_speed=True)


def test_musan_without_its_manifest_names_the_missing_file(synthetic_fbank):
    _, fbank_dir = synthetic_fbank
    data = _module(fbank_dir, enable_musan=True)
    with pytest.raises(FileNotFoundError, match="musan_cuts.jsonl.gz"):
        data.train_dataloaders(data.load_cuts("an4", "train"))


def test_missing_cut_manifest_points_at_the_fbank_stage(tmp_path):
    data = _module(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"an4_cuts_dev\.jsonl\.gz.*fbank stage"):
        data.load_cuts("an4", "dev")


def test_flags_keep_icefall_names_and_fill_the_typed_config():
    parser = argparse.ArgumentParser()
    AsrDataModule.add_arguments(parser)
    args = parser.parse_args([
        "--manifest-dir", "x/fbank", "--max-duration", "50", "--bucketing-sampler", "0",
        "--num-buckets", "7", "--shuffle", "false", "--spec-aug", "0", "--enable-musan", "0",
        "--on-the-fly-feats", "1", "--num-workers", "3", "--world-size", "2", "--rank", "1",
    ])
    config = AsrDataConfig.from_args(args)
    assert config == AsrDataConfig(
        manifest_dir="x/fbank", max_duration=50.0, bucketing_sampler=False, num_buckets=7,
        shuffle=False, enable_spec_aug=False, enable_musan=False, on_the_fly_feats=True,
        num_workers=3, world_size=2, rank=1,
    )
    defaults = AsrDataConfig.from_args(parser.parse_args([]))
    assert defaults == AsrDataConfig()
    with pytest.raises(SystemExit):
        parser.parse_args(["--shuffle", "maybe"])
