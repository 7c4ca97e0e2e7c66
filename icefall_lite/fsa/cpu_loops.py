"""The per-level loops of :mod:`.paths` for CPU tensors, on numpy views of them.

A lattice has about one level per frame and few arcs per level, so these loops cost what
their calls cost, not what their arithmetic costs: a numpy call on a small array takes ~1 µs,
a torch op ~3-5 µs (dispatch, allocation). Each function here is the numpy twin of a torch
loop in :mod:`.paths`, with the same arithmetic in the same dtype and order (max is exact
whatever the order; log-sum-exp is computed as torch's ``logsumexp`` does), so both give the
same values. Arrays are numpy views of the caller's tensors (no copies); levels are given as
offset lists into flat arrays (slicing a numpy array is cheaper than holding per-level views).

Example::

    >>> import numpy as np
    >>> out = np.array([0.0, -np.inf, -np.inf])  # state 0 is the start
    >>> tropical_push(out, np.array([0, 0, 1]), np.array([1, 2, 2]),
    ...               np.array([1.0, 0.5, 1.0]), [0, 2, 3])
    >>> out.tolist()
    [0.0, 1.0, 2.0]
"""

from __future__ import annotations

import numpy as np
import torch


def as_numpy(t: torch.Tensor) -> np.ndarray:
    """A numpy view of a CPU tensor (detached; shares memory)."""
    return t.detach().numpy()


def tropical_push(out: np.ndarray, src: np.ndarray, dst: np.ndarray, scores: np.ndarray,
                  splits: list[int]) -> None:
    """Tropical forward scores in place: for each level (``splits[l]:splits[l + 1]`` of the
    arcs grouped by source level), ``out[dst] = max(out[dst], out[src] + score)``."""
    for a0, a1 in zip(splits[:-1], splits[1:]):
        if a0 == a1:
            continue
        vals = out.take(src[a0:a1])
        vals += scores[a0:a1]
        np.maximum.at(out, dst[a0:a1], vals)


def padded_rows_pass(out: np.ndarray, other: np.ndarray, scores: np.ndarray,
                     block_splits: list[int], widths: list[int], states: np.ndarray,
                     state_splits: list[int], levels: list[int], log_semiring: bool) -> None:
    """A pull-style pass in place over padded per-level rows (see ``paths._padded_levels``):
    level ``l`` holds ``block_splits[l]:block_splits[l + 1]`` entries, one row of
    ``widths[l]`` per state; each state ``states[state_splits[l] + r]`` gets the max or the
    log-sum-exp of ``out[other] + scores`` over its row ``r``. Padding entries are -inf."""
    low = np.finfo(out.dtype).min
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for lev in levels:
            b0, b1 = block_splits[lev], block_splits[lev + 1]
            if b0 == b1:
                continue
            width = widths[lev]
            rows = np.arange(0, b1 - b0, width)
            vals = out.take(other[b0:b1])
            vals += scores[b0:b1]
            red = np.maximum.reduceat(vals, rows)
            if log_semiring:
                # torch's logsumexp: a row max of +-inf is replaced by 0 before the shift;
                # -inf rows then sum to 0 and give -inf
                np.maximum(red, low, out=red)
                vals -= red.repeat(width)
                np.exp(vals, out=vals)
                total = np.add.reduceat(vals, rows)
                np.log(total, out=total)
                total += red
                red = total
            out[states[state_splits[lev]:state_splits[lev + 1]]] = red


def sample_padded(pad: np.ndarray, base: np.ndarray, cdf: np.ndarray, width: np.ndarray,
                  dst: np.ndarray, p: np.ndarray, cur: np.ndarray, sentinel: int,
                  max_steps: int) -> list[np.ndarray]:
    """The stepping loop of ``paths._sample_padded``: all paths advance together; returns the
    arc taken by every path in each step (the sentinel arc once a path has ended)."""
    steps = []
    col = p[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        for step in range(max_steps):
            if step % 16 == 15 and bool((cur == sentinel).all()):
                break
            count = (pad[cur] <= col).sum(1)
            np.maximum(count, 1, out=count)
            arc = base.take(cur)
            arc += count
            w = width.take(arc)
            q = p - cdf.take(arc)
            q /= w
            p = np.where(w > 0, q, 0.0).astype(p.dtype, copy=False)
            col = p[:, None]
            steps.append(arc)
            cur = dst.take(arc)
    return steps
