"""``px``/``py`` from the joiner's output, on the full grid (``[B, T, S+1, C]``) or on the pruned
one (``[B, T, s_range, C]``), without extra copies of the logits.

:class:`_JointLogProbs` picks, for every grid cell, the log-prob of its symbol and of blank; its
backward writes the gradient of the logits chunk by chunk (softmax recomputed from the saved
per-cell normaliser), so the only tensor as large as the logits that it creates is their
gradient. ``from_log_softmax=True`` takes log-softmax outputs instead of logits; the loss and the
gradient reaching the network are the same either way.

Example::

    >>> import torch
    >>> logits = torch.randn(2, 5, 4, 10)           # [B, T, S+1, C]
    >>> symbols = torch.randint(1, 10, (2, 3))
    >>> px, py = get_rnnt_logprobs_joint(logits, symbols, termination_symbol=0)
    >>> px.shape, py.shape
    (torch.Size([2, 3, 6]), torch.Size([2, 4, 5]))
"""

from __future__ import annotations

import torch
from torch import Tensor

from icefall_lite.transducer.loss_common import (
    check_rnnt_type,
    check_symbols,
    checked_boundary,
    finish_px,
)

__all__ = ["get_rnnt_logprobs_joint", "get_rnnt_logprobs_pruned"]

# elements per chunk of the temporary [rows, R, C] tensors (64 MiB in float32)
_CHUNK_ELEMENTS = 1 << 24


