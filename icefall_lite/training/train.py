"""The training entry point: options, DDP processes, resume, and the epoch loop.

A recipe's ``zipformer/train.py`` is a few lines of corpus defaults, e.g.::

    import sentencepiece as spm
    from icefall_lite.data.datamodule import AsrDataConfig, AsrDataModule
    from icefall_lite.models.asr_model import build_model as build_asr_model
    from icefall_lite.models.config import ZipformerConfig
    from icefall_lite.training.batches import ShortUtteranceFilter
    from icefall_lite.training.train import CutSetData, main

    def build_text_encoder(args):
        sp = spm.SentencePieceProcessor(model_file="data/lang_bpe_100/bpe.model")
        return lambda texts: sp.encode(texts, out_type=int)

    def build_model(args):
        return build_asr_model(ZipformerConfig.from_args(args))

    def build_datamodule(args):
        data = AsrDataModule(AsrDataConfig.from_args(args))
        return CutSetData(data, data.load_cuts("an4", "train"), data.load_cuts("an4", "dev"),
                          cut_filter=ShortUtteranceFilter(build_text_encoder(args)))

    if __name__ == "__main__":
        main({"num_epochs": 80, "exp_dir": "zipformer/exp", "base_lr": 0.045, "vocab_size": 100},
             build_model=build_model, build_datamodule=build_datamodule,
             build_text_encoder=build_text_encoder,
             add_arguments=[ZipformerConfig.add_arguments, AsrDataModule.add_arguments])

``main`` runs one process, spawns ``--world-size N`` processes (gloo on CPU, nccl on GPU), or,
under ``torchrun``, takes its rank from the environment.

The callables must be picklable (module-level functions) for ``--world-size > 1``:

- ``build_model(args) -> nn.Module`` with ``forward(x, x_lens, y, prune_range, am_scale,
  lm_scale) -> (simple_loss, pruned_loss)``;
- ``build_datamodule(args)`` -> an object with ``train_dataloader(sampler_state_dict=None)`` and
  ``valid_dataloader()`` (see :class:`DataModule`);
- ``build_text_encoder(args) -> (list[str] -> list[list[int]])``, e.g. a BPE model's encode;
- optionally ``describe_model(args) -> dict``: what a decoder needs to rebuild the model
  (``model_config``, ``lang``, ``features``; see :mod:`~icefall_lite.recipe.model_info`),
  written into every checkpoint.

One run at a time trains into an ``--exp-dir`` (:mod:`~icefall_lite.training.exp_lock`); each run
logs to its own file; checkpoints and the ``best-*.pt`` copies are written atomically.
"""

from __future__ import annotations

import argparse
import copy
import logging
import resource
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.multiprocessing as mp
from torch import Tensor, nn

from icefall_lite.training.args import build_parser
from icefall_lite.training.atomic import atomic_copy, remove_stale_temporaries
from icefall_lite.training.batches import TargetMaker, zipformer_output_frames
from icefall_lite.training.checkpoint import checkpoint_path, epoch_path, load_checkpoint
from icefall_lite.training.diagnostics import register_inf_check_hooks
from icefall_lite.training.distributed import (
    DistInfo,
    cleanup_dist,
    device_for,
    launched_by_torchrun,
    setup_dist,
)
from icefall_lite.training.exp_lock import ExpDirLock
from icefall_lite.training.loop import (
    TrainContext,
    TrainState,
    log_skipped_batches,
    save_training_checkpoint,
    train_one_epoch,
)
from icefall_lite.training.optim import Eden, ScaledAdam, get_parameter_groups_with_lrs
from icefall_lite.training.rng import fix_random_seed
from icefall_lite.utils.env import log_env_info
from icefall_lite.utils.logging import setup_logger

logger = logging.getLogger(__name__)


class DataModule(Protocol):
    """What the loop needs from a recipe's data: icefall-style batches."""

    def train_dataloader(self, sampler_state_dict: dict[str, Any] | None = None) -> Iterable[dict]:
        """Training batches; ``sampler_state_dict`` (from a checkpoint) resumes mid-epoch. The
        returned loader's ``sampler`` should have ``set_epoch``, ``state_dict`` and
        ``load_state_dict`` (lhotse samplers do)."""

    def valid_dataloader(self) -> Iterable[dict]:
        """Validation batches."""


