"""Autograd for backward scores (and so for arc posteriors, as in k2).

The backward score of a state is the forward score of the same state in the reversed FSA
(:func:`~icefall_lite.fsa.algorithms.reversed_scores_fsa`), so the gradient of the
backward scores is the gradient of the (already differentiable) forward scores of the
reversed FSA. The values returned are those of the direct backward pass.

Example::

    >>> from icefall_lite.fsa import Fsa, create_fsa_vec
    >>> vec = create_fsa_vec([Fsa.from_str("0 1 1 0.5\\n1 2 -1 0.25\\n2")])
    >>> _ = vec.requires_grad_(True)
    >>> beta = vec.get_backward_scores(use_double_scores=True, log_semiring=True)
    >>> beta[0].backward(); vec.scores.grad
    tensor([1., 1.])
"""

from __future__ import annotations

import torch

from icefall_lite.fsa.fsa import Fsa


class BackwardScores(torch.autograd.Function):
    """``beta = backward scores`` of ``fsa`` given its ``scores`` (float32 or float64)."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, fsa: Fsa, log_semiring: bool,
                value: torch.Tensor) -> torch.Tensor:
        """Returns ``value`` (the backward scores, ``[num_states]``, computed by the caller
        from ``scores`` ``[num_arcs]``)."""
        ctx.fsa = fsa
        ctx.log_semiring = log_semiring
        ctx.save_for_backward(scores)
        return value.clone()

    @staticmethod
    def backward(ctx, grad_beta: torch.Tensor):
        """Gradient w.r.t. ``scores``, through the forward scores of the reversed FSA."""
        from icefall_lite.fsa.algorithms import reversed_scores_fsa  # noqa: PLC0415
        from icefall_lite.fsa.paths import get_forward_scores  # noqa: PLC0415

        (scores,) = ctx.saved_tensors
        with torch.enable_grad():
            leaf = scores.detach().requires_grad_(True)
            rev, new_of_old = reversed_scores_fsa(ctx.fsa, leaf)
            alpha = get_forward_scores(rev, leaf.dtype == torch.float64, ctx.log_semiring)
            beta = alpha.index_select(0, new_of_old)
            (grad,) = torch.autograd.grad(beta, leaf, grad_beta, allow_unused=True)
        if grad is None:
            grad = torch.zeros_like(scores)
        return grad, None, None, None


__all__ = ["BackwardScores"]
