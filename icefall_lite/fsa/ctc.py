"""CTC graph constructors with k2's names, arc order and aux_labels: ``ctc_topo`` (standard
and modified), ``ctc_graph``, ``linear_fst``, ``linear_fst_with_self_loops``.

Every constructor builds its arcs from per-state arc counts with one range expansion, so
the cost is a handful of tensor ops whatever the vocabulary or batch size.

Example::

    >>> topo = ctc_topo(2)            # states 0..3, 3 x 4 arcs
    >>> topo.labels.tolist()[:4], topo.aux_labels.tolist()[:4]
    ([0, 1, 2, -1], [0, 1, 2, -1])
"""

from __future__ import annotations

import torch

from icefall_lite.fsa.fsa import Fsa, make_fsa
from icefall_lite.fsa.ops import add_epsilon_self_loops, linear_fsa
from icefall_lite.fsa.ragged import (
    RaggedShape,
    RaggedTensor,
    expand_ranges,
    index_and_sum,
    splits_from_row_ids,
    splits_from_sizes,
)


def _device(device) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cpu")


def _with_aux(fsa: Fsa, aux: torch.Tensor) -> Fsa:
    fsa.aux_labels = aux.to(torch.int32)
    return fsa


def ctc_topo(max_token: int, modified: bool = False,
             device: str | torch.device | None = None) -> Fsa:
    """A CTC topology over tokens ``1..max_token`` (0 = blank on the input side, epsilon on
    the output side), as k2 builds it.

    Standard: states ``0..max_token`` plus the final state ``max_token + 1``; from every
    non-final state ``i`` an arc to every state ``j`` with label ``j`` (-1 into the final
    state) and aux_label ``0`` on self-loops, else ``j``. Modified: state 0 has self-loops
    for every label ``0..max_token`` (aux = label) and arcs to each state ``1..max_token``
    and the final state; state ``s > 0`` has a self-loop and an arc back to 0, both with
    label ``s`` and aux_label 0 (so a token may repeat without a blank in between).
    """
    if max_token < 0:
        raise ValueError(f"ctc_topo: max_token={max_token} must be >= 0")
    dev = _device(device)
    num_states = max_token + 2
    if not modified:
        dim1 = max_token + 2
        src = torch.arange(max_token + 1, device=dev).repeat_interleave(dim1)
        dst = torch.arange(dim1, device=dev).repeat(max_token + 1)
        labels = torch.where(dst == dim1 - 1, torch.full_like(dst, -1), dst)
        aux = torch.where(src == dst, torch.zeros_like(dst), labels)
    else:
        n0 = num_states - 1
        loop = torch.arange(n0, device=dev)
        leave = torch.arange(1, num_states, device=dev)
        other = torch.arange(1, max_token + 1, device=dev).repeat_interleave(2)
        back = torch.arange(other.numel(), device=dev) % 2 == 1
        src = torch.cat([torch.zeros_like(loop), torch.zeros_like(leave), other])
        dst = torch.cat([torch.zeros_like(loop), leave,
                         torch.where(back, torch.zeros_like(other), other)])
        leave_lab = torch.where(leave == num_states - 1, torch.full_like(leave, -1), leave)
        labels = torch.cat([loop, leave_lab, other])
        aux = torch.cat([loop, leave_lab, torch.zeros_like(other)])
    scores = torch.zeros(src.numel(), dtype=torch.float32, device=dev)
    fsa = make_fsa(torch.tensor([num_states], device=dev), src, dst, labels.to(torch.int32),
                   scores, single=True)
    return _with_aux(fsa, aux)