class CutSetData:
    """A :class:`DataModule` from an icefall-style datamodule and the recipe's cut sets.

    Args:
      datamodule: has ``train_dataloaders(cuts, sampler_state_dict=None)`` and
        ``valid_dataloaders(cuts)`` (e.g. :class:`icefall_lite.data.datamodule.AsrDataModule`).
      train_cuts, valid_cuts: lhotse ``CutSet`` s.
      cut_filter: a predicate applied to the training cuts, e.g. a
        :class:`~icefall_lite.training.batches.ShortUtteranceFilter`.

    Example::

        def build_datamodule(args):
            data = AsrDataModule(AsrDataConfig.from_args(args))
            keep = ShortUtteranceFilter(build_text_encoder(args))
            return CutSetData(data, data.load_cuts("an4", "train"), data.load_cuts("an4", "dev"),
                              cut_filter=keep)
    """

    def __init__(self, datamodule: Any, train_cuts: Any, valid_cuts: Any,
                 cut_filter: Callable[[Any], bool] | None = None) -> None:
        self.datamodule = datamodule
        self.train_cuts = train_cuts if cut_filter is None else train_cuts.filter(cut_filter)
        self.valid_cuts = valid_cuts

    def train_dataloader(self, sampler_state_dict: dict[str, Any] | None = None) -> Iterable[dict]:
        return self.datamodule.train_dataloaders(self.train_cuts,
                                                 sampler_state_dict=sampler_state_dict)

    def valid_dataloader(self) -> Iterable[dict]:
        return self.datamodule.valid_dataloaders(self.valid_cuts)


@dataclass
class TrainingRecipe:
    """The recipe-specific pieces plugged into the generic loop (picklable for DDP spawn)."""

    build_model: Callable[[argparse.Namespace], nn.Module]
    build_datamodule: Callable[[argparse.Namespace], DataModule]
    build_text_encoder: Callable[[argparse.Namespace], Callable[[list[str]], list[list[int]]]]
    make_targets: TargetMaker | None = None
    output_frames: Callable[[Tensor], Tensor] = zipformer_output_frames
    show_progress: bool = True
    describe_model: Callable[[argparse.Namespace], dict[str, Any]] | None = None


def make_grad_scaler(enabled: bool):
    """A GradScaler for CUDA fp16 (a disabled one passes everything through)."""
    if hasattr(torch.amp, "GradScaler"):  # torch >= 2.3; torch.cuda.amp's is deprecated there
        return torch.amp.GradScaler("cuda", enabled=enabled, init_scale=1.0)
    return torch.cuda.amp.GradScaler(enabled=enabled, init_scale=1.0)


def _resume_checkpoint(args: argparse.Namespace) -> Path | None:
    if args.start_batch > 0:
        return checkpoint_path(args.exp_dir, args.start_batch)
    if args.start_epoch > 1:
        return epoch_path(args.exp_dir, args.start_epoch - 1)
    return None


def _validate_args(args: argparse.Namespace) -> None:
    positive = ("num_epochs", "start_epoch", "world_size", "save_every_n", "average_period",
                "valid_interval", "log_interval", "warm_step")
    for name in positive:
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.start_batch < 0:
        raise ValueError(f"--start-batch must be >= 0, got {args.start_batch}")
    if args.start_epoch > args.num_epochs and args.start_batch == 0:
        raise ValueError(f"--start-epoch {args.start_epoch} is after --num-epochs "
                         f"{args.num_epochs}: nothing to train")


def _save_epoch(ctx: TrainContext, epoch: int, sampler: Any) -> None:
    filename = epoch_path(ctx.args.exp_dir, epoch)
    save_training_checkpoint(ctx, filename, sampler)
    if ctx.rank != 0:
        return
    if ctx.state.best_train_epoch == epoch:
        atomic_copy(filename, Path(ctx.args.exp_dir) / "best-train-loss.pt")
    if ctx.state.best_valid_epoch == epoch:
        atomic_copy(filename, Path(ctx.args.exp_dir) / "best-valid-loss.pt")


@dataclass
class _Resume:
    """What a resumed run restores after the model: the optimizer side and the data position."""

    path: Path
    mid_epoch: bool
    optimizer: dict[str, Any] | None
    scheduler: dict[str, Any] | None
    grad_scaler: dict[str, Any] | None
    sampler: Any
    rng_states: list[dict[str, Any]]


def _load_resume(
    args: argparse.Namespace, model: nn.Module, model_avg: nn.Module | None, state: TrainState
) -> _Resume | None:
    """Restore model, running average and counters from the checkpoint named by --start-batch
    or --start-epoch; keep the rest for after the optimizer and dataloader exist."""
    path = _resume_checkpoint(args)
    if path is None:
        return None
    checkpoint = load_checkpoint(path, model, model_avg=model_avg)
    state.load(checkpoint)
    mid_epoch = args.start_batch > 0
    if not mid_epoch:  # a new epoch starts after epoch-N.pt
        state.cur_epoch = args.start_epoch
        state.batches_in_epoch = 0
    return _Resume(path=path, mid_epoch=mid_epoch, optimizer=checkpoint["optimizer"],
                   scheduler=checkpoint["scheduler"], grad_scaler=checkpoint.get("grad_scaler"),
                   sampler=copy.deepcopy(checkpoint.get("sampler")),
                   rng_states=checkpoint.get("rng_states") or [])


