"""k2's structural FSA algorithms that map each output arc to at most one input arc:
``union``, ``cat``, ``closure``, ``reverse``, ``prune_on_arc_post``, and ``index_add``.

Semantics, output state numbering and arc order follow k2 1.23.4; each op builds an
``arc_map`` (output arc -> input arc, -1 for a new arc) and hands it to
:func:`propagate_unary`, so attributes follow the arcs and ``scores`` stay differentiable.
All work is batched tensor ops over the FSAs of a vec (no per-FSA Python loop).

Example::

    >>> from icefall_lite.fsa import Fsa, create_fsa_vec
    >>> a = Fsa.from_str("0 1 1 0.5\\n1 2 -1 0\\n2")
    >>> b = Fsa.from_str("0 1 2 0.3\\n1 2 -1 0\\n2")
    >>> union(create_fsa_vec([a, b])).labels
    tensor([ 0,  0,  1, -1,  2, -1], dtype=torch.int32)
"""

from __future__ import annotations

import math

import torch

from icefall_lite.fsa.fsa import Fsa, index_select_default, make_fsa, propagate_unary
from icefall_lite.fsa.paths import get_arc_post
from icefall_lite.fsa.ragged import RaggedTensor
from icefall_lite.fsa.ragged import cat as ragged_cat


def _build(src_fsa: Fsa, num_states: torch.Tensor, src: torch.Tensor, dst: torch.Tensor,
           labels: torch.Tensor, arc_map: torch.Tensor, single: bool) -> Fsa:
    """Output FSA(s) from global ``src``/``dst`` (sorted by src) and labels; scores and
    attributes come from ``src_fsa`` through ``arc_map`` (-1: score 0, the filler)."""
    scores = index_select_default(src_fsa.scores.detach(), arc_map, 0.0)
    out = make_fsa(num_states, src, dst, labels.to(torch.int32), scores, single=single)
    return propagate_unary(src_fsa, out, arc_map)


def union(fsas: Fsa) -> Fsa:
    """The union of the FSAs of an FsaVec, as one FSA: a new start state 0 with an epsilon arc
    (score 0) to each FSA's start state, then every FSA's states (its final state left out) in
    order, and one shared final state. Needs every FSA to be non-empty (as k2 does)."""
    if fsas.arcs.num_axes() != 3:
        raise ValueError("union needs an FsaVec (3 axes)")
    info = fsas.arc_info()
    n = info["num_states"]
    if bool((n == 0).any()):
        raise ValueError(f"union: FSA {int((n == 0).nonzero()[0])} of the FsaVec is empty; "
                         "every FSA must have at least 2 states")
    device = fsas.device
    num_fsas = n.numel()
    # non-final states of FSA i go to 1 + (states of FSAs before i, finals excluded) + s
    base = 1 + torch.cumsum(n - 1, 0) - (n - 1) - info["start"]
    total = 1 + int((n - 1).sum()) + 1
    state_fsa = info["state_fsa"]
    new_of_old = torch.arange(state_fsa.numel(), device=device) + base[state_fsa]
    new_of_old[info["final"]] = total - 1
    src = torch.cat([torch.zeros(num_fsas, dtype=torch.int64, device=device),
                     new_of_old[info["src"]]])
    dst = torch.cat([new_of_old[info["start"]], new_of_old[info["dst"]]])
    labels = torch.cat([torch.zeros(num_fsas, dtype=torch.int64, device=device),
                        fsas.arcs.values()[:, 2].long()])
    arc_map = torch.cat([torch.full((num_fsas,), -1, dtype=torch.int64, device=device),
                         torch.arange(fsas.num_arcs, device=device)])
    return _build(fsas, torch.tensor([total], device=device), src, dst, labels, arc_map,
                  single=True)


