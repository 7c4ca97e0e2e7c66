"""``px``/``py`` of the "simple" transducer, whose joiner is plain addition ``am[t] + lm[s]``.

The normaliser ``log sum_c exp(am[b,t,c] + lm[b,s,c])`` is a batched matrix product of
``exp(lm - max)`` and ``exp(am - max)``, so nothing of size ``[B, S, T, C]`` is ever built:
memory is ``O(B (S + T) C + B S T)``.

Example::

    >>> import torch
    >>> lm, am = torch.randn(2, 4, 10), torch.randn(2, 6, 10)   # [B, S+1, C], [B, T, C]
    >>> symbols = torch.randint(1, 10, (2, 3))
    >>> px, py = get_rnnt_logprobs(lm, am, symbols, termination_symbol=0)
    >>> px.shape, py.shape
    (torch.Size([2, 3, 7]), torch.Size([2, 4, 6]))
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from icefall_lite.transducer.loss_common import (
    check_rnnt_type,
    check_symbols,
    checked_boundary,
    finish_px,
)

__all__ = ["get_rnnt_logprobs", "get_rnnt_logprobs_smoothed"]


class _AdditiveJoiner(NamedTuple):
    """The terms of the additive joiner for one batch (all log-domain)."""

    px_am: Tensor  # [B, S, T]   am[b, t, symbols[b, s]]
    px_lm: Tensor  # [B, S, 1]   lm[b, s, symbols[b, s]]
    py_am: Tensor  # [B, 1, T]   am[b, t, blank]
    py_lm: Tensor  # [B, S+1, 1] lm[b, s, blank]
    normalizer: Tensor  # [B, S+1, T]
    lm_probs: Tensor  # [B, S+1, C] exp(lm - lm_max)
    am_probs: Tensor  # [B, T, C]   exp(am - am_max)
    lm_max: Tensor  # [B, S+1, 1]
    am_max: Tensor  # [B, T, 1]


def _check_lm_am(lm: Tensor, am: Tensor) -> tuple[int, int, int, int]:
    if lm.ndim != 3 or am.ndim != 3 or lm.shape[0] != am.shape[0] or lm.shape[2] != am.shape[2]:
        raise ValueError(
            f"lm {tuple(lm.shape)}, am {tuple(am.shape)}: expected lm [B, S+1, C] and am [B, T, C]"
        )
    if lm.shape[1] < 1:
        raise ValueError("lm: needs S+1 >= 1 positions")
    B, T, C = am.shape
    return B, lm.shape[1] - 1, T, C


def _additive_joiner(lm: Tensor, am: Tensor, symbols: Tensor, blank: int) -> _AdditiveJoiner:
    B, T, C = am.shape
    S = lm.shape[1] - 1
    # shifting by the maxima keeps exp() in range; they are added back to the normaliser
    lm_max = lm.detach().max(dim=2, keepdim=True)[0]
    am_max = am.detach().max(dim=2, keepdim=True)[0]
    lm_probs = (lm - lm_max).exp()
    am_probs = (am - am_max).exp()
    tiny = torch.finfo(am.dtype).tiny  # keeps log() finite where every product underflows
    normalizer = (torch.matmul(lm_probs, am_probs.transpose(1, 2)) + tiny).log()
    normalizer = normalizer + lm_max + am_max.transpose(1, 2)
    # gather along C of [B, T, C] (not of an expanded [B, S, T, C]: its backward would be dense)
    px_am = torch.gather(am, 2, symbols.unsqueeze(1).expand(B, T, S)).transpose(1, 2)
    px_lm = torch.gather(lm[:, :S], 2, symbols.unsqueeze(2))
    py_am = am[:, :, blank].unsqueeze(1)
    py_lm = lm[:, :, blank].unsqueeze(2)
    return _AdditiveJoiner(
        px_am, px_lm, py_am, py_lm, normalizer, lm_probs, am_probs, lm_max, am_max
    )


def _prepare(lm, am, symbols, termination_symbol, rnnt_type, boundary):
    check_rnnt_type(rnnt_type)
    B, S, T, C = _check_lm_am(lm, am)
    check_symbols(symbols, B, S, C, termination_symbol)
    boundary = checked_boundary(boundary, B, S, T, rnnt_type, am.device)
    return _additive_joiner(lm, am, symbols, termination_symbol), boundary


def get_rnnt_logprobs(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    rnnt_type: str = "regular",
    boundary: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``(px, py)`` for :func:`mutual_information_recursion` with the joiner ``am + lm``.

    Args:
      lm: ``[B, S+1, C]`` prediction-network part of the unnormalised log-probs.
      am: ``[B, T, C]`` encoder part.
      symbols: int64 ``[B, S]``.
      termination_symbol: the blank id.
      rnnt_type: ``regular``, ``modified`` or ``constrained``.
      boundary: optional int64 ``[B, 4]`` rows ``[s_begin, t_begin, s_end, t_end]``.

    Returns:
      ``px`` ``[B, S, T+1]`` (regular) or ``[B, S, T]``, and ``py`` ``[B, S+1, T]``.
    """
    parts, boundary = _prepare(lm, am, symbols, termination_symbol, rnnt_type, boundary)
    S = symbols.shape[1]
    px = parts.px_am + parts.px_lm - parts.normalizer[:, :S]
    py = parts.py_am + parts.py_lm - parts.normalizer
    return finish_px(px, py, boundary, rnnt_type), py