def _saved_rng_state(resume: _Resume, rank: int, world_size: int) -> dict[str, Any] | None:
    if len(resume.rng_states) == world_size:
        return resume.rng_states[rank]
    logger.warning("%s holds RNG states of %d ranks, not %d: random streams restart from the "
                   "epoch seed", resume.path, len(resume.rng_states), world_size)
    return None


def _train_epochs(ctx: TrainContext, datamodule: DataModule, resume: _Resume | None) -> None:
    """The epoch loop, from ``ctx.state.cur_epoch`` to ``--num-epochs``."""
    args, state = ctx.args, ctx.state
    mid_epoch = resume is not None and resume.mid_epoch
    sampler_state = resume.sampler if mid_epoch else None
    train_dl = datamodule.train_dataloader(sampler_state_dict=sampler_state)
    valid_dl = datamodule.valid_dataloader()
    sampler = getattr(train_dl, "sampler", None)
    # Without a restorable sampler, resume by passing over the batches already trained on.
    skip_batches = state.batches_in_epoch if mid_epoch and sampler_state is None else 0
    first_epoch = state.cur_epoch
    for epoch in range(first_epoch, args.num_epochs + 1):
        resumed_epoch = mid_epoch and epoch == first_epoch
        ctx.scheduler.step_epoch(epoch - 1)
        fix_random_seed(args.seed + epoch - 1)
        rng_state = None
        if resumed_epoch:
            rng_state = _saved_rng_state(resume, ctx.rank, ctx.world_size)
        else:
            state.batches_in_epoch = 0
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch - 1)
        set_transforms_epoch(train_dl, epoch)
        state.cur_epoch = epoch
        if ctx.tb_writer is not None:
            ctx.tb_writer.add_scalar("train/epoch", epoch, state.batch_idx_train)
        train_one_epoch(ctx, train_dl, valid_dl, epoch,
                        skip_batches=skip_batches if resumed_epoch else 0, rng_state=rng_state)
        if args.print_diag:
            return
        _save_epoch(ctx, epoch, sampler)
    log_skipped_batches(ctx)


def set_transforms_epoch(train_dl: Any, epoch: int) -> None:
    """Tell the loader's epoch-dependent input transforms (e.g. datamodule.FromEpoch) that
    ``epoch`` (1-based) starts; call before iterating that epoch's batches."""
    for transform in getattr(getattr(train_dl, "dataset", None), "input_transforms", ()):
        if hasattr(transform, "set_epoch"):
            transform.set_epoch(epoch)