def cat(srcs: list[Fsa]) -> Fsa:
    """Concatenate FsaVecs into one FsaVec. Only the tensor attributes every input has are
    kept; a non-tensor attribute comes from the first input that has it."""
    if not srcs:
        raise ValueError("cat: empty list")
    for i, src in enumerate(srcs):
        if src.arcs.num_axes() != 3:
            raise ValueError(f"cat: srcs[{i}] is not an FsaVec (shape {src.shape})")
    shapes = [s.arcs.shape() for s in srcs]
    splits1 = [shapes[0].row_splits_long(1)[:1]]
    splits2 = [shapes[0].row_splits_long(2)[:1]]
    state_off = arc_off = 0
    for s in shapes:
        splits1.append(s.row_splits_long(1)[1:] + state_off)
        splits2.append(s.row_splits_long(2)[1:] + arc_off)
        state_off += s.tot_size(1)
        arc_off += s.tot_size(2)
    values = torch.cat([s.arcs.values() for s in srcs])
    scores = torch.cat([s.scores for s in srcs])
    out = Fsa.from_fsa_vec_parts(torch.cat(splits1), torch.cat(splits2), values[:, :3], scores)
    common = set.intersection(*(set(dict(s.named_tensor_attr(include_scores=False)))
                                for s in srcs))
    for name in sorted(common):
        vals = [getattr(s, name) for s in srcs]
        setattr(out, name, torch.cat(vals) if isinstance(vals[0], torch.Tensor)
                else ragged_cat(vals, axis=0))
    for s in srcs:
        for name, value in s.named_non_tensor_attr():
            if name not in out._non_tensor_attr:
                setattr(out, name, value)
    return out


def closure(fsa: Fsa) -> Fsa:
    """The Kleene closure of a single FSA: arcs entering the final state go back to the start
    state as epsilon arcs (their aux_labels become 0), and a new arc (label -1, score 0,
    aux_label -1) from the start to the final state follows the start state's arcs."""
    if fsa.arcs.num_axes() != 2:
        raise ValueError("closure needs a single FSA (2 axes)")
    num_states = fsa.shape[0]
    if num_states == 0:
        return fsa.clone()
    device = fsa.device
    values = fsa.arcs.values()
    n_start = int(fsa.arcs.shape().row_splits_long(1)[1])
    old = torch.arange(fsa.num_arcs, device=device)
    is_final_arc = values[:, 2] == -1
    src = values[:, 0].long()
    dst = torch.where(is_final_arc, torch.zeros_like(src), values[:, 1].long())
    labels = torch.where(is_final_arc, torch.zeros_like(src), values[:, 2].long())
    one = torch.ones(1, dtype=torch.int64, device=device)

    def insert(t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.cat([t[:n_start], v, t[n_start:]])

    arc_map = insert(old, -one)
    out = _build(fsa, torch.tensor([num_states], device=device), insert(src, 0 * one),
                 insert(dst, one * (num_states - 1)), insert(labels, -one), arc_map, single=True)
    aux = fsa._tensor_attr.get("aux_labels")
    new_final = insert(is_final_arc, torch.zeros(1, dtype=torch.bool, device=device))
    if isinstance(aux, torch.Tensor):
        fixed = torch.where(new_final, torch.zeros_like(out.aux_labels), out.aux_labels)
        fixed[n_start] = -1
        out.aux_labels = fixed
    elif isinstance(aux, RaggedTensor):
        # a final arc's ragged aux_labels may end with -1; the new final arc has none
        out.aux_labels = out.aux_labels.remove_values_eq(-1)
    return out


def _reverse_parts(fsa: Fsa) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                      torch.Tensor, torch.Tensor]:
    """The reversed FSAs as (num_states, src, dst, labels, arc_map, new_of_old) with global
    state ids, arcs sorted by source. Per FSA of n states: the old final state is the new
    start state 0, the old start state is state n - 1, states 1..n-2 keep their numbers, and
    a new final state n is entered by a new arc (label -1, score 0) from state n - 1."""
    info = fsa.arc_info()
    device = fsa.device
    n = info["num_states"]
    nonempty = n > 0
    new_n = torch.where(nonempty, n + 1, n)
    new_start = torch.cumsum(new_n, 0) - new_n
    state_fsa = info["state_fsa"]
    local = torch.arange(state_fsa.numel(), device=device) - info["start"][state_fsa]
    n_s = n[state_fsa]
    new_local = torch.where(local == n_s - 1, torch.zeros_like(local),
                            torch.where(local == 0, n_s - 1, local))
    new_of_old = new_start[state_fsa] + new_local
    labels = fsa.arcs.values()[:, 2].long()
    fsas_ne = nonempty.nonzero().squeeze(1)
    last = new_start[fsas_ne] + n[fsas_ne]
    src = torch.cat([new_of_old[info["dst"]], last - 1])
    dst = torch.cat([new_of_old[info["src"]], last])
    labels = torch.cat([torch.where(labels == -1, torch.zeros_like(labels), labels),
                        torch.full_like(last, -1)])
    arc_map = torch.cat([torch.arange(fsa.num_arcs, device=device), torch.full_like(last, -1)])
    # by new source state, then old arc index (the new arcs last)
    order_key = torch.cat([torch.arange(fsa.num_arcs, device=device),
                           fsa.num_arcs + torch.arange(last.numel(), device=device)])
    order = torch.sort(src * (order_key.numel() + 1) + order_key)[1]
    return new_n, src[order], dst[order], labels[order], arc_map[order], new_of_old


