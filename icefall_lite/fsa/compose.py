"""k2's ``compose``: the composition of transducers, matching ``a_fsa``'s output labels
(``aux_labels``) with ``b_fsa``'s input labels (``labels``).

Built, as k2 does, as an intersection of ``invert(a_fsa)`` with ``b_fsa``. With
``treat_epsilons_specially`` (k2's default) an epsilon (0) on the matched side of one input
moves that input alone: epsilon self-loops are added to the other input first, which is
exact when only one side has epsilons there (the case of H o LG, L o G with an epsilon-free G
input, a lattice with an n-gram acceptor ...). When both sides have them the built-in backend
raises (composing those needs an epsilon filter; build such graphs offline with kaldifst).
The result has the same weighted language as k2's; states and arcs may be in another order.
It is connected.

Example::

    >>> import torch
    >>> from icefall_lite.fsa import DenseFsaVec, ctc_topo, intersect_dense, linear_fst
    >>> L = arc_sort(linear_fst([1, 2], [10, 20]))  # tokens 1 2 -> words 10 20
    >>> HL = compose(ctc_topo(2), L, inner_labels="tokens")
    >>> log_probs = torch.randn(1, 4, 3).log_softmax(-1)  # [N, T, C]
    >>> dense = DenseFsaVec(log_probs, torch.tensor([[0, 0, 4]], dtype=torch.int32))
    >>> total = intersect_dense(HL, dense, 10.0).get_tot_scores(True, True)
    >>> ctc = torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), torch.tensor([[1, 2]]),
    ...                                    [4], [2], reduction="none")  # every alignment of 1 2
    >>> torch.allclose(-total.float(), ctc)
    True
"""

from __future__ import annotations

import torch

from icefall_lite.fsa.fsa import Fsa
from icefall_lite.fsa.intersection import intersect
from icefall_lite.fsa.ops import add_epsilon_self_loops, arc_sort, connect, invert


def compose(a_fsa: Fsa, b_fsa: Fsa, treat_epsilons_specially: bool = True,
            inner_labels: str | None = None) -> Fsa:
    """``a_fsa o b_fsa``: labels from ``a_fsa``'s labels, aux_labels from ``b_fsa``'s
    aux_labels (``b_fsa`` without aux_labels is an acceptor: its labels); the matched labels
    go to the attribute ``inner_labels`` when given. Scores add; other attributes follow
    (float attributes of both inputs are summed)."""
    aux = a_fsa._tensor_attr.get("aux_labels")
    if not isinstance(aux, torch.Tensor):
        raise ValueError("compose: a_fsa needs tensor aux_labels (not ragged, not missing)")
    b_is_fst = "aux_labels" in b_fsa._tensor_attr
    if not b_is_fst and inner_labels is not None:
        raise ValueError("compose: inner_labels needs b_fsa with aux_labels")
    a_inv = invert(a_fsa)
    a_inv.rename_tensor_attribute_("aux_labels", "left_labels")
    if treat_epsilons_specially:
        a_eps = bool((a_inv.labels == 0).any())
        b_eps = bool((b_fsa.labels == 0).any())
        if a_eps and b_eps:
            raise NotImplementedError(
                "compose: both a_fsa's output labels and b_fsa's input labels contain epsilon; "
                "the built-in backend composes when at most one side has epsilons (compose "
                "such graphs offline with kaldifst)")
        if a_eps:
            b_fsa = add_epsilon_self_loops(b_fsa)
        elif b_eps:
            a_inv = add_epsilon_self_loops(a_inv)
    ans = intersect(arc_sort(a_inv), arc_sort(b_fsa), treat_epsilons_specially=False)
    ans = connect(ans)
    if inner_labels is not None:
        ans.rename_tensor_attribute_("labels", inner_labels)
    if not b_is_fst:
        ans.rename_tensor_attribute_("labels", "aux_labels")
    ans.rename_tensor_attribute_("left_labels", "labels")
    return ans


__all__ = ["compose"]
