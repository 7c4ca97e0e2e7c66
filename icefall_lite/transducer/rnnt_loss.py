"""RNN-T losses with k2's names and signatures, in pure PyTorch.

- :func:`rnnt_loss_simple` / :func:`rnnt_loss_smoothed`: joiner = addition of ``lm [B, S+1, C]``
  and ``am [B, T, C]``; memory ``O(B S T)``. With ``return_grad=True`` they also return the
  occupation gradients that :func:`get_rnnt_prune_ranges` turns into pruning windows.
- :func:`rnnt_loss_pruned`: the real joiner evaluated only on those windows
  (``[B, T, s_range, C]``, see :func:`do_rnnt_pruning`).
- :func:`rnnt_loss`: the exact loss from the full joiner output ``[B, T, S+1, C]`` (logits, or
  log-softmax outputs with ``from_log_softmax=True``), without extra copies of that tensor.

Every loss takes ``rnnt_type`` (``regular``: a symbol keeps the frame; ``modified``: at most
one symbol per frame; ``constrained``: modified, plus the next context's blank on the same
frame), ``delay_penalty`` and ``reduction`` (``none`` / ``mean`` over the batch / ``sum``).

The pruned training step (as in icefall's zipformer)::

    >>> import torch
    >>> B, T, S, C, D = 2, 10, 4, 8, 16
    >>> am, lm = torch.randn(B, T, D), torch.randn(B, S + 1, D)
    >>> to_vocab = torch.nn.Linear(D, C)
    >>> symbols = torch.randint(1, C, (B, S))
    >>> boundary = torch.tensor([[0, 0, S, T], [0, 0, 3, 8]])
    >>> simple, (px_grad, py_grad) = rnnt_loss_smoothed(
    ...     to_vocab(lm), to_vocab(am), symbols, 0, lm_only_scale=0.25, am_only_scale=0.0,
    ...     boundary=boundary, reduction="sum", return_grad=True)
    >>> ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range=3)
    >>> am_pruned, lm_pruned = do_rnnt_pruning(am, lm, ranges)
    >>> logits = to_vocab(torch.tanh(am_pruned + lm_pruned))   # the joiner
    >>> pruned = rnnt_loss_pruned(logits, symbols, ranges, 0, boundary, reduction="sum")
    >>> (0.5 * simple + pruned).backward()
"""

from __future__ import annotations

from torch import Tensor

from icefall_lite.transducer.loss_common import add_delay_penalty, reduce_loss
from icefall_lite.transducer.loss_joint import get_rnnt_logprobs_joint, get_rnnt_logprobs_pruned
from icefall_lite.transducer.loss_pruning import do_rnnt_pruning, get_rnnt_prune_ranges
from icefall_lite.transducer.loss_simple import get_rnnt_logprobs, get_rnnt_logprobs_smoothed
from icefall_lite.transducer.mutual_information import (
    check_boundary,
    mutual_information_recursion,
)

__all__ = [
    "mutual_information_recursion",
    "get_rnnt_logprobs",
    "get_rnnt_logprobs_smoothed",
    "get_rnnt_logprobs_joint",
    "get_rnnt_logprobs_pruned",
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
    "get_rnnt_prune_ranges",
    "do_rnnt_pruning",
    "rnnt_loss_pruned",
    "rnnt_loss",
]

LossAndGrads = tuple[Tensor, tuple[Tensor, Tensor]]


def _loss_from_logprobs(
    px: Tensor,
    py: Tensor,
    boundary: Tensor | None,
    delay_penalty: float,
    reduction: str | None,
    return_grad: bool = False,
) -> Tensor | LossAndGrads:
    B, S, _ = px.shape
    boundary = check_boundary(boundary, B, S, py.shape[2], px.device)
    px = add_delay_penalty(px, boundary, delay_penalty)
    if return_grad:
        scores, grads = mutual_information_recursion(px, py, boundary, return_grad=True)
        return reduce_loss(scores, reduction), grads
    return reduce_loss(mutual_information_recursion(px, py, boundary), reduction)