def _row_chunks(num_rows: int, row_size: int):
    step = max(1, _CHUNK_ELEMENTS // max(1, row_size))
    for start in range(0, num_rows, step):
        yield start, min(num_rows, start + step)


class _JointLogProbs(torch.autograd.Function):
    """``logits [N, R, C]``, ``cell_symbols [N, R]`` -> log-probs of the cell's symbol and of
    blank, both ``[N, R]``."""

    @staticmethod
    def forward(ctx, logits, cell_symbols, blank, from_log_softmax):
        N, R, C = logits.shape
        if from_log_softmax:
            normalizer = None
        else:
            normalizer = logits.new_empty(N, R)
            for i, j in _row_chunks(N, R * C):
                normalizer[i:j] = torch.logsumexp(logits[i:j], dim=2)
        symbol_lp = torch.gather(logits, 2, cell_symbols.unsqueeze(2)).squeeze(2)
        blank_lp = logits[:, :, blank]
        if normalizer is not None:
            symbol_lp = symbol_lp - normalizer
            blank_lp = blank_lp - normalizer
        else:
            blank_lp = blank_lp.clone()
        ctx.blank = blank
        ctx.save_for_backward(logits, cell_symbols, normalizer)
        return symbol_lp, blank_lp

    @staticmethod
    def backward(ctx, symbol_grad, blank_grad):
        logits, cell_symbols, normalizer = ctx.saved_tensors
        N, R, C = logits.shape
        if symbol_grad is None:
            symbol_grad = logits.new_zeros(N, R)
        if blank_grad is None:
            blank_grad = logits.new_zeros(N, R)
        grad = torch.empty_like(logits)
        for i, j in _row_chunks(N, R * C):
            chunk = grad[i:j]
            if normalizer is None:
                chunk.zero_()
            else:
                # d/dlogits of (x_k - logsumexp x) is onehot(k) - softmax(x)
                torch.sub(logits[i:j], normalizer[i:j].unsqueeze(2), out=chunk)
                chunk.exp_().mul_(-(symbol_grad[i:j] + blank_grad[i:j]).unsqueeze(2))
            chunk.scatter_add_(2, cell_symbols[i:j].unsqueeze(2), symbol_grad[i:j].unsqueeze(2))
            chunk[:, :, ctx.blank] += blank_grad[i:j]
        return grad, None, None, None


def _grid_log_probs(
    logits: Tensor, cell_symbols: Tensor, blank: int, from_log_softmax: bool
) -> tuple[Tensor, Tensor]:
    """``logits [B, T, R, C]``, ``cell_symbols [B, T, R]`` -> two ``[B, T, R]`` log-probs."""
    B, T, R, C = logits.shape
    symbol_lp, blank_lp = _JointLogProbs.apply(
        logits.contiguous().view(B * T, R, C),
        cell_symbols.reshape(B * T, R),
        blank,
        from_log_softmax,
    )
    return symbol_lp.view(B, T, R), blank_lp.view(B, T, R)


def _check_logits(logits: Tensor, name: str) -> None:
    if logits.ndim != 4 or not logits.dtype.is_floating_point:
        raise ValueError(f"{name}: expected a floating 4-D tensor, got {tuple(logits.shape)}")


def get_rnnt_logprobs_joint(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    rnnt_type: str = "regular",
    boundary: Tensor | None = None,
    from_log_softmax: bool = False,
) -> tuple[Tensor, Tensor]:
    """``(px, py)`` from the full joiner output ``logits [B, T, S+1, C]``.

    Args:
      logits: joiner output, or its log-softmax over C when ``from_log_softmax``.
      symbols: int64 ``[B, S]``.
      termination_symbol: the blank id.
      rnnt_type: ``regular``, ``modified`` or ``constrained``.
      boundary: optional int64 ``[B, 4]`` rows ``[s_begin, t_begin, s_end, t_end]``.
      from_log_softmax: ``logits`` are already log-probs (skip the normalisation).

    Returns:
      ``px`` ``[B, S, T+1]`` (regular) or ``[B, S, T]``, and ``py`` ``[B, S+1, T]``.
    """
    check_rnnt_type(rnnt_type)
    _check_logits(logits, "logits")
    B, T, S1, C = logits.shape
    S = S1 - 1
    check_symbols(symbols, B, S, C, termination_symbol)
    boundary = checked_boundary(boundary, B, S, T, rnnt_type, logits.device)
    with_blank = torch.nn.functional.pad(symbols, (0, 1), value=termination_symbol)
    cell_symbols = with_blank.unsqueeze(1).expand(B, T, S1)
    symbol_lp, blank_lp = _grid_log_probs(
        logits, cell_symbols, termination_symbol, from_log_softmax
    )
    px = symbol_lp[:, :, :S].transpose(1, 2)
    py = blank_lp.transpose(1, 2)
    return finish_px(px, py, boundary, rnnt_type), py


def get_rnnt_logprobs_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    from_log_softmax: bool = False,
) -> tuple[Tensor, Tensor]:
    """``(px, py)`` from the pruned joiner output ``logits [B, T, s_range, C]``: cell
    ``logits[b, t, r]`` is position ``s = ranges[b, t, r]``; positions outside the window get
    -inf. Arguments as :func:`get_rnnt_logprobs_joint`, plus ``ranges`` (int64
    ``[B, T, s_range]`` from :func:`get_rnnt_prune_ranges`)."""
    check_rnnt_type(rnnt_type)
    _check_logits(logits, "logits")
    B, T, R, C = logits.shape
    S = symbols.shape[1] if symbols.ndim == 2 else -1
    check_symbols(symbols, B, S, C, termination_symbol)
    if ranges.dtype != torch.int64 or tuple(ranges.shape) != (B, T, R):
        raise ValueError(
            f"ranges: expected int64 of shape ({B}, {T}, {R}), got {ranges.dtype} "
            f"{tuple(ranges.shape)}"
        )
    if R > S + 1 or bool(((ranges < 0) | (ranges > S)).any()):
        raise ValueError(f"ranges: positions must lie in [0, S={S}] and s_range <= S+1")
    boundary = checked_boundary(boundary, B, S, T, rnnt_type, logits.device)
    with_blank = torch.nn.functional.pad(symbols, (0, 1), value=termination_symbol)
    cell_symbols = torch.gather(with_blank.unsqueeze(1).expand(B, T, S + 1), 2, ranges)
    symbol_lp, blank_lp = _grid_log_probs(
        logits, cell_symbols, termination_symbol, from_log_softmax
    )
    outside = logits.new_full((B, T, S + 1), float("-inf"))
    px = outside.scatter(2, ranges, symbol_lp)[:, :, :S].transpose(1, 2)
    py = outside.scatter(2, ranges, blank_lp).transpose(1, 2)
    return finish_px(px, py, boundary, rnnt_type), py
