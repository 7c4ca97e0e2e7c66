"""Pruning bounds for the pruned RNN-T loss (k2's ``get_rnnt_prune_ranges``, the method of the
Pruned RNN-T paper, section 3.2) and the gathering of encoder/decoder outputs on that grid.

Example::

    >>> import torch
    >>> from icefall_lite.transducer.rnnt_loss import rnnt_loss_simple
    >>> lm, am = torch.randn(1, 4, 6), torch.randn(1, 8, 6)
    >>> symbols = torch.tensor([[1, 2, 3]])
    >>> boundary = torch.tensor([[0, 0, 3, 8]])
    >>> _, (px_grad, py_grad) = rnnt_loss_simple(lm, am, symbols, 0, boundary, return_grad=True)
    >>> get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range=2).shape
    torch.Size([1, 8, 2])
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from icefall_lite.transducer.mutual_information import check_grid_shapes

__all__ = ["get_rnnt_prune_ranges", "do_rnnt_pruning"]


def _running_min_from_right(x: Tensor) -> Tensor:
    """``out[..., i] = min(x[..., i:])``: the largest non-decreasing sequence below ``x``."""
    return torch.cummin(x.flip(-1), dim=-1)[0].flip(-1)


def _make_reachable(s_begin: Tensor, max_step: int) -> Tensor:
    """Lower ``s_begin [B, T]`` to a sequence that starts at >= 0, never decreases and rises by
    at most ``max_step`` per frame (so no symbol is skipped between frames)."""
    T = s_begin.shape[1]
    s_begin = _running_min_from_right(s_begin)
    # "rises by <= max_step" is "t * max_step - s_begin is non-decreasing"
    slope = max_step * torch.arange(T, device=s_begin.device)
    lifted = _running_min_from_right(slope - s_begin).clamp(min=0)
    return slope - lifted


def get_rnnt_prune_ranges(
    px_grad: Tensor, py_grad: Tensor, boundary: Tensor, s_range: int
) -> Tensor:
    """Per-frame windows of ``s_range`` consecutive symbol positions that hold most of the
    alignment mass, from the occupation gradients of the simple loss.

    For frame ``t`` the window start ``w`` maximises the blank mass leaving frame ``t`` inside
    ``[w, w + s_range)`` minus the symbol mass that entered the window from below
    (``px_grad[w-1, t]``); on each sequence's last frame (and its padding) the window is pinned
    to end at ``S_b``; then starts are made non-decreasing with steps of at most
    ``s_range - 1`` (regular) or 1 (modified/constrained), starting from >= 0.

    Args:
      px_grad: ``[B, S, T+1]`` (regular) or ``[B, S, T]`` (modified), from
        ``rnnt_loss_simple(..., return_grad=True)`` or ``rnnt_loss_smoothed``.
      py_grad: ``[B, S+1, T]``.
      boundary: int64 ``[B, 4]`` rows ``[s_begin, t_begin, s_end, t_end]``.
      s_range: window size; at least 2 for regular (1 for modified) transducers. Values above S
        are lowered to ``S + 1`` (nothing pruned).

    Returns:
      int64 ``[B, T, s_range]`` absolute positions ``s``, ``ranges[b, t] = w_t + arange(s_range)``.
    """
    B, S, T = check_grid_shapes(px_grad, py_grad, "px_grad, py_grad")
    if tuple(boundary.shape) != (B, 4):
        raise ValueError(f"boundary: expected shape ({B}, 4), got {tuple(boundary.shape)}")
    T1 = px_grad.shape[2]
    regular = T1 == T + 1
    smallest = 2 if regular else 1
    if s_range < smallest:
        raise ValueError(
            f"s_range: must be >= {smallest} for a {'regular' if regular else 'modified'} "
            f"transducer (else no path survives pruning), got {s_range}"
        )
    if regular and B > 0:
        # with S_b symbols over T_b frames some frame must emit ceil(S_b / T_b) of them
        needed = int(((boundary[:, 2] - 1).clamp(min=0) // boundary[:, 3].clamp(min=1)).max()) + 2
        if s_range < needed:
            logging.warning(
                "get_rnnt_prune_ranges: s_range=%d cannot hold any path (a sequence has more "
                "than %d symbols per frame); using s_range=%d",
                s_range, needed - 2, needed,
            )
            s_range = needed
    s_range = min(s_range, S + 1)
    num_windows = S + 2 - s_range

    # blank mass of frame t inside window w: sum of py_grad[w : w + s_range, t]
    b_stride, s_stride, t_stride = py_grad.stride()
    windows = torch.as_strided(
        py_grad, (B, num_windows, s_range, T), (b_stride, s_stride, s_stride, t_stride),
        py_grad.storage_offset(),
    )
    inside = torch.sum(windows, dim=2)
    entering = torch.cat((px_grad.new_zeros(B, 1, T1), px_grad), dim=1)[:, :num_windows, :T]
    s_begin = torch.argmax(inside - entering, dim=1)  # [B, T]

    frames = torch.arange(T, device=px_grad.device).expand(B, T)
    free = frames < (boundary[:, 3:4] - 1)
    last_start = (boundary[:, 2:3] - s_range + 1).clamp(min=0)
    s_begin = torch.where(free, s_begin, last_start)
    s_begin = _make_reachable(s_begin, s_range - 1 if regular else 1)
    return s_begin.unsqueeze(2) + torch.arange(s_range, device=px_grad.device)


def do_rnnt_pruning(am: Tensor, lm: Tensor, ranges: Tensor) -> tuple[Tensor, Tensor]:
    """The encoder and decoder outputs on the pruned grid, ready for the joiner.

    Args:
      am: ``[B, T, D_am]`` encoder output (projected for the joiner).
      lm: ``[B, S+1, D_lm]`` decoder output.
      ranges: int64 ``[B, T, s_range]`` from :func:`get_rnnt_prune_ranges`.

    Returns:
      ``am_pruned [B, T, s_range, D_am]`` (an expanded view) and
      ``lm_pruned [B, T, s_range, D_lm]`` (``lm[b, ranges[b, t, r]]``).

    Example::

        >>> am, lm = torch.randn(2, 5, 8), torch.randn(2, 4, 8)
        >>> ranges = torch.zeros(2, 5, 3, dtype=torch.int64) + torch.arange(3)
        >>> [x.shape for x in do_rnnt_pruning(am, lm, ranges)]
        [torch.Size([2, 5, 3, 8]), torch.Size([2, 5, 3, 8])]
    """
    if ranges.ndim != 3 or am.ndim != 3 or lm.ndim != 3:
        raise ValueError("am [B, T, D], lm [B, S+1, D] and ranges [B, T, s_range] expected")
    B, T, s_range = ranges.shape
    if am.shape[:2] != (B, T) or lm.shape[0] != B:
        raise ValueError(
            f"am {tuple(am.shape)}, lm {tuple(lm.shape)}, ranges {tuple(ranges.shape)}: "
            "batch and frame sizes disagree"
        )
    S1 = lm.shape[1]
    am_pruned = am.unsqueeze(2).expand(B, T, s_range, am.shape[2])
    # index the flattened [B * (S+1), D]: its backward accumulates into [B, S+1, D] only
    rows = ranges + (torch.arange(B, device=ranges.device) * S1).reshape(B, 1, 1)
    lm_pruned = lm.reshape(B * S1, lm.shape[2])[rows.reshape(-1)]
    return am_pruned, lm_pruned.reshape(B, T, s_range, lm.shape[2])