def resource_summary(start: float) -> str:
    """Wall time since ``start`` (a ``time.monotonic()`` value) and the CPU time (user + system)
    of this process and of its finished child processes (data-loader workers), for the log line
    that ends training: the numbers a RESULTS.md reports."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (f"wall {time.monotonic() - start:.1f} s; CPU {own.ru_utime + own.ru_stime:.1f} s "
            f"(user {own.ru_utime:.1f} + system {own.ru_stime:.1f}) in this process, "
            f"{children.ru_utime + children.ru_stime:.1f} s in finished child processes")


def run(
    rank: int,
    world_size: int,
    args: argparse.Namespace,
    recipe: TrainingRecipe,
    local_rank: int | None = None,
) -> TrainState:
    """Train on one rank (the body of every DDP process). Returns the final counters."""
    info = DistInfo(rank, world_size, rank if local_rank is None else local_rank)
    args = copy.copy(args)
    args.exp_dir = Path(args.exp_dir)
    # The real number of processes (torchrun may differ from --world-size); datamodules that
    # read args.world_size shard their data with it.
    args.world_size = world_size
    # Rank 0 holds the exp-dir lock (taken before the log file exists, so a refused run leaves
    # nothing behind); the other ranks write no files of their own there but their logs.
    if rank != 0:
        return _run(info, args, recipe)
    with ExpDirLock(args.exp_dir):
        remove_stale_temporaries(args.exp_dir)
        return _run(info, args, recipe)


def _run(info: DistInfo, args: argparse.Namespace, recipe: TrainingRecipe) -> TrainState:
    rank, world_size = info.rank, info.world_size
    start = time.monotonic()
    log_handle = setup_logger(args.exp_dir / "log" / "log-train", rank, world_size)
    tb_writer = None
    try:
        launched = launched_by_torchrun() is not None
        setup_dist(info, master_port=None if launched else args.master_port)
        log_env_info(logger)
        logger.info("Training options: %s", vars(args))
        fix_random_seed(args.seed)
        device = device_for(info.local_rank)
        use_fp16 = bool(args.use_fp16) and device.type == "cuda"
        if args.use_fp16 and not use_fp16:
            logger.warning("--use-fp16 needs CUDA; training in fp32 on %s", device)
        logger.info("Device: %s", device)

        model = recipe.build_model(args)
        logger.info("Number of model parameters: %d", sum(p.numel() for p in model.parameters()))
        # The running average stays on the CPU, in float64 (rank 0 only).
        model_avg = copy.deepcopy(model).to(torch.float64) if rank == 0 else None
        state = TrainState(cur_epoch=args.start_epoch)
        resume = _load_resume(args, model, model_avg, state)

        model.to(device)
        if args.inf_check:
            register_inf_check_hooks(model)
        if world_size > 1:
            model = nn.parallel.DistributedDataParallel(
                model, device_ids=[info.local_rank] if device.type == "cuda" else None,
                find_unused_parameters=True,
            )
        optimizer = ScaledAdam(
            get_parameter_groups_with_lrs(model, lr=args.base_lr),
            lr=args.base_lr, clipping_scale=args.clipping_scale,
        )
        scheduler = Eden(optimizer, args.lr_batches, args.lr_epochs,
                         warmup_batches=args.lr_warmup_batches, warmup_start=args.lr_warmup_start)
        scaler = make_grad_scaler(use_fp16)
        if resume is not None:
            optimizer.load_state_dict(resume.optimizer)
            scheduler.load_state_dict(resume.scheduler)
            if resume.grad_scaler:  # empty when saved by a disabled (fp32) scaler
                scaler.load_state_dict(resume.grad_scaler)
            resume.optimizer = resume.scheduler = None  # free memory

        if rank == 0 and args.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            tb_writer = SummaryWriter(log_dir=str(args.exp_dir / "tensorboard"))
        model_info = recipe.describe_model(args) if recipe.describe_model is not None else {}
        ctx = TrainContext(
            args=args, model=model, optimizer=optimizer, scheduler=scheduler,
            encode=recipe.build_text_encoder(args), device=device, model_avg=model_avg,
            scaler=scaler, state=state, rank=rank, world_size=world_size, tb_writer=tb_writer,
            make_targets=recipe.make_targets, output_frames=recipe.output_frames,
            use_fp16=use_fp16, show_progress=recipe.show_progress, model_info=model_info,
        )
        _train_epochs(ctx, recipe.build_datamodule(args), resume)
        logger.info("Done! %s", resource_summary(start))
        return state
    finally:
        if tb_writer is not None:
            tb_writer.close()
        cleanup_dist()
        log_handle.close()


def main(
    defaults: dict[str, Any] | None = None,
    *,
    build_model: Callable[[argparse.Namespace], nn.Module],
    build_datamodule: Callable[[argparse.Namespace], DataModule],
    build_text_encoder: Callable[[argparse.Namespace], Callable[[list[str]], list[list[int]]]],
    configs: Iterable[type] = (),
    add_arguments: Iterable[Callable[[argparse.ArgumentParser], None]] = (),
    make_targets: TargetMaker | None = None,
    output_frames: Callable[[Tensor], Tensor] = zipformer_output_frames,
    describe_model: Callable[[argparse.Namespace], dict[str, Any]] | None = None,
    argv: Sequence[str] | None = None,
) -> None:
    """Parse the command line (``defaults`` override option defaults) and train.

    ``defaults`` may also be a config dataclass instance, whose fields become the defaults.
    """
    if defaults is not None and not isinstance(defaults, dict):
        import dataclasses

        defaults = dataclasses.asdict(defaults)
    configs = list(configs)
    parser = build_parser(defaults, configs=configs, add_arguments=list(add_arguments))
    args = parser.parse_args(argv)
    _validate_args(args)
    recipe = TrainingRecipe(build_model=build_model, build_datamodule=build_datamodule,
                            build_text_encoder=build_text_encoder, make_targets=make_targets,
                            output_frames=output_frames, describe_model=describe_model)
    launched = launched_by_torchrun()
    if launched is not None:
        run(launched.rank, launched.world_size, args, recipe, local_rank=launched.local_rank)
    elif args.world_size > 1:
        mp.spawn(run, args=(args.world_size, args, recipe), nprocs=args.world_size,
                 join=True)
    else:
        run(0, 1, args, recipe)
