"""The mutual-information recursion behind every RNN-T loss, vectorised in pure PyTorch.

For ``px`` (symbol transitions) and ``py`` (blank/frame transitions) the recursion fills
``p[b, s, t]`` (``[B, S+1, T+1]``) with ``p[b, s_begin, t_begin] = 0`` and

- regular (``px`` is ``[B, S, T+1]``):
  ``p[s,t] = logaddexp(p[s-1,t] + px[s-1,t], p[s,t-1] + py[s,t-1])``
- modified (``px`` is ``[B, S, T]``):
  ``p[s,t] = logaddexp(p[s-1,t-1] + px[s-1,t-1], p[s,t-1] + py[s,t-1])``

and returns ``p[b, s_end, t_end]``. Cells that depend only on the previous "wave" are computed
together: the anti-diagonals ``s + t = k`` (regular) or the frames ``t = k`` (modified), so the
Python loop runs ``S + T`` (or ``T``) times over batched ``[B, S+1]`` tensor ops.

The gradient is the posterior occupation of each transition,
``exp(alpha + px + beta - total)``; it is computed by a backward recursion on
``dtotal/dp`` in linear space (each step multiplies by the ratios ``exp(p + px - p_next)``,
all precomputed at once), which never overflows because every ratio is at most 1.

Example::

    >>> import torch
    >>> px = torch.zeros(1, 2, 4)   # regular: [B, S, T+1]
    >>> py = torch.zeros(1, 3, 3)   # [B, S+1, T]
    >>> round(float(mutual_information_recursion(px, py)[0].exp()), 4)  # C(5, 2) paths
    10.0
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["mutual_information_recursion"]

_NEG_INF = float("-inf")


def _skew(x: Tensor, num_waves: int, fill: float) -> Tensor:
    """``x[b, n, l]`` -> ``out[k, b, n] = x[b, n, k - n]`` (``fill`` where ``k - n`` is outside
    ``[0, L)``); ``out`` is ``[num_waves, B, N]`` with ``num_waves >= L + N - 1``."""
    B, N, L = x.shape
    out = x.new_full((num_waves, B, N), fill)
    if x.numel() > 0:
        # out[k=n+l, b, n] lives at l*B*N + b*N + n*(B*N + 1): a plain strided view of `out`.
        out.as_strided((B, N, L), (N, B * N + 1, B * N)).copy_(x)
    return out


def _unskew(x: Tensor, length: int) -> Tensor:
    """Inverse of :func:`_skew`: ``x`` is a contiguous ``[K, B, N]`` -> ``[B, N, length]``."""
    K, B, N = x.shape
    if K * B * N == 0 or length == 0:
        return x.new_zeros(B, N, length)
    return x.as_strided((B, N, length), (N, B * N + 1, B * N)).clone()


def _to_waves(px: Tensor, py: Tensor, modified: bool) -> tuple[Tensor, Tensor]:
    """``px``/``py`` re-laid so that ``X[k]`` / ``Y[k]`` are the transitions leaving wave ``k``:
    ``X`` is ``[K, B, S+1]`` (a leading -inf column stands for "no symbol before s = 0"),
    ``Y`` is ``[K, B, S+1]``."""
    B, S, _ = px.shape
    T = py.shape[2]
    if modified:
        x = px.permute(2, 0, 1)
        y = py.permute(2, 0, 1).contiguous()
    else:
        x = _skew(px, S + T, _NEG_INF)
        y = _skew(py, S + T, _NEG_INF)
    return torch.nn.functional.pad(x, (1, 0), value=_NEG_INF), y


def _waves_of(boundary: Tensor, modified: bool) -> tuple[Tensor, Tensor]:
    """Wave index of the start and end cell of each sequence."""
    s_begin, t_begin, s_end, t_end = boundary.unbind(1)
    if modified:
        return t_begin, t_end
    return s_begin + t_begin, s_end + t_end


def _forward_waves(x: Tensor, y: Tensor, boundary: Tensor, modified: bool) -> Tensor:
    """Returns ``alpha`` as ``[K+1, B, S+2]``: ``alpha[k, b, s+1]`` = ``p`` of cell ``s`` on wave
    ``k`` (column 0 stays -inf, so symbol transitions need no special case at s = 0)."""
    K, B, S1 = y.shape
    alpha = y.new_full((K + 1, B, S1 + 1), _NEG_INF)
    k_begin, k_end = _waves_of(boundary, modified)
    batch = torch.arange(B, device=y.device)
    starts = {}
    for k in sorted(set(k_begin.tolist())):
        chosen = k_begin == k
        starts[k] = (batch[chosen], boundary[chosen, 0] + 1)
    last = int(k_end.max()) if B > 0 else 0
    for k in range(last + 1):
        if k > 0:
            prev = alpha[k - 1]
            torch.logaddexp(prev[:, :-1] + x[k - 1], prev[:, 1:] + y[k - 1], out=alpha[k, :, 1:])
        if k in starts:
            rows, cols = starts[k]
            alpha[k, rows, cols] = 0.0
    return alpha


def _backward_waves(
    x: Tensor, y: Tensor, alpha: Tensor, boundary: Tensor, modified: bool
) -> tuple[Tensor, Tensor]:
    """Occupation probabilities of the transitions, laid out like ``x`` (without its pad
    column) and ``y``: ``d total / d x`` and ``d total / d y``."""
    K, B, S1 = y.shape
    x_grad = y.new_zeros(K, B, S1 - 1)
    y_grad = torch.zeros_like(y)
    if B == 0:
        return x_grad, y_grad
    k_begin, k_end = _waves_of(boundary, modified)
    first, last = int(k_begin.min()), int(k_end.max())
    # only waves first..last were computed by the forward pass
    a = alpha[first : last + 1, :, 1:]
    x, y = x[first:last], y[first:last]
    # ratio of each transition's contribution to the cell it enters; 0 where that cell is -inf
    x_ratio = (a[:-1, :, :-1] + x[:, :, 1:] - a[1:, :, 1:]).exp()
    y_ratio = (a[:-1] + y - a[1:]).exp()
    x_ratio.masked_fill_(x_ratio.isnan(), 0.0)
    y_ratio.masked_fill_(y_ratio.isnan(), 0.0)
    occupancy = torch.zeros_like(a)  # d total / d p, per wave
    batch = torch.arange(B, device=y.device)
    occupancy[k_end - first, batch, boundary[:, 2]] = 1.0
    for k in range(last - first - 1, -1, -1):
        nxt = occupancy[k + 1]
        occupancy[k, :, :-1].addcmul_(nxt[:, 1:], x_ratio[k])
        occupancy[k].addcmul_(nxt, y_ratio[k])
    torch.mul(occupancy[1:, :, 1:], x_ratio, out=x_grad[first:last])
    torch.mul(occupancy[1:], y_ratio, out=y_grad[first:last])
    return x_grad, y_grad


def _recursion(
    px: Tensor, py: Tensor, boundary: Tensor, need_grad: bool
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    B, S, T1 = px.shape
    T = py.shape[2]
    modified = T1 == T
    x, y = _to_waves(px, py, modified)
    alpha = _forward_waves(x, y, boundary, modified)
    _, k_end = _waves_of(boundary, modified)
    batch = torch.arange(B, device=px.device)
    total = alpha[k_end, batch, boundary[:, 2] + 1]
    if not need_grad:
        return total, None, None
    x_grad, y_grad = _backward_waves(x, y, alpha, boundary, modified)
    if modified:
        px_grad = x_grad.permute(1, 2, 0).contiguous()
        py_grad = y_grad.permute(1, 2, 0).contiguous()
    else:
        px_grad = _unskew(x_grad.contiguous(), T1)
        py_grad = _unskew(y_grad.contiguous(), T)
    return total, px_grad, py_grad


class _MutualInformation(torch.autograd.Function):
    """Autograd wrapper; the occupation gradients are computed in ``forward`` because callers
    of the pruned loss want them (``return_grad``) without a second pass."""

    @staticmethod
    def forward(ctx, px, py, boundary, need_grad, grads_out: list[Tensor | None]):
        total, px_grad, py_grad = _recursion(px, py, boundary, need_grad)
        grads_out[0], grads_out[1] = px_grad, py_grad
        ctx.save_for_backward(px_grad, py_grad)
        return total

    @staticmethod
    def backward(ctx, total_grad):
        px_grad, py_grad = ctx.saved_tensors
        scale = total_grad.reshape(-1, 1, 1)
        return px_grad * scale, py_grad * scale, None, None, None


def check_grid_shapes(px: Tensor, py: Tensor, names: str = "px, py") -> tuple[int, int, int]:
    """``(B, S, T)`` of a transducer grid: ``px [B, S, T+1]`` (regular) or ``[B, S, T]``
    (modified) and ``py [B, S+1, T]``; a ValueError naming ``names`` otherwise."""
    if px.ndim != 3 or py.ndim != 3:
        raise ValueError(f"{names}: expected 3-D tensors, got {tuple(px.shape)}, {tuple(py.shape)}")
    B, S, T1 = px.shape
    T = py.shape[2]
    if T1 not in (T, T + 1) or tuple(py.shape) != (B, S + 1, T):
        raise ValueError(
            f"{names}: got {tuple(px.shape)} and {tuple(py.shape)}, expected [B, S, T+1] "
            "(regular) or [B, S, T] (modified), and [B, S+1, T]"
        )
    return B, S, T


def check_boundary(boundary: Tensor | None, B: int, S: int, T: int, device) -> Tensor:
    """Validated ``boundary`` (``[B, 4]`` int64 rows ``s_begin, t_begin, s_end, t_end``), or the
    default ``[0, 0, S, T]`` rows when it is None."""
    if boundary is None:
        row = torch.tensor([0, 0, S, T], dtype=torch.int64, device=device)
        return row.expand(B, 4).contiguous()
    if boundary.shape != (B, 4):
        raise ValueError(f"boundary: expected shape ({B}, 4), got {tuple(boundary.shape)}")
    if boundary.dtype != torch.int64:
        raise ValueError(f"boundary: expected dtype torch.int64, got {boundary.dtype}")
    boundary = boundary.to(device)
    s_begin, t_begin, s_end, t_end = boundary.unbind(1)
    bad = (s_begin < 0) | (s_begin > s_end) | (s_end > S) | (t_begin < 0) | (t_begin > t_end)
    bad |= t_end > T
    if bool(bad.any()):
        row = boundary[bad.nonzero()[0, 0]].tolist()
        raise ValueError(
            f"boundary: rows must satisfy 0 <= s_begin <= s_end <= S={S} and "
            f"0 <= t_begin <= t_end <= T={T}; got {row}"
        )
    return boundary


def mutual_information_recursion(
    px: Tensor,
    py: Tensor,
    boundary: Tensor | None = None,
    return_grad: bool = False,
) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
    """Total log-score of all monotonic paths through the ``(s, t)`` grid (k2's semantics).

    Args:
      px: ``[B, S, T+1]`` (regular) or ``[B, S, T]`` (modified: a symbol also consumes a frame);
        ``px[b, s, t]`` is the log-score of moving from ``(s, t)`` to ``(s+1, t)`` (regular) or
        ``(s+1, t+1)`` (modified).
      py: ``[B, S+1, T]``, log-score of moving from ``(s, t)`` to ``(s, t+1)``.
      boundary: optional int64 ``[B, 4]`` rows ``[s_begin, t_begin, s_end, t_end]``; default
        ``[0, 0, S, T]``.
      return_grad: also return ``(px_grad, py_grad)``, the gradients of ``total.sum()``
        with respect to ``px`` and ``py`` (the occupation probabilities of the transitions).

    Returns:
      ``total`` of shape ``[B]`` (``p[b, s_end, t_end]``), or ``(total, (px_grad, py_grad))``.

    Example::

        >>> px, py = torch.randn(2, 3, 5), torch.randn(2, 4, 4)
        >>> total, (px_grad, py_grad) = mutual_information_recursion(px, py, return_grad=True)
        >>> total.shape, px_grad.shape
        (torch.Size([2]), torch.Size([2, 3, 5]))
    """
    B, S, T = check_grid_shapes(px, py)
    if px.dtype != py.dtype or not px.dtype.is_floating_point:
        raise ValueError(f"px, py: expected one floating dtype, got {px.dtype}, {py.dtype}")
    boundary = check_boundary(boundary, B, S, T, px.device)
    need_grad = return_grad or (torch.is_grad_enabled() and (px.requires_grad or py.requires_grad))
    grads: list[Tensor | None] = [None, None]
    total = _MutualInformation.apply(px, py, boundary, need_grad, grads)
    if return_grad:
        return total, (grads[0], grads[1])
    return total
