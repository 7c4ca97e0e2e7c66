"""k2's ``DenseFsaVec``: neural-net log-probs cut into supervision segments, as dense FSAs.

Layout (as k2): ``scores`` is ``[num_rows, C + 1]``; each segment of ``d`` frames owns
``d + 1`` consecutive rows, its frames followed by one final row. Column ``c + 1`` holds
the log-prob of label ``c``; column 0 is the final label -1: ``-inf`` on frame rows, 0 on the
final row (whose other columns are ``-inf``). ``row_splits`` ``[num_segments + 1]`` gives
each segment's rows. ``scores`` is computed from ``log_probs`` with differentiable ops, so a
loss built on it back-propagates into the network.

Example::

    >>> lp = torch.randn(2, 5, 4).log_softmax(-1)
    >>> segs = torch.tensor([[0, 0, 5], [1, 1, 3]], dtype=torch.int32)
    >>> DenseFsaVec(lp, segs).scores.shape
    torch.Size([10, 5])
"""

from __future__ import annotations

import torch

from icefall_lite.fsa.ragged import expand_ranges, splits_from_sizes


class DenseFsaVec:
    """Dense FSAs over the frames of ``supervision_segments`` (k2's signature).

    Args:
      log_probs: float32 ``[N, T, C]``.
      supervision_segments: int32 CPU ``[S, 3]`` rows ``(sequence_index, start_frame,
        duration)`` with ``0 <= start_frame < T``, ``duration > 0`` and
        ``start_frame + duration <= T + allow_truncate``.
      allow_truncate: how many frames a segment may run past ``T`` (they are cut off).
    """

    def __init__(self, log_probs: torch.Tensor, supervision_segments: torch.Tensor,
                 allow_truncate: int = 0) -> None:
        _check_inputs(log_probs, supervision_segments, allow_truncate)
        n, t_max, c = log_probs.shape
        segs = supervision_segments.to(torch.int64)
        seq, start, dur = segs[:, 0], segs[:, 1], segs[:, 2]
        dur = torch.minimum(start + dur, torch.full_like(dur, t_max)) - start
        device = log_probs.device
        rows = (dur + 1).to(device)
        row_splits = splits_from_sizes(rows)
        pos, owner = expand_ranges(torch.zeros_like(rows), rows)
        is_final = pos == rows.index_select(0, owner) - 1
        src_row = (seq.to(device) * t_max + start.to(device)).index_select(0, owner) + pos
        src_row = torch.where(is_final, torch.zeros_like(src_row), src_row)
        frames = log_probs.reshape(-1, c).index_select(0, src_row)
        # a final row's label columns are -inf (filled in place: a few rows, not a pass)
        frames.index_fill_(0, is_final.nonzero().squeeze(1), float("-inf"))
        _check_nan(frames.detach(), owner, supervision_segments)
        neg_inf = torch.tensor(float("-inf"), dtype=log_probs.dtype, device=device)
        zero = torch.zeros((), dtype=log_probs.dtype, device=device)
        col0 = torch.where(is_final, zero, neg_inf).unsqueeze(1)
        self.scores = torch.cat([col0, frames], dim=1)
        self.row_splits = row_splits.to(torch.int32)
        self._duration = dur.to(torch.int32).cpu()

    @property
    def duration(self) -> torch.Tensor:
        """Frames of each segment (int32, CPU), after truncation."""
        return self._duration

    def dim0(self) -> int:
        return self.row_splits.numel() - 1

    @property
    def num_cols(self) -> int:
        return self.scores.shape[1]

    @property
    def device(self) -> torch.device:
        return self.scores.device

    def is_cpu(self) -> bool:
        return self.device.type == "cpu"

    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def to(self, device: str | torch.device) -> DenseFsaVec:
        device = torch.device(device)
        if device == self.device:
            return self
        out = DenseFsaVec.__new__(DenseFsaVec)
        out.scores = self.scores.to(device)
        out.row_splits = self.row_splits.to(device)
        out._duration = self._duration
        return out

    def __str__(self) -> str:
        return (f"DenseFsaVec(num_segments={self.dim0()}, rows={self.scores.shape[0]}, "
                f"cols={self.num_cols}, duration={self._duration.tolist()})")

    __repr__ = __str__


def _check_nan(frames: torch.Tensor, owner: torch.Tensor, segs: torch.Tensor) -> None:
    """A clear error for NaN log-probs. The sum is NaN if any entry is (or if both +inf and
    -inf occur); only then the exact, costlier elementwise test runs."""
    if frames.numel() == 0 or not bool(torch.isnan(frames.sum())):
        return
    bad_rows = torch.isnan(frames).any(1)
    if bool(bad_rows.any()):
        bad = int(owner[bad_rows][0])
        raise ValueError(f"DenseFsaVec: log_probs contain NaN in the frames of supervision "
                         f"segment {bad} {segs[bad].tolist()}")


def _check_inputs(log_probs: torch.Tensor, segs: torch.Tensor, allow_truncate: int) -> None:
    """Clear errors for what k2 only asserts."""
    if log_probs.dim() != 3 or log_probs.dtype != torch.float32:
        raise ValueError(f"DenseFsaVec: log_probs must be float32 [N, T, C], got "
                         f"{log_probs.dtype} {tuple(log_probs.shape)}")
    if segs.dim() != 2 or segs.shape[1] != 3 or segs.dtype != torch.int32:
        raise ValueError(f"DenseFsaVec: supervision_segments must be int32 [S, 3], got "
                         f"{segs.dtype} {tuple(segs.shape)}")
    if segs.device.type != "cpu":
        raise ValueError("DenseFsaVec: supervision_segments must be on the CPU (as in k2)")
    if allow_truncate < 0:
        raise ValueError(f"DenseFsaVec: allow_truncate={allow_truncate} must be >= 0")
    n, t_max, _ = log_probs.shape
    s = segs.to(torch.int64)
    checks = [
        ((s[:, 0] < 0) | (s[:, 0] >= n), f"sequence_index outside [0, {n})"),
        ((s[:, 1] < 0) | (s[:, 1] >= t_max), f"start_frame outside [0, {t_max})"),
        (s[:, 2] <= 0, "duration must be > 0"),
        (s[:, 1] + s[:, 2] > t_max + allow_truncate,
         f"start_frame + duration > T + allow_truncate = {t_max + allow_truncate}"),
    ]
    for bad, what in checks:
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise ValueError(f"DenseFsaVec: supervision segment {i} {s[i].tolist()}: {what}")


__all__ = ["DenseFsaVec"]
