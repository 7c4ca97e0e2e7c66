"""A stand-in transducer and synthetic icefall-style batches for the training-loop tests.

The module has a unique name (not ``helpers``) because pytest puts each test folder on sys.path.
Everything here is module-level so DDP's spawned processes can unpickle it.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from icefall_lite.training.args import build_parser

FEAT_DIM = 6
LETTERS = "abcd"  # token ids 1..4; 0 is blank
VOCAB = len(LETTERS) + 1
BATCHES_PER_EPOCH = 8
UTTS_PER_BATCH = 3


class StandInTransducer(nn.Module):
    """``forward(x, x_lens, y, prune_range, am_scale, lm_scale) -> (simple, pruned)`` like the
    AsrModel: a linear CTC loss as "simple" and a quadratic penalty as "pruned", both batch sums.

    Dropout draws from torch's RNG, so exact resumption also checks the saved RNG state. Side
    channels for the tests (environment variables): ``STANDIN_LOSS_LOG`` appends every training
    forward's losses; ``STANDIN_KILL_AT`` SIGKILLs the process at that training forward;
    ``STANDIN_DUMP_DIR`` saves the parameters per rank before every forward.
    """

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(FEAT_DIM, VOCAB)
        self.hidden = nn.Linear(FEAT_DIM, 4)
        self.gain = nn.Parameter(torch.tensor(0.5))
        self.dropout = nn.Dropout(0.2)
        self.num_forward = 0

    def forward(self, x, x_lens, y, prune_range, am_scale, lm_scale, delay_penalty):
        assert prune_range == 5 and am_scale == 0.0 and lm_scale == 0.25
        assert delay_penalty == 0.0
        if self.training:
            self.num_forward += 1
            kill_at = os.environ.get("STANDIN_KILL_AT")
            if kill_at and self.num_forward == int(kill_at):
                os.kill(os.getpid(), signal.SIGKILL)
        dump_dir = os.environ.get("STANDIN_DUMP_DIR")
        if dump_dir and self.training:
            rank = dist.get_rank() if dist.is_initialized() else 0
            torch.save({k: v.clone() for k, v in self.state_dict().items()},
                       Path(dump_dir) / f"rank-{rank}.pt")
        logits = self.proj(self.dropout(x))  # [N, T, V]
        log_probs = logits.log_softmax(-1).transpose(0, 1)  # [T, N, V]
        targets = torch.cat([torch.tensor(t, dtype=torch.int64) for t in y])
        target_lens = torch.tensor([len(t) for t in y], dtype=torch.int64)
        simple = F.ctc_loss(log_probs, targets, x_lens, target_lens, reduction="sum",
                            zero_infinity=False)
        mask = (torch.arange(x.size(1))[None, :] < x_lens[:, None]).unsqueeze(-1)
        h = torch.tanh(self.hidden(x)) * self.gain
        pruned = ((h - 0.3) ** 2 * mask).sum()
        log_path = os.environ.get("STANDIN_LOSS_LOG")
        if log_path and self.training:
            with open(log_path, "a") as f:
                f.write(f"{simple.item():.10f} {pruned.item():.10f}\n")
        return simple, pruned


def encode_letters(texts: list[str]) -> list[list[int]]:
    return [[LETTERS.index(ch) + 1 for ch in text] for text in texts]


def identity_targets(token_ids: list[list[int]]) -> list[list[int]]:
    return token_ids


def no_subsampling(num_frames):
    return num_frames


def make_batch(seed: int, nan: bool = False, short: bool = False) -> dict:
    """A deterministic icefall-style batch of ``UTTS_PER_BATCH`` utterances."""
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(8, 14, (UTTS_PER_BATCH,), generator=g)
    texts = []
    for _ in range(UTTS_PER_BATCH):
        n = int(torch.randint(2, 5, (1,), generator=g))
        texts.append("".join(LETTERS[int(i)] for i in torch.randint(0, 4, (n,), generator=g)))
    if short:
        lens[1] = 2
        texts[1] = "abcab"
    feats = torch.randn(UTTS_PER_BATCH, int(lens.max()), FEAT_DIM, generator=g)
    if nan:
        feats[0, 0, 0] = math.nan
    prefix = "nan-" if nan else ""
    cuts = [SimpleNamespace(id=f"{prefix}cut-{seed}-{i}") for i in range(UTTS_PER_BATCH)]
    return {"inputs": feats,
            "supervisions": {"text": texts, "num_frames": lens, "cut": cuts}}


class SyntheticSampler:
    """A sampler with lhotse's resumption contract: ``state_dict`` holds the epoch and the number
    of batches yielded; after ``load_state_dict`` the next iteration continues from there."""

    def __init__(self, num_batches: int, rank: int = 0, world_size: int = 1) -> None:
        self.num_batches = num_batches
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.position = 0
        self._restored = False

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = state["epoch"], state["position"]
        self._restored = True

    def __iter__(self):
        if not self._restored:
            self.position = 0
        self._restored = False
        order = torch.randperm(self.num_batches, generator=torch.Generator().manual_seed(
            1000 + self.epoch)).tolist()
        mine = order[self.rank::self.world_size]
        while self.position < len(mine):
            index = mine[self.position]
            self.position += 1
            yield 100 * self.epoch + index


class EpochOnlySampler:
    """A sampler without ``state_dict``: a resumed run must pass over the trained batches."""

    def __init__(self, inner: SyntheticSampler) -> None:
        self.inner = inner

    def set_epoch(self, epoch: int) -> None:
        self.inner.set_epoch(epoch)

    def __iter__(self):
        return iter(self.inner)


class SyntheticLoader:
    def __init__(self, sampler: SyntheticSampler, nan_index=None, short_index=None) -> None:
        self.sampler = sampler
        self.nan_index, self.short_index = nan_index, short_index

    def __iter__(self):
        for seed in self.sampler:
            yield make_batch(seed, nan=seed == self.nan_index, short=seed == self.short_index)


class SyntheticDataModule:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        self.world_size = dist.get_world_size() if dist.is_initialized() else 1

    def train_dataloader(self, sampler_state_dict=None):
        sampler = SyntheticSampler(BATCHES_PER_EPOCH, self.rank, self.world_size)
        if sampler_state_dict is not None:
            sampler.load_state_dict(sampler_state_dict)
        if os.environ.get("STANDIN_PLAIN_SAMPLER"):
            sampler = EpochOnlySampler(sampler)
        nan_index = int(os.environ.get("STANDIN_NAN_BATCH", "-1"))
        short_index = int(os.environ.get("STANDIN_SHORT_BATCH", "-1"))
        return SyntheticLoader(sampler, nan_index=nan_index, short_index=short_index)

    def valid_dataloader(self):
        return [make_batch(10_000 + i) for i in range(2)]


def build_model(args) -> nn.Module:
    return StandInTransducer()


def build_datamodule(args) -> SyntheticDataModule:
    return SyntheticDataModule(args)


def build_text_encoder(args):
    return encode_letters


# Recipe defaults small enough for a few seconds of CPU.
TINY_DEFAULTS = dict(
    num_epochs=2, base_lr=0.05, lr_batches=20, lr_epochs=2, lr_warmup_batches=4, warm_step=10,
    save_every_n=3, keep_last_k=3, average_period=2, valid_interval=5, log_interval=2,
    tensorboard=False, seed=7,
)

RECIPE_KWARGS = dict(build_model=build_model, build_datamodule=build_datamodule,
                     build_text_encoder=build_text_encoder, make_targets=identity_targets,
                     output_frames=no_subsampling)


def make_args(exp_dir: Path, *argv: str, **defaults) -> argparse.Namespace:
    return build_parser({**TINY_DEFAULTS, "exp_dir": exp_dir, **defaults}).parse_args(list(argv))


def read_losses(path: Path) -> list[tuple[float, float]]:
    if not path.exists():
        return []
    return [tuple(float(v) for v in line.split()) for line in path.read_text().splitlines()]


class CutIdBatches(torch.utils.data.Dataset):
    """Map-style dataset for lhotse samplers: a batch of cuts -> a synthetic batch (features and
    transcript derived from each cut's index, so every run sees the same data)."""

    def __getitem__(self, cuts) -> dict:
        items = [make_batch(int(c.id.rsplit("-", 1)[1])) for c in cuts]
        feats = [item["inputs"][0, : int(item["supervisions"]["num_frames"][0])] for item in items]
        inputs = torch.zeros(len(feats), max(f.size(0) for f in feats), FEAT_DIM)
        for i, f in enumerate(feats):
            inputs[i, : f.size(0)] = f
        return {"inputs": inputs, "supervisions": {
            "text": [item["supervisions"]["text"][0] for item in items],
            "num_frames": torch.tensor([f.size(0) for f in feats]),
            "cut": list(cuts),
        }}


class LhotseDataModule:
    """A DynamicBucketingSampler over dummy cuts behind a DataLoader with 2 worker processes,
    which prefetch batches ahead of the training loop."""

    def __init__(self, args: argparse.Namespace) -> None:
        import warnings

        from lhotse import CutSet
        from lhotse.testing.dummies import dummy_cut

        self.cuts = CutSet.from_cuts(
            dummy_cut(i, duration=0.5 + (i % 4) * 0.1) for i in range(24))
        self._warnings = warnings

    def train_dataloader(self, sampler_state_dict=None):
        from lhotse.dataset import DynamicBucketingSampler

        with self._warnings.catch_warnings():
            self._warnings.simplefilter("ignore")  # "eagerly read CutSet": fine for 24 cuts
            sampler = DynamicBucketingSampler(self.cuts, max_duration=2.0, num_buckets=2,
                                              shuffle=True, seed=5)
        if sampler_state_dict is not None:
            sampler.load_state_dict(sampler_state_dict)
        return torch.utils.data.DataLoader(CutIdBatches(), sampler=sampler, batch_size=None,
                                           num_workers=2)

    def valid_dataloader(self):
        return [make_batch(10_000)]


def build_lhotse_datamodule(args) -> LhotseDataModule:
    return LhotseDataModule(args)