def ctc_graph(symbols: list[list[int]] | RaggedTensor, modified: bool = False,
              device: str | torch.device | None = "cpu") -> Fsa:
    """CTC training graphs (an FsaVec, one per symbol sequence), k2's layout: for ``n``
    symbols, states ``2k`` (blank before symbol ``k``) and ``2k + 1`` (symbol ``k``),
    ``k = 0..n``, where state ``2n + 1`` is final. Blank states: a blank self-loop, then the
    arc to the next symbol state. Symbol states: blank arc to the next blank state, the
    self-loop (aux 0), and - unless the next symbol is the same one and ``modified`` is
    False - a direct arc to the next symbol state.
    """
    if not isinstance(symbols, RaggedTensor):
        symbols = RaggedTensor([list(s) for s in symbols], dtype=torch.int32,
                               device=_device(device))
    if symbols.num_axes != 2:
        raise ValueError("ctc_graph: symbols must have 2 axes")
    dev = symbols.device
    sym = symbols.values.long()
    if bool((sym == -1).any()):
        raise ValueError("ctc_graph: symbols must not contain -1 (k2's final label)")
    sym_splits = symbols.shape.row_splits_long(1)
    n = sym_splits.diff()
    states_per_fsa = 2 * n + 2
    state_splits = splits_from_sizes(states_per_fsa)
    local, fsa_of = expand_ranges(torch.zeros_like(states_per_fsa), states_per_fsa)
    k = local // 2
    odd = local % 2 == 1
    nf = n.index_select(0, fsa_of)
    pos = sym_splits[:-1].index_select(0, fsa_of) + k  # index of symbol k in sym

    def sym_at(p: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        if sym.numel() == 0:
            return torch.full_like(p, -1)
        return torch.where(valid, sym[p.clamp(max=sym.numel() - 1)], torch.full_like(p, -1))

    cur = sym_at(pos, k < nf)
    nxt = sym_at(pos + 1, k + 1 < nf)
    final = odd & (k == nf)
    three = odd & ~final & (torch.tensor(modified, device=dev) | (cur != nxt))
    count = torch.where(final, torch.zeros_like(k), torch.where(three, torch.full_like(k, 3),
                                                                  torch.full_like(k, 2)))
    a2, st = expand_ranges(torch.zeros_like(count), count)
    s_local, s_odd, s_cur, s_nxt = local[st], odd[st], cur[st], nxt[st]
    # blank state: (self-loop, 0), (to 2k+1, cur); symbol state: (to 2k+2, 0),
    # (self-loop, cur), (to 2k+3, next)
    even_dst = torch.where(a2 == 0, s_local, s_local + 1)
    even_lab = torch.where(a2 == 0, torch.zeros_like(a2), s_cur)
    odd_dst = torch.where(a2 == 0, s_local + 1, torch.where(a2 == 1, s_local, s_local + 2))
    odd_lab = torch.where(a2 == 0, torch.zeros_like(a2), torch.where(a2 == 1, s_cur, s_nxt))
    dst_local = torch.where(s_odd, odd_dst, even_dst)
    labels = torch.where(s_odd, odd_lab, even_lab)
    aux = torch.where(s_odd, torch.where(a2 == 2, s_nxt, torch.zeros_like(a2)), even_lab)
    off = state_splits[:-1].index_select(0, fsa_of.index_select(0, st))
    scores = torch.zeros(a2.numel(), dtype=torch.float32, device=dev)
    fsa = make_fsa(states_per_fsa, st, dst_local + off,
                   labels.to(torch.int32), scores, single=False)
    return _with_aux(fsa, aux)


def linear_fst(labels: list[int] | list[list[int]],
               aux_labels: list[int] | list[list[int]]) -> Fsa:
    """A linear FST (FsaVec for a list of lists): ``linear_fsa(labels)`` with aux_labels
    ``aux_labels + [-1]`` per FST (scores 0)."""
    fsa = linear_fsa(labels)
    nested = len(labels) > 0 and isinstance(labels[0], (list, tuple))
    if nested:
        if len(aux_labels) != len(labels) or (
                len(aux_labels) and not isinstance(aux_labels[0], (list, tuple))):
            raise ValueError("linear_fst: aux_labels and labels do not match")
        flat = [x for a in aux_labels for x in list(a) + [-1]]
    else:
        flat = list(aux_labels) + [-1]
    aux = torch.tensor(flat, dtype=torch.int32, device=fsa.device)
    if aux.numel() != fsa.num_arcs:
        raise ValueError(f"linear_fst: {aux.numel()} aux_labels (with the final -1s) for "
                         f"{fsa.num_arcs} arcs")
    return _with_aux(fsa, aux)


def linear_fst_with_self_loops(fsts: Fsa) -> Fsa:
    """From linear FST(s): drop the epsilon (label 0) arcs, folding their aux_labels and
    scores into the next non-epsilon arc (aux_labels become ragged, positive values only),
    then add epsilon self-loops. Scores stay differentiable."""
    if "aux_labels" not in fsts._tensor_attr:
        raise ValueError("linear_fst_with_self_loops: the input has no aux_labels")
    dev = fsts.device
    labels = fsts.labels
    n = labels.numel()
    new_group = torch.ones(n, dtype=torch.int64, device=dev)
    if n > 1:
        new_group[1:] = (labels[:-1] != 0).to(torch.int64)
    group = torch.cumsum(new_group, 0) - 1
    num_groups = int(group[-1]) + 1 if n else 0
    gshape = RaggedShape([splits_from_row_ids(group, num_groups)])
    aux = fsts.aux_labels
    if not isinstance(aux, torch.Tensor):
        raise ValueError("linear_fst_with_self_loops: aux_labels must be a tensor")
    dest_aux = RaggedTensor(gshape, aux.contiguous()).remove_values_leq(0)
    arc_idx = RaggedTensor(gshape, torch.arange(n, dtype=torch.int32, device=dev))
    dest_scores = index_and_sum(fsts.scores, arc_idx)
    info = fsts.arc_info()
    per_fsa = RaggedTensor(RaggedShape([splits_from_row_ids(info["fsa"],
                                                            info["num_states"].numel())]),
                           labels.contiguous()).remove_values_leq(0)
    ans = linear_fsa(per_fsa)
    ans.aux_labels = dest_aux
    ans.scores = dest_scores
    ans = add_epsilon_self_loops(ans)
    return ans[0] if fsts.arcs.num_axes() == 2 else ans


__all__ = ["ctc_graph", "ctc_topo", "linear_fst", "linear_fst_with_self_loops"]
