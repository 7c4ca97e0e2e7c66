"""Checkpoints (``epoch-N.pt``, ``checkpoint-B.pt``), their averages, and loading for decoding.

A checkpoint holds everything a resumed run needs to continue exactly where it stopped: the model,
the running average ``model_avg`` (float64), optimizer, scheduler, sampler and grad-scaler state,
the RNG states of every rank, and the counters (``batch_idx_train``, ``cur_epoch``, best losses)
plus the run's options under ``"params"``, and what a decoder needs to rebuild the model
(``"model_config"``, ``"lang"``, ``"features"``: see :mod:`~icefall_lite.recipe.model_info`).
Everything is kept in plain form (tensors, numbers, strings, lists, dicts), so files are read
with ``torch.load(weights_only=True)`` and no checkpoint can run code when loaded. Files are
written atomically (temporary file, fsync, rename, fsync of the directory), so a run killed
while saving leaves the previous checkpoints intact and never a truncated file.

Example (decoding with the running average over epochs 21-30)::

    model = build_model(args)
    load_model_for_decoding(model, "zipformer/exp", epoch=30, avg=10, use_averaged_model=True)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from icefall_lite.training.atomic import atomic_torch_save
from icefall_lite.training.averaging import StateDict, average_state_dicts, range_average
from icefall_lite.training.safe_load import load_weights_only, plain

logger = logging.getLogger(__name__)

_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)\.pt$")


def _require(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return path


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint dict of ``path``, read with ``torch.load(weights_only=True)`` (see
    :func:`~icefall_lite.training.safe_load.load_weights_only` for the errors)."""
    return _torch_load(path, device)


