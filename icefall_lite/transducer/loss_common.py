"""Pieces shared by all RNN-T losses: argument checks, the ``rnnt_type`` variants of ``px``,
the delay penalty and the reduction.

Example::

    >>> import torch
    >>> reduce_loss(torch.tensor([1.0, 3.0]), "mean")
    tensor(-2.)
"""

from __future__ import annotations

import torch
from torch import Tensor

from icefall_lite.transducer.mutual_information import check_boundary

RNNT_TYPES = ("regular", "modified", "constrained")
REDUCTIONS = ("none", "mean", "sum")


def check_rnnt_type(rnnt_type: str) -> None:
    if rnnt_type not in RNNT_TYPES:
        raise ValueError(f"rnnt_type: expected one of {RNNT_TYPES}, got {rnnt_type!r}")


def check_symbols(symbols: Tensor, B: int, S: int, num_classes: int, termination_symbol: int):
    if symbols.dtype != torch.int64 or tuple(symbols.shape) != (B, S):
        raise ValueError(
            f"symbols: expected an int64 tensor of shape ({B}, {S}), got {symbols.dtype} "
            f"{tuple(symbols.shape)}"
        )
    if not 0 <= termination_symbol < num_classes:
        raise ValueError(
            f"termination_symbol: expected 0 <= termination_symbol < C={num_classes}, "
            f"got {termination_symbol}"
        )
    if symbols.numel() > 0 and bool(((symbols < 0) | (symbols >= num_classes)).any()):
        raise ValueError(f"symbols: values must lie in [0, C={num_classes})")


def checked_boundary(
    boundary: Tensor | None, B: int, S: int, T: int, rnnt_type: str, device
) -> Tensor:
    """The validated boundary (default ``[0, 0, S, T]``); for modified/constrained transducers
    every sequence needs at least as many frames as symbols, else no path exists."""
    boundary = check_boundary(boundary, B, S, T, device)
    if rnnt_type != "regular":
        num_symbols = boundary[:, 2] - boundary[:, 0]
        num_frames = boundary[:, 3] - boundary[:, 1]
        short = num_symbols > num_frames
        if bool(short.any()):
            b = int(short.nonzero()[0, 0])
            raise ValueError(
                f"rnnt_type={rnnt_type!r} emits at most one symbol per frame, but sequence {b} "
                f"has {int(num_symbols[b])} symbols and only {int(num_frames[b])} frames "
                "(filter out utterances with T < S)"
            )
    return boundary


def finish_px(px: Tensor, py: Tensor, boundary: Tensor, rnnt_type: str) -> Tensor:
    """``px`` computed on ``[B, S, T]`` -> the recursion's ``px`` for ``rnnt_type``:
    regular appends a -inf frame and forbids symbols on each sequence's end frame;
    constrained adds the blank of the next context on the same frame."""
    if rnnt_type == "regular":
        B, S, T = px.shape
        px = torch.cat((px, px.new_full((B, S, 1), float("-inf"))), dim=2)
        frames = torch.arange(T + 1, device=px.device)
        at_end = (frames == boundary[:, 3:4]).unsqueeze(1)  # [B, 1, T+1]
        return px.masked_fill(at_end, float("-inf"))
    if rnnt_type == "constrained":
        return px + py[:, 1:, :]
    return px


def add_delay_penalty(px: Tensor, boundary: Tensor, delay_penalty: float) -> Tensor:
    """``px += delay_penalty * ((T_b - 1) / 2 - t)``, favouring early symbols (only for
    ``delay_penalty > 0``, like k2)."""
    if not delay_penalty > 0.0:
        return px
    T1 = px.shape[2]
    centre = (boundary[:, 3].to(px.dtype) - 1) / 2
    frames = torch.arange(T1, device=px.device, dtype=px.dtype)
    penalty = (centre.reshape(-1, 1, 1) - frames.reshape(1, 1, T1)) * delay_penalty
    return px + penalty


def reduce_loss(negated_loss: Tensor, reduction: str | None) -> Tensor:
    """Negate the recursion's scores and apply ``reduction`` (none / mean over batch / sum)."""
    if reduction == "none":
        return -negated_loss
    if reduction == "mean":
        return -torch.mean(negated_loss)
    if reduction == "sum":
        return -torch.sum(negated_loss)
    raise ValueError(f"reduction: expected one of {REDUCTIONS}, got {reduction!r}")
