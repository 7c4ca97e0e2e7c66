"""Ragged arc maps: an output arc that stands for a *sequence* of input arcs (an epsilon
path followed by an arc in ``remove_epsilon``, a stretch of the best path in
``determinize``), and k2's rules for carrying attributes through such a map.

Example::

    >>> import torch
    >>> arc_map = ragged_arc_map([[0, 1], [], [2]], torch.device("cpu"))
    >>> arc_map.tolist()
    [[0, 1], [], [2]]
"""

from __future__ import annotations

import torch

from icefall_lite.fsa.fsa import Fsa
from icefall_lite.fsa.ragged import RaggedShape, RaggedTensor, index, splits_from_sizes


def ragged_arc_map(lists: list[list[int]], device: torch.device) -> RaggedTensor:
    """A 2-axis int32 RaggedTensor ``[out_arc][in_arc]`` from Python lists."""
    sizes = torch.tensor([len(x) for x in lists], dtype=torch.int64)
    values = torch.tensor([a for x in lists for a in x], dtype=torch.int32)
    return RaggedTensor(RaggedShape([splits_from_sizes(sizes)]), values).to(device)


def map_each_fsa(fsa: Fsa, build_one) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                               torch.Tensor, RaggedTensor, list]:
    """Run ``build_one(arcs, scores, num_states, fsa_index)`` on each non-empty FSA of ``fsa``
    (its arcs as ``[src, dst, label]`` lists with local states, float64 scores) and gather the
    ``(arcs, num_states)`` it returns, each arc ``(src, dst, label, arc map, extra)`` with
    local states and arc indexes. Returns the output's per-FSA state counts, global
    ``src``/``dst`` (int64), ``labels`` (int32), the ragged arc map with global arc indexes
    and the ``extra`` of each arc; an empty FSA stays empty."""
    values = fsa.arcs.values()[:, :3].tolist()
    scores = fsa.scores.detach().to(torch.float64).tolist()
    shape = fsa.as_vec_shape()
    arc_splits = shape.row_splits_long(2)[shape.row_splits_long(1)].tolist()
    src, dst, labels, maps, extras, out_states = [], [], [], [], [], []
    state_off = 0
    for i, n in enumerate(fsa.arc_info()["num_states"].tolist()):
        a0, a1 = arc_splits[i], arc_splits[i + 1]
        arcs_i, n_out = ([], 0) if n == 0 else build_one(values[a0:a1], scores[a0:a1], n, i)
        for s, d, lab, arc_map, extra in arcs_i:
            src.append(state_off + s)
            dst.append(state_off + d)
            labels.append(lab)
            maps.append([a0 + a for a in arc_map])
            extras.append(extra)
        out_states.append(n_out)
        state_off += n_out
    device = fsa.device
    return (torch.tensor(out_states, dtype=torch.int64, device=device),
            torch.tensor(src, dtype=torch.int64, device=device),
            torch.tensor(dst, dtype=torch.int64, device=device),
            torch.tensor(labels, dtype=torch.int32, device=device),
            ragged_arc_map(maps, device), extras)


def sum_scores(scores: torch.Tensor, arc_map: RaggedTensor) -> torch.Tensor:
    """Per output arc, the sum of its input arcs' ``scores`` (differentiable)."""
    return index(scores, arc_map).sum()


def propagate_ragged(src: Fsa, dest: Fsa, arc_map: RaggedTensor,
                     remove_filler: bool = True) -> Fsa:
    """Give ``dest`` the attributes of ``src`` through a ragged ``arc_map``, as k2's
    ``fsa_from_unary_function_ragged`` does:

    - an int32 tensor attribute becomes ragged: the values of the mapped arcs, in order,
      without its filler (``src.get_filler(name)``, 0 by default) when ``remove_filler``; a -1
      on a final arc counts as a filler there;
    - a float tensor attribute is summed over the mapped arcs (differentiable);
    - a ragged attribute is the concatenation of the mapped arcs' lists;
    - other attributes are copied. ``dest.scores`` is left as it is.
    """
    for name, value in src.named_tensor_attr(include_scores=False):
        if isinstance(value, RaggedTensor):
            setattr(dest, name, value.index(arc_map).remove_axis(1))
        elif value.dtype == torch.int32:
            filler = src.get_filler(name)
            if remove_filler and filler != -1:
                value = torch.where((src.labels == -1) & (value == -1),
                                    torch.full_like(value, filler), value)
            rag = index(value, arc_map, default_value=filler)
            setattr(dest, name, rag.remove_values_eq(filler) if remove_filler else rag)
        else:
            setattr(dest, name, sum_scores(value, arc_map))
    for name, value in src.named_non_tensor_attr():
        setattr(dest, name, value)
    return dest


__all__ = ["map_each_fsa", "propagate_ragged", "ragged_arc_map", "sum_scores"]