def get_rnnt_logprobs_smoothed(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    lm_only_scale: float = 0.1,
    am_only_scale: float = 0.1,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
) -> tuple[Tensor, Tensor]:
    """Like :func:`get_rnnt_logprobs`, with each log-prob interpolated as
    ``(1 - l - a) * joint + l * lm_only + a * am_only``.

    ``lm_only`` is the log-softmax of ``lm`` over C; ``am_only`` normalises ``am`` against a
    unigram LM, the mean of ``softmax(lm)`` over the batch and all positions (padding included,
    as in k2). A scale of exactly 0 is replaced by 1e-20 so that the gradient of the unused part
    is still defined. Arguments are those of :func:`get_rnnt_logprobs` plus the two scales.
    """
    parts, boundary = _prepare(lm, am, symbols, termination_symbol, rnnt_type, boundary)
    B, S = symbols.shape
    C = am.shape[2]
    lm_only_norm = parts.lm_probs.sum(dim=2, keepdim=True)  # [B, S+1, 1]
    unigram = (parts.lm_probs / lm_only_norm).mean(dim=(0, 1)) + torch.finfo(am.dtype).tiny
    am_only_norm = torch.mv(parts.am_probs.reshape(-1, C), unigram).reshape(B, 1, -1).log()
    am_only_norm = am_only_norm + parts.am_max.transpose(1, 2)  # [B, 1, T]
    log_unigram = unigram.log()
    lm_only_norm = lm_only_norm.log() + parts.lm_max

    px = parts.px_am + parts.px_lm - parts.normalizer[:, :S]
    px_lm_only = parts.px_lm - lm_only_norm[:, :S]
    px_am_only = parts.px_am + log_unigram[symbols].unsqueeze(2) - am_only_norm
    py = parts.py_am + parts.py_lm - parts.normalizer
    py_lm_only = parts.py_lm - lm_only_norm
    py_am_only = parts.py_am + log_unigram[termination_symbol] - am_only_norm

    joint_scale = 1.0 - lm_only_scale - am_only_scale
    lm_only_scale = lm_only_scale if lm_only_scale != 0.0 else 1.0e-20
    am_only_scale = am_only_scale if am_only_scale != 0.0 else 1.0e-20
    px = px * joint_scale + px_lm_only * lm_only_scale + px_am_only * am_only_scale
    py = py * joint_scale + py_lm_only * lm_only_scale + py_am_only * am_only_scale
    return finish_px(px, py, boundary, rnnt_type), py