def rnnt_loss_simple(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
    return_grad: bool = False,
) -> Tensor | LossAndGrads:
    """RNN-T loss with the joiner ``am + lm`` (log-softmax over C of the sum).

    Args:
      lm: ``[B, S+1, C]``; am: ``[B, T, C]``; symbols: int64 ``[B, S]``.
      termination_symbol: the blank id.
      boundary: optional int64 ``[B, 4]`` rows ``[0, 0, S_b, T_b]`` (begin may be non-zero).
      rnnt_type: ``regular``, ``modified`` or ``constrained``.
      delay_penalty: if > 0, adds ``delay_penalty * ((T_b - 1) / 2 - t)`` to symbol log-probs.
      reduction: ``none`` (``[B]``), ``mean`` or ``sum``.
      return_grad: also return ``(px_grad, py_grad)``, the occupation probabilities (gradient of
        the negated, unreduced loss with respect to ``px``/``py``), for pruning.

    Returns:
      The loss, or ``(loss, (px_grad, py_grad))``.

    Example::

        >>> import torch
        >>> lm, am = torch.randn(2, 4, 10), torch.randn(2, 6, 10)
        >>> rnnt_loss_simple(lm, am, torch.randint(1, 10, (2, 3)), 0).shape
        torch.Size([])
    """
    px, py = get_rnnt_logprobs(lm, am, symbols, termination_symbol, rnnt_type, boundary)
    return _loss_from_logprobs(px, py, boundary, delay_penalty, reduction, return_grad)


def rnnt_loss_smoothed(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    lm_only_scale: float = 0.1,
    am_only_scale: float = 0.1,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
    return_grad: bool = False,
) -> Tensor | LossAndGrads:
    """:func:`rnnt_loss_simple` with log-probs interpolated with an LM-only and an AM-only
    model: ``(1 - l - a) * joint + l * lm_only + a * am_only`` (see
    :func:`get_rnnt_logprobs_smoothed`). Other arguments as :func:`rnnt_loss_simple`."""
    px, py = get_rnnt_logprobs_smoothed(
        lm, am, symbols, termination_symbol, lm_only_scale, am_only_scale, boundary, rnnt_type
    )
    return _loss_from_logprobs(px, py, boundary, delay_penalty, reduction, return_grad)


def rnnt_loss_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
) -> Tensor:
    """RNN-T loss from the joiner evaluated on the pruned grid.

    Args:
      logits: ``[B, T, s_range, C]``; ``logits[b, t, r]`` is position ``ranges[b, t, r]``.
      symbols: int64 ``[B, S]``.
      ranges: int64 ``[B, T, s_range]`` from :func:`get_rnnt_prune_ranges`.
      termination_symbol, boundary, rnnt_type, delay_penalty, reduction: as in
        :func:`rnnt_loss_simple`.

    Returns:
      The loss (``[B]`` for ``reduction="none"``, else a scalar). Equals :func:`rnnt_loss`
      when the windows cover every position (``s_range >= S + 1``).
    """
    px, py = get_rnnt_logprobs_pruned(
        logits, symbols, ranges, termination_symbol, boundary, rnnt_type
    )
    return _loss_from_logprobs(px, py, boundary, delay_penalty, reduction)


def rnnt_loss(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
    from_log_softmax: bool = False,
) -> Tensor:
    """The exact (unpruned) RNN-T loss from the full joiner output.

    Args:
      logits: ``[B, T, S+1, C]`` joiner output, or its log-softmax over C when
        ``from_log_softmax`` (same loss and same gradient reaching the network).
      symbols, termination_symbol, boundary, rnnt_type, delay_penalty, reduction: as in
        :func:`rnnt_loss_simple`.

    Memory: besides ``logits`` and, in backward, their gradient, only ``[B, T, S+1]`` tensors
    and bounded chunks are allocated.

    Example::

        >>> import torch
        >>> logits = torch.randn(2, 6, 4, 10, requires_grad=True)
        >>> rnnt_loss(logits, torch.randint(1, 10, (2, 3)), 0, reduction="sum").backward()
    """
    px, py = get_rnnt_logprobs_joint(
        logits, symbols, termination_symbol, rnnt_type, boundary, from_log_softmax
    )
    return _loss_from_logprobs(px, py, boundary, delay_penalty, reduction)