def reverse(fsa: Fsa) -> Fsa:
    """Reverse an Fsa or FsaVec: a path's labels in reverse order, same score (see
    :func:`_reverse_parts` for the numbering). The old final arcs become epsilon arcs
    leaving the new start state; empty FSAs stay empty."""
    num_states, src, dst, labels, arc_map, _ = _reverse_parts(fsa)
    return _build(fsa, num_states, src, dst, labels, arc_map,
                  single=fsa.arcs.num_axes() == 2)


def reversed_scores_fsa(fsa: Fsa, scores: torch.Tensor) -> tuple[Fsa, torch.Tensor]:
    """The reversed structure of ``fsa`` carrying ``scores`` (any float dtype, autograd kept)
    as its arc scores, and each old state's id in it: forward scores of the result are the
    backward scores of ``fsa``."""
    num_states, src, dst, labels, arc_map, new_of_old = _reverse_parts(fsa)
    rev_scores = index_select_default(scores, arc_map, 0.0)
    out = make_fsa(num_states, src, dst, labels.to(torch.int32), rev_scores,
                   single=fsa.arcs.num_axes() == 2)
    return out, new_of_old


def prune_on_arc_post(fsas: Fsa, threshold_prob: float, use_double_scores: bool) -> Fsa:
    """Remove the arcs whose posterior (log semiring) is below ``threshold_prob``
    (``0 < threshold_prob < 1``); states are kept, so the result may need ``connect``."""
    if fsas.arcs.num_axes() != 3:
        raise ValueError("prune_on_arc_post needs an FsaVec (3 axes)")
    if not 0 < threshold_prob < 1:
        raise ValueError(f"prune_on_arc_post: threshold_prob={threshold_prob} must be in (0, 1)")
    with torch.no_grad():
        post = get_arc_post(fsas, use_double_scores, True)
    keep = (post >= math.log(threshold_prob)).nonzero().squeeze(1)
    info = fsas.arc_info()
    return _build(fsas, info["num_states"], info["src"][keep], info["dst"][keep],
                  fsas.arcs.values()[keep, 2].long(), keep, single=False)


def index_add(index: torch.Tensor, value: torch.Tensor, in_out: torch.Tensor) -> None:
    """``in_out[index[i]] += value[i]`` in place, skipping ``index[i] == -1`` (k2's
    ``index_add``; not differentiable).

    Args:
      index: int32 ``[N]``, contiguous, each in ``[-1, in_out.shape[0])``.
      value: ``[N]`` or ``[N, C]``, int32, float32 or float64.
      in_out: ``[M]`` or ``[M, C]``, the dtype of ``value``.
    """
    if index.dtype != torch.int32 or index.dim() != 1 or not index.is_contiguous():
        raise ValueError(f"index_add: index must be a contiguous 1-D int32 tensor, got "
                         f"{index.dtype} of shape {tuple(index.shape)}")
    if value.dtype not in (torch.int32, torch.float32, torch.float64) or \
            value.dtype != in_out.dtype:
        raise ValueError(f"index_add: value ({value.dtype}) and in_out ({in_out.dtype}) must "
                         "share one of int32, float32, float64")
    if value.shape[0] != index.shape[0] or value.dim() != in_out.dim() or \
            value.shape[1:] != in_out.shape[1:]:
        raise ValueError(f"index_add: value of shape {tuple(value.shape)} does not fit index "
                         f"{tuple(index.shape)} and in_out {tuple(in_out.shape)}")
    if index.numel() and (int(index.min()) < -1 or int(index.max()) >= in_out.shape[0]):
        raise ValueError(f"index_add: index values must be in [-1, {in_out.shape[0]})")
    keep = index >= 0
    in_out.index_add_(0, index[keep].long(), value[keep])


__all__ = ["cat", "closure", "index_add", "prune_on_arc_post", "reverse", "union"]