def _torch_load(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    path = _require(Path(path))
    checkpoint = load_weights_only(path, "checkpoint", map_location=device)
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise ValueError(f"{path} is not an icefall_lite checkpoint (no 'model' entry)")
    return checkpoint


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def save_checkpoint(
    filename: str | Path,
    model: nn.Module,
    model_avg: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    sampler: Any = None,
    scaler: Any = None,
    extra: dict[str, Any] | None = None,
    rank: int = 0,
) -> None:
    """Write a checkpoint (on rank 0 only; other ranks return at once).

    Args:
      filename: e.g. ``exp/epoch-3.pt``; parent directories are created.
      model: the model (a DDP wrapper is unwrapped).
      model_avg: the running average, saved in its own dtype (float64).
      optimizer, scheduler, scaler: anything with ``state_dict()``, or ``None``.
      sampler: the training sampler (its ``state_dict()`` is saved), or its state dict itself.
      extra: more top-level entries (``batch_idx_train``, ``cur_epoch``, ``params``,
        ``model_config``, ...).

    Every entry is stored in plain form (:func:`~icefall_lite.training.safe_load.plain`); a value
    that has none is a ``TypeError`` naming it.
    """
    if rank != 0:
        return
    filename = Path(filename)
    checkpoint: dict[str, Any] = {
        "model": _unwrap(model).state_dict(),
        "model_avg": model_avg.state_dict() if model_avg is not None else None,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "sampler": sampler.state_dict() if hasattr(sampler, "state_dict") else sampler,
        "grad_scaler": scaler.state_dict() if scaler is not None else None,
    }
    for key, value in (extra or {}).items():
        if key in checkpoint:
            raise ValueError(f"save_checkpoint: extra entry {key!r} clashes with a fixed entry")
        checkpoint[key] = value
    # The state dicts stay as they are (tensors in an OrderedDict with torch's version metadata).
    checkpoint = {key: value if key in ("model", "model_avg") else plain(value, key)
                  for key, value in checkpoint.items()}
    atomic_torch_save(checkpoint, filename)
    logger.info("Saved checkpoint %s", filename)


def load_checkpoint(
    filename: str | Path,
    model: nn.Module,
    model_avg: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    scaler: Any = None,
    strict: bool = True,
) -> dict[str, Any]:
    """Restore the given objects from ``filename``; return the whole checkpoint dict.

    The sampler state is returned (``checkpoint["sampler"]``) rather than loaded, because the
    dataloader is usually built after the checkpoint is read.
    """
    logger.info("Loading checkpoint %s", filename)
    checkpoint = _torch_load(filename)
    _unwrap(model).load_state_dict(checkpoint["model"], strict=strict)
    for name, obj in (("model_avg", model_avg), ("optimizer", optimizer),
                      ("scheduler", scheduler), ("grad_scaler", scaler)):
        if obj is None:
            continue
        state = checkpoint.get(name)
        if state is None:
            raise KeyError(f"checkpoint {filename} has no {name!r} state to restore")
        obj.load_state_dict(state)
    return checkpoint


def checkpoint_path(exp_dir: str | Path, batch_idx_train: int) -> Path:
    """``exp_dir/checkpoint-B.pt``."""
    return Path(exp_dir) / f"checkpoint-{batch_idx_train}.pt"


def epoch_path(exp_dir: str | Path, epoch: int) -> Path:
    """``exp_dir/epoch-N.pt``."""
    return Path(exp_dir) / f"epoch-{epoch}.pt"


def find_checkpoints(exp_dir: str | Path, iteration: int = 0) -> list[Path]:
    """``checkpoint-B.pt`` files in ``exp_dir``, newest (largest B) first.

    ``iteration > 0`` keeps those with ``B >= iteration``, ``iteration < 0`` those with
    ``B <= -iteration``, ``0`` keeps all.
    """
    found = []
    for path in Path(exp_dir).glob("checkpoint-*.pt"):
        match = _CHECKPOINT_RE.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    found.sort(reverse=True)
    if iteration > 0:
        found = [(b, p) for b, p in found if b >= iteration]
    elif iteration < 0:
        found = [(b, p) for b, p in found if b <= -iteration]
    return [p for _, p in found]


def remove_checkpoints(exp_dir: str | Path, keep_last_k: int, rank: int = 0) -> list[Path]:
    """Delete all but the newest ``keep_last_k`` ``checkpoint-B.pt`` files (rank 0 only;
    ``keep_last_k <= 0`` keeps everything). Returns the removed paths."""
    if rank != 0 or keep_last_k <= 0:
        return []
    removed = find_checkpoints(exp_dir)[keep_last_k:]
    for path in removed:
        path.unlink()
        logger.info("Removed old checkpoint %s (--keep-last-k %d)", path, keep_last_k)
    return removed


def average_checkpoints(filenames: Sequence[str | Path], device: str = "cpu") -> StateDict:
    """The mean of the ``"model"`` state dicts of the given checkpoint files."""
    if not filenames:
        raise ValueError("average_checkpoints: no checkpoint files given")
    return average_state_dicts([_torch_load(f, device)["model"] for f in filenames])


def _averaged_model_and_batch(filename: str | Path, device: str) -> tuple[StateDict, int]:
    checkpoint = _torch_load(filename, device)
    if checkpoint.get("model_avg") is None:
        raise KeyError(f"checkpoint {filename} has no 'model_avg' (was it saved by rank 0?)")
    period = checkpoint.get("average_period") or 1
    # The running average was last updated at the last multiple of the averaging period.
    batch = (checkpoint["batch_idx_train"] // period) * period
    return checkpoint["model_avg"], batch


def average_checkpoints_with_averaged_model(
    filename_start: str | Path | None, filename_end: str | Path, device: str = "cpu"
) -> StateDict:
    """The mean of the model over the batches between two checkpoints, from their running
    averages: ``(avg_end * b_end - avg_start * b_start) / (b_end - b_start)``.

    ``filename_start=None`` means the start of training (``b_start = 0``): the result is the
    running average of ``filename_end`` itself.
    """
    avg_end, batch_end = _averaged_model_and_batch(filename_end, device)
    if filename_start is None:
        return dict(avg_end)
    avg_start, batch_start = _averaged_model_and_batch(filename_start, device)
    if batch_start >= batch_end:
        raise ValueError(
            f"{filename_start} (batch {batch_start}) is not older than {filename_end} "
            f"(batch {batch_end}): cannot average between them"
        )
    return range_average(avg_start, batch_start, avg_end, batch_end)


def newest_decoding_file(exp_dir: str | Path, epoch: int, avg: int, use_averaged_model: bool,
                         iter: int = 0) -> Path:
    """The newest of the files :func:`load_model_for_decoding` averages with these options (the
    one whose model description a decoder reads)."""
    files, _ = _averaging_files(Path(exp_dir), epoch, avg, use_averaged_model, iter)
    return files[0] if iter > 0 else files[-1]


def _averaging_files(
    exp_dir: Path, epoch: int, avg: int, use_averaged_model: bool, iter: int
) -> tuple[list[Path], str]:
    """The checkpoint files a decode with these options reads, and a description."""
    if avg < 1:
        raise ValueError(f"--avg must be >= 1, got {avg}")
    if iter > 0:
        wanted = avg + 1 if use_averaged_model else avg
        files = find_checkpoints(exp_dir, iteration=-iter)[:wanted]
        if len(files) < wanted:
            raise FileNotFoundError(
                f"--iter {iter} --avg {avg} --use-averaged-model {int(use_averaged_model)}"
                f" needs {wanted} checkpoint-B.pt files with B <= {iter} in {exp_dir}, found "
                f"{len(files)}: {[p.name for p in files]}"
            )
        return files, f"checkpoints {[p.name for p in files]}"
    if epoch < 1:
        raise ValueError(f"--epoch must be >= 1, got {epoch}")
    if use_averaged_model:
        start = epoch - avg
        if start < 0:
            raise ValueError(
                f"--epoch {epoch} --avg {avg}: --use-averaged-model needs avg <= epoch"
            )
        files = ([epoch_path(exp_dir, start)] if start >= 1 else []) + [epoch_path(exp_dir, epoch)]
    else:
        files = [epoch_path(exp_dir, e) for e in range(max(1, epoch - avg + 1), epoch + 1)]
    for path in files:
        _require(path)
    return files, f"epochs {[p.name for p in files]}"


def load_model_for_decoding(
    model: nn.Module,
    exp_dir: str | Path,
    epoch: int,
    avg: int,
    use_averaged_model: bool,
    iter: int = 0,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Load the weights decode.py asks for into ``model`` and put it in eval mode on ``device``.

    - ``use_averaged_model=False``: the mean of ``epoch-(epoch-avg+1).pt .. epoch-epoch.pt``
      (or of the ``avg`` newest ``checkpoint-B.pt`` with ``B <= iter`` when ``iter > 0``).
    - ``use_averaged_model=True``: the mean over the batches between ``epoch-(epoch-avg).pt`` and
      ``epoch-epoch.pt`` from their running averages (or between the ``(avg+1)``-th newest and the
      newest ``checkpoint-B.pt`` with ``B <= iter``).

    Raises ``FileNotFoundError`` naming the missing checkpoint file.
    """
    exp_dir = Path(exp_dir)
    files, described = _averaging_files(exp_dir, epoch, avg, use_averaged_model, iter)
    if use_averaged_model:
        start = files[-1] if iter > 0 else (files[0] if len(files) == 2 else None)
        end = files[0] if iter > 0 else files[-1]
        state = average_checkpoints_with_averaged_model(start, end)
        logger.info("Decoding with the running model average between %s", described)
    elif len(files) == 1:
        state = _torch_load(files[0])["model"]
        logger.info("Decoding with %s", described)
    else:
        state = average_checkpoints(files)
        logger.info("Decoding with the average of %s", described)
    model_state = _unwrap(model).state_dict()
    # The running average is float64; the model keeps its own dtypes.
    state = {k: v.to(model_state[k].dtype) if k in model_state else v for k, v in state.items()}
    _unwrap(model).load_state_dict(state)
    return model.to(device).eval()
