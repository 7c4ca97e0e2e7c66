"""The training loop: loss with the warm-up schedule, one epoch of updates, validation.

Generic over the model: anything whose ``forward(x, x_lens, y, prune_range, am_scale, lm_scale)``
returns ``(simple_loss, pruned_loss)`` summed over the batch, and over the dataloaders: iterables of
icefall-style batches (``{"inputs": [N, T, C], "supervisions": {...}}``).

The order of one step follows icefall: count the batch, compute the loss, backward, set the lr for
this batch (Eden), optimizer step, then the running average, checkpoint, logging and validation
that fall on this batch index.

Example::

    ctx = TrainContext(args=args, model=model, optimizer=optimizer, scheduler=scheduler, ...)
    for epoch in range(1, args.num_epochs + 1):
        train_one_epoch(ctx, train_dl, valid_dl, epoch)
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from icefall_lite.training.averaging import update_averaged_model
from icefall_lite.training.batches import (
    TargetMaker,
    TextEncoder,
    TransducerBatch,
    prepare_batch,
    zipformer_output_frames,
)
from icefall_lite.training.checkpoint import checkpoint_path, remove_checkpoints, save_checkpoint
from icefall_lite.training.diagnostics import log_parameter_stats
from icefall_lite.training.distributed import any_rank_true, is_distributed
from icefall_lite.training.metrics import MetricsTracker
from icefall_lite.training.rng import gather_rng_states, set_rng_state
from icefall_lite.training.sampler_state import sampler_state_for_consumed

logger = logging.getLogger(__name__)

# Decay of the running training-loss statistics: roughly the last 200 batches count.
RESET_INTERVAL = 200


@dataclass
class TrainState:
    """Counters saved in every checkpoint (icefall's ``params`` entries of the same names)."""

    batch_idx_train: int = 0
    cur_epoch: int = 1
    batches_in_epoch: int = 0
    best_train_loss: float = math.inf
    best_valid_loss: float = math.inf
    best_train_epoch: int = -1
    best_valid_epoch: int = -1
    train_loss: float = math.inf
    valid_loss: float = math.inf
    #: batches skipped because their loss was not finite (NaN/inf), and their cuts and frames
    skipped_batches: int = 0
    skipped_cuts: int = 0
    skipped_frames: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def load(self, checkpoint: dict[str, Any]) -> None:
        for key in vars(self):
            if key in checkpoint:
                setattr(self, key, checkpoint[key])


@dataclass
class TrainContext:
    """Everything the loop needs besides the dataloaders.

    ``args`` holds the :class:`~icefall_lite.training.args.TrainingConfig` options (and any
    others); ``model`` may be wrapped in DDP; ``model_avg`` exists on rank 0 only.
    """

    args: Any
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    encode: TextEncoder
    device: torch.device
    model_avg: nn.Module | None = None
    scaler: Any = None
    state: TrainState = field(default_factory=TrainState)
    rank: int = 0
    world_size: int = 1
    tb_writer: Any = None
    make_targets: TargetMaker | None = None
    output_frames: Callable[[Tensor], Tensor] = zipformer_output_frames
    use_fp16: bool = False
    show_progress: bool = True
    #: what a decoder needs to rebuild the model (``model_config``, ``lang``, ``features``),
    #: written into every checkpoint
    model_info: dict[str, Any] = field(default_factory=dict)


def loss_scales(
    batch_idx_train: int, warm_step: int, simple_loss_scale: float
) -> tuple[float, float]:
    """``(simple_scale, pruned_scale)``: linear ramps over ``warm_step`` batches from (1.0, 0.1) to
    (``simple_loss_scale``, 1.0), constant afterwards.

    >>> loss_scales(1000, 2000, 0.5)
    (0.75, 0.55)
    """
    if batch_idx_train >= warm_step:
        return simple_loss_scale, 1.0
    frac = batch_idx_train / warm_step
    return 1.0 - frac * (1.0 - simple_loss_scale), 0.1 + 0.9 * frac


def compute_loss(
    model: nn.Module, batch: TransducerBatch, args: Any, batch_idx_train: int, is_training: bool
) -> tuple[Tensor, MetricsTracker]:
    """``loss = simple_scale * simple + pruned_scale * pruned`` (batch sums; see
    :func:`loss_scales`), plus ``ctc_loss_scale * ctc`` for a model whose forward also returns a
    CTC loss, and the statistics of the batch. With ``args.ctc_only_batches = N`` (and a CTC
    loss) the first N batches use ``ctc_loss_scale * ctc`` alone and the warm-up ramp of the
    transducer losses starts at batch N."""
    with torch.set_grad_enabled(is_training):
        simple_loss, pruned_loss, *rest = model(
            batch.features, batch.feature_lens, batch.targets,
            args.prune_range, args.am_scale, args.lm_scale,
            args.delay_penalty,
        )
        ctc_loss = rest[0] if rest else None
        ctc_only_batches = args.ctc_only_batches if ctc_loss is not None else 0
        if batch_idx_train < ctc_only_batches:
            loss = args.ctc_loss_scale * ctc_loss
        else:
            simple_scale, pruned_scale = loss_scales(
                batch_idx_train - ctc_only_batches, args.warm_step, args.simple_loss_scale
            )
            loss = simple_scale * simple_loss + pruned_scale * pruned_loss
            if ctc_loss is not None:
                loss = loss + args.ctc_loss_scale * ctc_loss
    stats = {"simple_loss": simple_loss, "pruned_loss": pruned_loss}
    if ctc_loss is not None:
        stats["ctc_loss"] = ctc_loss
    info = MetricsTracker(
        frames=batch.num_output_frames,
        utterances=len(batch.cut_ids),
        loss=loss.detach().item(),
        **{name: value.detach().item() for name, value in stats.items()},
    )
    return loss, info


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def set_batch_count(model: nn.Module, batch_count: float) -> None:
    """Tell modules with a ``batch_count`` attribute (the model's schedules) the adjusted count."""
    for module in model.modules():
        if hasattr(module, "batch_count"):
            module.batch_count = batch_count


def adjusted_batch_count(args: Any, batch_idx_train: int, world_size: int) -> float:
    """``batch_idx_train * max_duration * world_size / ref_duration`` when the datamodule has a
    ``max_duration`` option, else the raw count."""
    max_duration = getattr(args, "max_duration", None)
    if not max_duration:
        return float(batch_idx_train)
    return batch_idx_train * max_duration * world_size / args.ref_duration


def save_training_checkpoint(ctx: TrainContext, filename, sampler: Any) -> None:
    """Write a checkpoint with the full training state (all ranks call it; rank 0 writes).

    The sampler state is rewound to the batches consumed so far in this epoch (see
    :mod:`~icefall_lite.training.sampler_state`), so a resumed run skips no batch.
    """
    rng_states = gather_rng_states()
    sampler_state = None
    if hasattr(sampler, "state_dict"):
        sampler_state = sampler_state_for_consumed(sampler.state_dict(),
                                                   ctx.state.batches_in_epoch)
    save_checkpoint(
        filename,
        model=ctx.model,
        model_avg=ctx.model_avg,
        optimizer=ctx.optimizer,
        scheduler=ctx.scheduler,
        sampler=sampler_state,
        scaler=ctx.scaler,
        extra={
            **ctx.state.to_dict(),
            "average_period": ctx.args.average_period,
            "rng_states": rng_states,
            "params": vars(ctx.args),
            **ctx.model_info,
        },
        rank=ctx.rank,
    )


def _autocast(ctx: TrainContext):
    if ctx.use_fp16:
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def compute_validation_loss(ctx: TrainContext, valid_dl: Iterable[dict]) -> MetricsTracker:
    """The summed validation statistics over all ranks (the model's per-rank copy is used, so
    ranks may see different numbers of batches)."""
    model = _unwrap(ctx.model)
    was_training = model.training
    model.eval()
    total = MetricsTracker()
    with torch.no_grad():
        for batch in valid_dl:
            prepared = prepare_batch(batch, ctx.device, ctx.encode, ctx.make_targets,
                                     ctx.output_frames)
            if prepared is None:
                continue
            with _autocast(ctx):
                _, info = compute_loss(model, prepared, ctx.args, ctx.state.batch_idx_train,
                                       is_training=False)
            total = total + info
    total.reduce(ctx.device)
    valid_loss = total.normalized().get("loss", math.inf)
    if valid_loss < ctx.state.best_valid_loss:
        ctx.state.best_valid_epoch = ctx.state.cur_epoch
        ctx.state.best_valid_loss = valid_loss
    ctx.state.valid_loss = valid_loss
    model.train(was_training)
    return total


def _manage_grad_scale(ctx: TrainContext) -> None:
    """Let a collapsed fp16 grad scale grow back, and stop when it keeps collapsing (icefall's
    rule: checked every 100 batches)."""
    scale = ctx.scaler.get_scale()
    b = ctx.state.batch_idx_train
    if scale < 8.0 or (scale < 32.0 and b % 400 == 0):
        ctx.scaler.update(scale * 2.0)
    if scale < 0.01:
        logger.warning("Grad scale is small: %g", scale)
    if scale < 1e-5:
        raise RuntimeError(f"grad scale is too small ({scale}), exiting: the model diverged")


def _log_progress(ctx: TrainContext, epoch: int, info: MetricsTracker, total: MetricsTracker):
    lr = ctx.scheduler.get_last_lr()[0]
    b = ctx.state.batch_idx_train
    logger.info("Epoch %d, batch %d (global %d), loss[%s], tot_loss[%s], lr %.3e%s",
                epoch, ctx.state.batches_in_epoch, b, info, total, lr,
                f", grad_scale {ctx.scaler.get_scale():g}" if ctx.use_fp16 else "")
    if ctx.tb_writer is not None:
        ctx.tb_writer.add_scalar("train/learning_rate", lr, b)
        info.write_summary(ctx.tb_writer, "train/current_", b)
        total.write_summary(ctx.tb_writer, "train/tot_", b)
        if ctx.use_fp16:
            ctx.tb_writer.add_scalar("train/grad_scale", ctx.scaler.get_scale(), b)


def _train_step(ctx: TrainContext, batch: dict) -> MetricsTracker | None:
    """Forward, backward and (unless the loss is not finite on some rank) the optimizer step.

    Returns the batch statistics, or ``None`` when the batch was skipped.
    """
    state, args = ctx.state, ctx.args
    prepared = prepare_batch(batch, ctx.device, ctx.encode, ctx.make_targets, ctx.output_frames)
    # Ranks must agree on skipping: DDP's backward is a collective operation.
    if any_rank_true(prepared is None, ctx.device):
        logger.warning("Skipping batch %d: no utterance of the batch (on some rank) is long "
                       "enough for its transcript", state.batch_idx_train)
        ctx.scheduler.step_batch(state.batch_idx_train)
        return None
    with _autocast(ctx):
        loss, info = compute_loss(ctx.model, prepared, args, state.batch_idx_train,
                                  is_training=True)
    finite = math.isfinite(info["loss"])
    if not finite:
        parts = ", ".join(f"{name.replace('_loss', '')} {info[name]}"
                          for name in ("simple_loss", "pruned_loss", "ctc_loss") if name in info)
        logger.warning("Skipping batch %d: loss is %s (%s); cuts: %s", state.batch_idx_train,
                       info["loss"], parts, ", ".join(prepared.cut_ids))
    skip = any_rank_true(not finite, ctx.device)
    if skip:  # this rank's share of a skipped batch (every rank skips it)
        state.skipped_batches += 1
        state.skipped_cuts += len(prepared.cut_ids)
        state.skipped_frames += int(prepared.feature_lens.sum())
    if not skip or is_distributed():
        # Under DDP every rank runs backward (it all-reduces), even for a batch that is skipped.
        ctx.scaler.scale(loss).backward()
    ctx.scheduler.step_batch(state.batch_idx_train)
    if skip:
        if finite:
            logger.warning("Skipping batch %d: the loss is not finite on another rank",
                           state.batch_idx_train)
        ctx.optimizer.zero_grad()
        return None
    ctx.scaler.step(ctx.optimizer)
    ctx.scaler.update()
    ctx.optimizer.zero_grad()
    return info


def log_skipped_batches(ctx: TrainContext) -> None:
    """Log (and write to TensorBoard) how many batches, cuts and frames were skipped because
    their loss was not finite, over the whole run (resumed runs included)."""
    state = ctx.state
    log = logger.warning if state.skipped_batches else logger.info
    log("Skipped %d batches (%d cuts, %d frames) whose loss was not finite",
        state.skipped_batches, state.skipped_cuts, state.skipped_frames)
    if ctx.tb_writer is not None:
        for name in ("batches", "cuts", "frames"):
            ctx.tb_writer.add_scalar(f"train/skipped_{name}", getattr(state, f"skipped_{name}"),
                                     state.batch_idx_train)


def train_one_epoch(
    ctx: TrainContext,
    train_dl: Iterable[dict],
    valid_dl: Iterable[dict] | None,
    epoch: int,
    skip_batches: int = 0,
    rng_state: dict[str, Any] | None = None,
) -> None:
    """Train for one epoch (or the rest of it after a mid-epoch resume).

    Args:
      ctx: the training context; ``ctx.state`` is updated.
      train_dl: the training batches; its ``sampler`` (if any) is saved in checkpoints.
      valid_dl: validation batches, used every ``args.valid_interval`` batches.
      epoch: the 1-based epoch number.
      skip_batches: batches of ``train_dl`` to pass over first (to resume when the sampler cannot
        restore its own position).
      rng_state: this rank's RNG state from a mid-epoch checkpoint; restored after the DataLoader
        iterator has drawn its worker seed (as it did at the start of the interrupted epoch), so
        the main process continues the interrupted run's random stream.
    """
    from tqdm import tqdm  # an optional ("asr") dependency, like the rest of the training stack

    args, state = ctx.args, ctx.state
    ctx.model.train()
    sampler = getattr(train_dl, "sampler", None)
    total = MetricsTracker()
    batches = iter(train_dl)
    if rng_state is not None:
        set_rng_state(rng_state)
    progress = tqdm(batches, desc=f"Epoch {epoch}", disable=ctx.rank != 0 or not ctx.show_progress,
                    dynamic_ncols=True, leave=False)
    for batch_idx, batch in enumerate(progress):
        if batch_idx < skip_batches:
            continue
        state.batch_idx_train += 1
        state.batches_in_epoch += 1
        set_batch_count(ctx.model, adjusted_batch_count(args, state.batch_idx_train,
                                                        ctx.world_size))
        info = _train_step(ctx, batch)
        if info is not None:
            total = total * (1 - 1 / RESET_INTERVAL) + info

        if args.print_diag and state.batches_in_epoch == 5:
            log_parameter_stats(_unwrap(ctx.model))
            return
        b = state.batch_idx_train
        if ctx.model_avg is not None and b % args.average_period == 0:
            update_averaged_model(ctx.model_avg, _unwrap(ctx.model), b, args.average_period)
        if b % args.save_every_n == 0:
            save_training_checkpoint(ctx, checkpoint_path(args.exp_dir, b), sampler)
            remove_checkpoints(args.exp_dir, args.keep_last_k, rank=ctx.rank)
        if ctx.use_fp16 and b % 100 == 0:
            _manage_grad_scale(ctx)
        if b % args.log_interval == 0 and info is not None:
            _log_progress(ctx, epoch, info, total)
        if valid_dl is not None and b % args.valid_interval == 0:
            valid = compute_validation_loss(ctx, valid_dl)
            logger.info("Epoch %d, batch %d, validation: %s; best valid loss %.4g (epoch %d)",
                        epoch, b, valid, state.best_valid_loss, state.best_valid_epoch)
            if ctx.tb_writer is not None:
                valid.write_summary(ctx.tb_writer, "valid/", b)

    state.train_loss = total.normalized().get("loss", math.inf)
    if state.train_loss < state.best_train_loss:
        state.best_train_epoch = epoch
        state.best_train_loss = state.train_loss
