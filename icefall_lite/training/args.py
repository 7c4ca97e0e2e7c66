"""The training options, with icefall's flag names and defaults (``--help`` lists them all).

Model-size options belong to the model's own config dataclass and corpus options to the
datamodule; :func:`build_parser` adds them next to these.

Example::

    >>> parser = build_parser(defaults={"num_epochs": 5})
    >>> args = parser.parse_args(["--base-lr", "0.04"])
    >>> args.num_epochs, args.base_lr, args.use_fp16
    (5, 0.04, False)
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from icefall_lite.utils.config import HelpFormatter, add_dataclass_arguments


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass
class TrainingConfig:
    """Options of the training loop, the optimiser, the schedules and checkpointing."""

    world_size: int = _opt(1, "number of processes (one per GPU) for DDP; under torchrun the "
                              "WORLD_SIZE environment variable wins")
    master_port: int = _opt(12354, "port of the DDP rendezvous on localhost")
    tensorboard: bool = _opt(True, "write TensorBoard scalars to EXP_DIR/tensorboard")
    num_epochs: int = _opt(30, "train up to and including this epoch")
    start_epoch: int = _opt(1, "resume from EXP_DIR/epoch-(N-1).pt when N > 1")
    start_batch: int = _opt(0, "resume from EXP_DIR/checkpoint-N.pt when N > 0 (overrides "
                               "--start-epoch)")
    exp_dir: Path = _opt(Path("zipformer/exp"), "where checkpoints, logs and TensorBoard go")
    base_lr: float = _opt(0.045, "base learning rate of ScaledAdam (Eden scales it)")
    lr_batches: float = _opt(7500, "Eden: batches at which the lr has dropped by 2^(-1/4)")
    lr_epochs: float = _opt(3.5, "Eden: epochs at which the lr has dropped by 2^(-1/4)")
    lr_warmup_batches: float = _opt(500, "Eden: batches of linear lr warm-up")
    lr_warmup_start: float = _opt(0.1, "Eden: lr factor at batch 0 of the warm-up")
    clipping_scale: float = _opt(2.0, "clip gradients at this multiple of the median grad norm")
    ref_duration: float = _opt(600, "reference batch duration (s) for the model's schedules: "
                                    "batch count is adjusted by max_duration*world_size/this")
    prune_range: int = _opt(5, "symbols per frame kept by the pruned RNN-T loss")
    lm_scale: float = _opt(0.25, "scale of the LM-only term of the smoothed simple loss")
    am_scale: float = _opt(0.0, "scale of the AM-only term of the smoothed simple loss")
    delay_penalty: float = _opt(0.0, "k2 delay penalty of the simple and pruned losses (> 0 "
                                "favours earlier symbols; icefall uses 0.025 when streaming)")
    ctc_loss_scale: float = _opt(0.2, "scale of the CTC loss of a model with a CTC head "
                                      "(--use-ctc 1)")
    ctc_only_batches: int = _opt(0, "with a CTC head: train on the CTC loss alone for the first N "
                                    "batches; the transducer losses (and their --warm-step ramp) "
                                    "start after them")
    simple_loss_scale: float = _opt(0.5, "simple-loss scale after warm-up (ramps from 1.0)")
    warm_step: int = _opt(2000, "batches over which the loss scales ramp: simple 1.0 -> "
                                "--simple-loss-scale, pruned 0.1 -> 1.0")
    seed: int = _opt(42, "random seed (epoch N uses seed + N - 1)")
    print_diag: bool = _opt(False, "log parameter/gradient statistics of a few batches and stop")
    inf_check: bool = _opt(False, "check every module's output for inf/nan and name the module")
    save_every_n: int = _opt(4000, "write EXP_DIR/checkpoint-B.pt every this many batches")
    keep_last_k: int = _opt(30, "keep only the newest K checkpoint-B.pt files (0: keep all)")
    average_period: int = _opt(200, "update the running model average every this many batches")
    use_fp16: bool = _opt(False, "autocast to fp16 with a GradScaler (CUDA only)")
    valid_interval: int = _opt(3000, "compute the validation loss every this many batches")
    log_interval: int = _opt(50, "log (and write TensorBoard scalars) every this many batches")


def build_parser(
    defaults: dict[str, Any] | None = None,
    configs: Iterable[type] = (),
    add_arguments: Iterable[Callable[[argparse.ArgumentParser], None]] = (),
    description: str = "Train a transducer model.",
) -> argparse.ArgumentParser:
    """A parser with :class:`TrainingConfig`, extra config dataclasses and extra option adders.

    Args:
      defaults: overrides of defaults by option name (``dest``), e.g. a recipe's corpus values;
        shown in ``--help``.
      configs: more dataclasses (e.g. the model config) turned into options.
      add_arguments: functions adding options directly (e.g. a datamodule's ``add_arguments``).

    Every option is defined once: one defined twice (e.g. ``--seed`` by a datamodule and by
    :class:`TrainingConfig`) is an ``argparse.ArgumentError``; leave such options out of the
    other module's flags (``add_dataclass_arguments(..., exclude=...)``).
    """
    defaults = dict(defaults or {})
    parser = argparse.ArgumentParser(description=description, formatter_class=HelpFormatter)
    for add in add_arguments:
        add(parser)
    for cls in configs:
        add_dataclass_arguments(parser, cls, defaults, title=cls.__name__)
    add_dataclass_arguments(parser, TrainingConfig, defaults, title="training")
    known = {action.dest for action in parser._actions}
    unknown = sorted(set(defaults) - known)
    if unknown:
        raise ValueError(f"defaults name options that no config defines: {', '.join(unknown)}")
    # Options added by `add_arguments` take their recipe defaults too (dataclass options have them).
    from_configs = {f.name for cls in (TrainingConfig, *configs) for f in dataclasses.fields(cls)}
    parser.set_defaults(**{k: v for k, v in defaults.items() if k not in from_configs})
    return parser
