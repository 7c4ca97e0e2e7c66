"""Sums of per-batch statistics (losses, frames), reducible across DDP ranks.

Example::

    >>> t = MetricsTracker(frames=10.0, loss=25.0)
    >>> t = t + MetricsTracker(frames=10.0, loss=15.0)
    >>> t.normalized()["loss"]
    2.0
"""

from __future__ import annotations

import torch
import torch.distributed as dist


class MetricsTracker(dict):
    """A dict of summed statistics; every key except ``frames`` and ``utterances`` is a sum over
    frames and is reported per frame by :meth:`normalized`."""

    _COUNTS = ("frames", "utterances")

    def __init__(self, **values: float) -> None:
        super().__init__({k: float(v) for k, v in values.items()})

    def __add__(self, other: MetricsTracker) -> MetricsTracker:
        result = MetricsTracker(**self)
        for key, value in other.items():
            result[key] = result.get(key, 0.0) + value
        return result

    def __mul__(self, factor: float) -> MetricsTracker:
        return MetricsTracker(**{k: v * factor for k, v in self.items()})

    def normalized(self) -> dict[str, float]:
        """Per-frame values of the summed statistics (``nan`` while there are no frames)."""
        frames = self.get("frames", 0.0)
        return {
            k: (v / frames if frames > 0 else float("nan"))
            for k, v in self.items() if k not in self._COUNTS
        }

    def __str__(self) -> str:
        parts = [f"{k}={v:.4g}" for k, v in self.normalized().items()]
        parts += [f"{k}={self[k]:.0f}" for k in self._COUNTS if k in self]
        return ", ".join(parts)

    def reduce(self, device: torch.device) -> None:
        """Sum the statistics over all DDP ranks (in place); a no-op without DDP."""
        if not (dist.is_available() and dist.is_initialized()):
            return
        keys = sorted(self)
        values = torch.tensor([self[k] for k in keys], dtype=torch.float64, device=device)
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        for key, value in zip(keys, values.tolist()):
            self[key] = value

    def write_summary(self, writer, prefix: str, step: int) -> None:
        """Write the per-frame values to a TensorBoard ``SummaryWriter``."""
        for key, value in self.normalized().items():
            writer.add_scalar(prefix + key, value, step)
