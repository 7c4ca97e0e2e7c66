"""k2's CTC loss: ``ctc_loss`` / ``CtcLoss`` on a decoding graph and a ``DenseFsaVec``.

The loss of a sequence is minus the log-semiring total score of
``intersect_dense(graph, dense_fsa_vec, output_beam)``; its gradient w.r.t. the log-probs
is minus the frame-level label posteriors (through the lattice's arc maps).

Example::

    >>> import torch
    >>> from icefall_lite.fsa import ctc_graph
    >>> log_probs = torch.randn(1, 4, 3).log_softmax(-1)  # [N, T, C]
    >>> segs = torch.tensor([[0, 0, 4]], dtype=torch.int32)  # (sequence, start frame, frames)
    >>> loss = ctc_loss(ctc_graph([[1, 2]]), DenseFsaVec(log_probs, segs), reduction="none")
    >>> ref = torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), torch.tensor([[1, 2]]),
    ...                                    [4], [2], reduction="none")
    >>> torch.allclose(loss, ref)
    True
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from icefall_lite.fsa.dense import DenseFsaVec
from icefall_lite.fsa.fsa import Fsa
from icefall_lite.fsa.intersect_dense import intersect_dense
from icefall_lite.fsa.paths import get_tot_scores

Reduction = Literal["none", "mean", "sum"]


class CtcLoss(nn.Module):
    """CTC loss over general graphs (blank = 0), same arguments as k2's ``CtcLoss``."""

    def __init__(self, output_beam: float, reduction: Reduction = "sum",
                 use_double_scores: bool = True):
        super().__init__()
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"CtcLoss: reduction={reduction!r}, expected none, mean or sum")
        self.output_beam = output_beam
        self.reduction = reduction
        self.use_double_scores = use_double_scores

    def forward(self, decoding_graph: Fsa, dense_fsa_vec: DenseFsaVec,
                delay_penalty: float = 0.0,
                target_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Loss per sequence (``reduction="none"``, ``[N]``) or a scalar: the sum, or the
        mean of the losses divided by ``target_lengths``. ``delay_penalty > 0`` penalises
        non-blank arcs by how late (relative to the middle of the sequence) they fire."""
        if self.reduction == "mean" and target_lengths is None:
            raise ValueError("CtcLoss: reduction='mean' needs target_lengths")
        lattice = intersect_dense(decoding_graph, dense_fsa_vec, self.output_beam,
                                  frame_idx_name="frame_idx" if delay_penalty > 0 else None)
        if delay_penalty > 0.0:
            _add_delay_penalty(lattice, dense_fsa_vec, delay_penalty)
        tot = get_tot_scores(lattice, use_double_scores=self.use_double_scores,
                             log_semiring=True)
        loss = (-1 * tot).to(torch.float32)
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return loss.sum()
        return (loss / target_lengths).mean()


def _add_delay_penalty(lattice: Fsa, dense: DenseFsaVec, delay_penalty: float) -> None:
    """``scores -= delay_penalty * (frame - duration // 2)`` on non-blank, non-repeat arcs."""
    info = lattice.arc_info()
    duration = dense.duration.to(lattice.device).long()
    offset = lattice.frame_idx.long() - (duration >> 1).index_select(0, info["fsa"])
    penalty = -delay_penalty * offset.to(torch.float32)
    if hasattr(lattice, "_is_repeat_token_"):
        mask = (lattice.labels == 0) | (lattice.labels == -1) | lattice._is_repeat_token_
    else:
        if not isinstance(lattice._tensor_attr.get("aux_labels"), torch.Tensor):
            raise ValueError("ctc_loss: delay_penalty needs tensor aux_labels on the graph")
        mask = (lattice.aux_labels == 0) | (lattice.aux_labels == -1)
    lattice.scores = lattice.scores + penalty.masked_fill(mask, 0.0)


def ctc_loss(decoding_graph: Fsa, dense_fsa_vec: DenseFsaVec, output_beam: float = 10,
             delay_penalty: float = 0.0, reduction: Reduction = "sum",
             use_double_scores: bool = True,
             target_lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Functional form of :class:`CtcLoss` (k2's argument order and defaults)."""
    m = CtcLoss(output_beam=output_beam, reduction=reduction,
                use_double_scores=use_double_scores)
    return m(decoding_graph, dense_fsa_vec, delay_penalty=delay_penalty,
             target_lengths=target_lengths)


__all__ = ["CtcLoss", "ctc_loss"]
