"""Structural FSA operations with k2's semantics and output order: ``arc_sort``, ``top_sort``,
``connect``, ``invert`` (ragged aux_labels expanded into epsilon chains), ``index_fsa``,
``index_select``, ``add_epsilon_self_loops``, ``linear_fsa``, ``linear_fsa_with_self_loops``,
``trivial_graph``.

Each op computes an ``arc_map`` (output arc -> input arc, -1 for new arcs) and hands it to
:func:`propagate_unary`, which carries attributes over and keeps ``scores`` differentiable.

Example::

    >>> fsa = Fsa.from_str("0 1 2 0.1\\n0 1 1 0.2\\n1 2 -1 0\\n2")
    >>> arc_sort(fsa).labels
    tensor([ 1,  2, -1], dtype=torch.int32)
"""

from __future__ import annotations

import torch

from icefall_lite.fsa import properties as props
from icefall_lite.fsa.fsa import Fsa, index_select_default, make_fsa, propagate_unary
from icefall_lite.fsa.paths import state_levels
from icefall_lite.fsa.ragged import (
    RaggedShape,
    RaggedTensor,
    expand_ranges,
    splits_from_row_ids,
    splits_from_sizes,
)


def _rebuild(fsa: Fsa, num_states: torch.Tensor, src: torch.Tensor, dst: torch.Tensor,
             labels: torch.Tensor, arc_map: torch.Tensor) -> Fsa:
    """Output FSA(s) with global ``src``/``dst`` (sorted by src), labels, and scores/attributes
    taken from ``fsa`` through ``arc_map``."""
    scores = index_select_default(fsa.scores.detach(), arc_map, 0.0)
    out = make_fsa(num_states, src, dst, labels.to(torch.int32), scores,
                   single=fsa.arcs.num_axes() == 2)
    return propagate_unary(fsa, out, arc_map)


def index_select(src: torch.Tensor, index: torch.Tensor, default_value=0) -> torch.Tensor:
    """``src[index]`` with ``default_value`` where ``index == -1`` (differentiable; 1-D or 2-D
    ``src``)."""
    return index_select_default(src, index, default_value)


# --------------------------------------------------------------------------------------------
def arc_sort(fsa: Fsa, ret_arc_map: bool = False) -> Fsa | tuple[Fsa, torch.Tensor]:
    """Sort the arcs of every state by label (unsigned, so -1 is last), then dest state."""
    if fsa.properties & props.ARC_SORTED:
        if ret_arc_map:
            return fsa, torch.arange(fsa.num_arcs, dtype=torch.int32, device=fsa.device)
        return fsa
    info = fsa.arc_info()
    values = fsa.arcs.values()
    n_states = int(info["state_fsa"].numel())
    key = (props.unsigned_label(values[:, 2]) * (n_states + 1) + info["dst"])
    order = torch.sort(key, stable=True)[1]
    order = order[torch.sort(info["src"][order], stable=True)[1]]
    out = _rebuild(fsa, info["num_states"], info["src"][order], info["dst"][order],
                   values[order, 2], order)
    return (out, order.to(torch.int32)) if ret_arc_map else out


def _renumber(fsa: Fsa, new_of_old: torch.Tensor, keep_arc: torch.Tensor,
              num_states: torch.Tensor) -> tuple[Fsa, torch.Tensor]:
    """Keep arcs ``keep_arc`` with states renumbered by ``new_of_old`` (global ids), arcs
    ordered by new source state, keeping their relative order."""
    info = fsa.arc_info()
    arcs = keep_arc.nonzero().squeeze(1)
    new_src = new_of_old[info["src"][arcs]]
    if new_src.numel() > 1 and not bool((new_src[1:] >= new_src[:-1]).all()):
        order = torch.sort(new_src, stable=True)[1]
        arcs, new_src = arcs[order], new_src[order]
    out = _rebuild(fsa, num_states, new_src, new_of_old[info["dst"][arcs]],
                   fsa.arcs.values()[arcs, 2], arcs)
    return out, arcs


def top_sort(fsa: Fsa) -> Fsa:
    """Renumber states in topological order (k2's: by level = longest distance from the
    start in arcs, ties by old number; the final state last). Needs acyclic input."""
    info = fsa.arc_info()
    level = state_levels(fsa)["level"].clone()
    nonempty = info["num_states"] > 0
    finals = info["final"][nonempty]
    level[finals] = state_levels(fsa)["num_levels"]
    n = level.numel()
    state_fsa = info["state_fsa"]
    key = state_fsa * (state_levels(fsa)["num_levels"] + 1) + level
    if n < 2 or bool((key[1:] >= key[:-1]).all()):
        return _rebuild(fsa, info["num_states"], info["src"], info["dst"],
                        fsa.arcs.values()[:, 2], torch.arange(fsa.num_arcs, device=fsa.device))
    order = torch.sort(key, stable=True)[1]  # ties keep the old state order
    new_of_old = torch.empty_like(order)
    new_of_old[order] = torch.arange(n, device=order.device)
    # the arcs leave the states in their new order, each state's arcs in their old order
    splits = fsa.as_vec_shape().row_splits_long(2)
    arcs, _ = expand_ranges(splits[order], splits[order + 1] - splits[order])
    out = _rebuild(fsa, info["num_states"], new_of_old[info["src"][arcs]],
                   new_of_old[info["dst"][arcs]], fsa.arcs.values()[arcs, 2], arcs)
    return out


def _reach(num_states: int, start_states: torch.Tensor, splits: torch.Tensor,
           order: torch.Tensor, nxt: torch.Tensor) -> torch.Tensor:
    """States reachable from ``start_states`` following arcs grouped per state by ``splits``
    over ``order`` (``nxt[arc]`` is the state an arc leads to)."""
    seen = torch.zeros(num_states, dtype=torch.bool, device=splits.device)
    # slot[s]: a position of s in the candidate list; duplicates are dropped by keeping the
    # candidates whose position the scatter kept (linear time, where unique would sort)
    slot = torch.empty(num_states, dtype=torch.int64, device=splits.device)
    frontier = start_states
    seen[frontier] = True
    while frontier.numel() > 0:
        arcs, _ = expand_ranges(splits[frontier], splits[frontier + 1] - splits[frontier])
        cand = nxt[order[arcs]]
        cand = cand[~seen[cand]]
        positions = torch.arange(cand.numel(), device=cand.device)
        slot[cand] = positions
        frontier = cand[slot[cand] == positions]
        seen[frontier] = True
    return seen


def connected_states(fsa: Fsa) -> torch.Tensor:
    """Mask of states that are both accessible and co-accessible."""
    info = fsa.arc_info()
    n = int(info["state_fsa"].numel())
    nonempty = info["num_states"] > 0
    src, dst = info["src"], info["dst"]
    out_splits = fsa.as_vec_shape().row_splits_long(2)
    ident = torch.arange(src.numel(), device=src.device)
    acc = _reach(n, info["start"][nonempty], out_splits, ident, dst)
    in_order = torch.sort(dst, stable=True)[1]
    in_splits = splits_from_row_ids(dst[in_order], n)
    coacc = _reach(n, info["final"][nonempty], in_splits, in_order, src)
    return acc & coacc


def connect(fsa: Fsa) -> Fsa:
    """Remove states that are not accessible or not co-accessible (state order kept); an FSA
    with no successful path becomes empty."""
    info = fsa.arc_info()
    keep_state = connected_states(fsa)
    state_fsa = info["state_fsa"]
    num_fsas = info["num_states"].numel()
    kept_per_fsa = torch.zeros(num_fsas, dtype=torch.int64, device=fsa.device)
    kept_per_fsa.index_add_(0, state_fsa, keep_state.to(torch.int64))
    # a final state that is not kept means no path: drop the whole FSA
    nonempty = info["num_states"] > 0
    final_kept = torch.zeros(num_fsas, dtype=torch.bool, device=fsa.device)
    final_kept[nonempty] = keep_state[info["final"][nonempty]]
    keep_state = keep_state & final_kept[state_fsa]
    kept_per_fsa = torch.where(final_kept, kept_per_fsa, torch.zeros_like(kept_per_fsa))
    new_of_old = torch.cumsum(keep_state.to(torch.int64), 0) - 1
    keep_arc = keep_state[info["src"]] & keep_state[info["dst"]]
    out, _ = _renumber(fsa, new_of_old, keep_arc, kept_per_fsa)
    return out


# --------------------------------------------------------------------------------------------
def add_epsilon_self_loops(fsa: Fsa, ret_arc_map: bool = False
                           ) -> Fsa | tuple[Fsa, torch.Tensor]:
    """Add an epsilon self-loop (score 0) before the arcs of every non-final state."""
    info = fsa.arc_info()
    n = int(info["state_fsa"].numel())
    device = fsa.device
    is_final = torch.zeros(n, dtype=torch.bool, device=device)
    nonempty = info["num_states"] > 0
    is_final[info["final"][nonempty]] = True
    has_loop = (~is_final).to(torch.int64)
    loops_before = torch.cumsum(has_loop, 0) - has_loop  # loops of the states before s
    # each state's loop goes first, then its arcs in their order (the arcs are by state)
    src_arc = info["src"]
    out_arc = torch.arange(fsa.num_arcs, device=device) + loops_before[src_arc] + \
        has_loop[src_arc]
    loop_states = has_loop.nonzero().squeeze(1)
    out_loop = fsa.as_vec_shape().row_splits_long(2)[loop_states] + loops_before[loop_states]
    total = fsa.num_arcs + loop_states.numel()
    src = torch.empty(total, dtype=torch.int64, device=device)
    src[out_loop], src[out_arc] = loop_states, src_arc
    dst = torch.empty_like(src)
    dst[out_loop], dst[out_arc] = loop_states, info["dst"]
    labels = torch.zeros_like(src)
    labels[out_arc] = fsa.arcs.values()[:, 2].long()
    arc_map = torch.full_like(src, -1)
    arc_map[out_arc] = torch.arange(fsa.num_arcs, device=device)
    out = _rebuild(fsa, info["num_states"], src, dst, labels, arc_map)
    return (out, arc_map.to(torch.int32)) if ret_arc_map else out


def _to_ragged_labels(labels, device) -> RaggedTensor:
    if isinstance(labels, RaggedTensor):
        return labels
    return RaggedTensor([list(x) for x in labels], dtype=torch.int32,
                        device=device if device is not None else "cpu")


def _linear_fsas(rag: RaggedTensor, self_loops: bool, single: bool) -> Fsa:
    """Linear FSAs of the rows of a 2-axis ragged tensor of labels, built in place: FSA ``f``
    with ``L`` labels has states ``0 .. L + 1``, state ``i < L`` an arc with label ``i`` to
    ``i + 1``, state ``L`` the final arc (-1) to ``L + 1``; with ``self_loops`` every state but
    the final one has an epsilon self-loop before its arc (``add_epsilon_self_loops``'s order).
    Scores 0."""
    lens = rag.shape.row_splits_long(1).diff()
    device = lens.device
    per_state = 2 if self_loops else 1
    num_arcs = (lens + 1) * per_state
    j, owner = expand_ranges(torch.zeros_like(num_arcs), num_arcs)  # arc within its FSA
    state = j // per_state
    is_arc = j % 2 == 1 if self_loops else torch.ones_like(j, dtype=torch.bool)
    values = rag.values.to(torch.int64)
    pos = rag.shape.row_splits_long(1)[:-1][owner] + state
    labels = torch.full_like(j, -1)
    has_label = state < lens[owner]
    if values.numel():
        labels = torch.where(has_label, values[pos.clamp(max=values.numel() - 1)], labels)
    labels = torch.where(is_arc, labels, torch.zeros_like(labels))
    dst = state + is_arc.to(torch.int64)
    splits1 = splits_from_sizes(lens + 2)
    arcs_per_state = torch.full((int(splits1[-1]),), per_state, dtype=torch.int64, device=device)
    arcs_per_state[splits1[1:] - 1] = 0  # the final states
    splits2 = splits_from_sizes(arcs_per_state)
    shape = RaggedShape([splits2]) if single else RaggedShape([splits1, splits2])
    scores = torch.zeros(j.numel(), dtype=torch.float32, device=device)
    return Fsa._from_parts(shape, state.to(torch.int32), dst.to(torch.int32),
                           labels.to(torch.int32), scores)


def linear_fsa(labels: list[int] | list[list[int]] | RaggedTensor,
               device: str | torch.device | None = None) -> Fsa:
    """A linear FSA accepting ``labels`` (scores 0); a list of lists or a 2-axis RaggedTensor
    gives an FsaVec."""
    single = not isinstance(labels, RaggedTensor) and (
        len(labels) == 0 or not isinstance(labels[0], (list, tuple)))
    if single:
        labels = [list(labels)]
    rag = _to_ragged_labels(labels, device)
    if rag.num_axes != 2:
        raise ValueError("linear_fsa: labels must have 2 axes")
    return _linear_fsas(rag, self_loops=False, single=single)


def linear_fsa_with_self_loops(fsas: Fsa) -> Fsa:
    """From linear FSA(s): drop epsilon arcs, then add epsilon self-loops (new FSA without
    the input's attributes)."""
    info = fsas.arc_info()
    labels = fsas.arcs.values()[:, 2]
    splits = splits_from_row_ids(info["fsa"], info["num_states"].numel())
    rag = RaggedTensor(RaggedShape([splits]), labels).remove_values_leq(0)
    return _linear_fsas(rag, self_loops=True, single=fsas.arcs.num_axes() == 2)


def trivial_graph(max_token: int, device: str | torch.device | None = None) -> Fsa:
    """One state with self-loops for labels 1..max_token (aux_labels = labels) and a -1 arc
    to the final state."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    labels = torch.cat([torch.arange(1, max_token + 1, device=dev),
                        torch.tensor([-1], device=dev)]).to(torch.int32)
    n = labels.numel()
    src = torch.zeros(n, dtype=torch.int64, device=dev)
    dst = torch.zeros_like(src)
    dst[-1] = 1
    fsa = make_fsa(torch.tensor([2], device=dev), src, dst, labels,
                   torch.zeros(n, dtype=torch.float32, device=dev), single=True)
    fsa.aux_labels = labels.clone()
    return fsa


# --------------------------------------------------------------------------------------------
def index_fsa(src: Fsa, indexes: torch.Tensor) -> Fsa:
    """The FSAs ``indexes`` (1-D int) of an FsaVec, as an FsaVec (attributes follow)."""
    if src.arcs.num_axes() != 3:
        raise ValueError("index_fsa needs an FsaVec")
    shape = src.arcs.shape()
    new_shape, arc_map = shape.index(0, indexes.to(src.device), need_value_indexes=True)
    arc_map = arc_map.long()
    values = src.arcs.values()[arc_map].clone()
    scores = src.scores[arc_map]
    out = Fsa.from_fsa_vec_parts(new_shape.row_splits_long(1), new_shape.row_splits_long(2),
                                 values[:, :3], scores)
    for name, value in src.named_tensor_attr(include_scores=False):
        setattr(out, name, value[arc_map] if isinstance(value, torch.Tensor)
                else value.index(arc_map)[0])
    for name, value in src.named_non_tensor_attr():
        setattr(out, name, value)
    return out


def expand_ragged_attributes(fsas: Fsa, ret_arc_map: bool = False,
                             ragged_attribute_names: list[str] | None = None
                             ) -> Fsa | tuple[Fsa, torch.Tensor]:
    """Turn a ragged attribute into a tensor attribute by splitting each arc into a chain with
    one arc per ragged value (an empty list counts as one 0; on a final arc the list is made
    to end with -1). The first arc of a chain keeps the arc (label, score, other attributes);
    the rest are epsilon arcs, except that a final arc's label -1 moves to the chain's last
    arc. Returns the FSA (and the arc map, -1 for new arcs). One ragged attribute at most."""
    names = ragged_attribute_names
    if names is None:
        names = [k for k, v in fsas.named_tensor_attr() if isinstance(v, RaggedTensor)]
    if not names:
        ident = torch.arange(fsas.num_arcs, dtype=torch.int32, device=fsas.device)
        return (fsas, ident) if ret_arc_map else fsas
    if len(names) > 1:
        raise NotImplementedError("expand_ragged_attributes: the built-in backend expands one "
                                  f"ragged attribute at a time, got {names}")
    out, arc_map = _expand_one(fsas, names[0])
    return (out, arc_map) if ret_arc_map else out


def _expand_one(fsa: Fsa, name: str) -> tuple[Fsa, torch.Tensor]:
    rag = fsa._tensor_attr[name]
    info = fsa.arc_info()
    device = fsa.device
    n_arcs = fsa.num_arcs
    old_labels = fsa.arcs.values()[:, 2].long()
    final_arc = old_labels == -1
    rvals = rag.values.long()
    lens = rag.shape.row_splits_long(1).diff()
    starts = rag.shape.row_splits_long(1)[:-1]
    last_val = rvals[(starts + lens - 1).clamp(min=0)] if rvals.numel() else lens
    need_tail = final_arc & ((lens == 0) | (last_val != -1))
    chain = (lens + need_tail.long()).clamp(min=1)
    extra = chain - 1
    # new state ids: each old state followed by the intermediate states of its arcs
    n = int(info["state_fsa"].numel())
    extra_per_state = torch.zeros(n, dtype=torch.int64, device=device).index_add_(
        0, info["src"], extra)
    state_new = torch.arange(n, device=device) + splits_from_sizes(extra_per_state)[:-1]
    arc_extra_start = splits_from_sizes(extra)[:-1]  # global count of intermediates before
    state_first_arc = fsa.as_vec_shape().row_splits_long(2)[:-1][info["src"]]
    inter_base = state_new[info["src"]] + 1 + arc_extra_start - \
        splits_from_sizes(extra)[:-1][state_first_arc]
    k, owner = expand_ranges(torch.zeros_like(chain), chain)
    is_first = k == 0
    is_last = k == chain[owner] - 1
    new_src = torch.where(is_first, state_new[info["src"][owner]], inter_base[owner] + k - 1)
    new_dst = torch.where(is_last, state_new[info["dst"][owner]], inter_base[owner] + k)
    label_here = torch.where(final_arc[owner], is_last, is_first)
    labels = torch.where(label_here, old_labels[owner], torch.zeros_like(k))
    pos = starts[owner] + k
    has_val = k < lens[owner]
    tail = need_tail[owner] & (k == lens[owner])
    new_attr = torch.where(has_val, rvals[pos.clamp(max=max(rvals.numel() - 1, 0))]
                           if rvals.numel() else torch.zeros_like(k), torch.zeros_like(k))
    new_attr = torch.where(tail, torch.full_like(new_attr, -1), new_attr)
    arc_map = torch.where(is_first, owner, torch.full_like(owner, -1))
    order = torch.sort(new_src, stable=True)[1]
    num_states = info["num_states"].clone().index_add_(0, info["fsa"], extra) \
        if n_arcs else info["num_states"]
    stripped = Fsa(fsa.arcs)
    stripped._tensor_attr.update({k_: v for k_, v in fsa._tensor_attr.items()
                                  if k_ not in (name, "labels")})
    stripped._non_tensor_attr.update(fsa._non_tensor_attr)
    out = _rebuild(stripped, num_states, new_src[order], new_dst[order], labels[order],
                   arc_map[order])
    setattr(out, name, new_attr[order].to(torch.int32))
    return out, arc_map[order].to(torch.int32)


def invert(fsa: Fsa, ret_arc_map: bool = False) -> Fsa | tuple[Fsa, torch.Tensor]:
    """Swap labels and aux_labels (a ragged aux_labels is expanded first, see
    :func:`expand_ragged_attributes`)."""
    aux = fsa._tensor_attr.get("aux_labels")
    if isinstance(aux, RaggedTensor):
        out, arc_map = _expand_one(fsa, "aux_labels")
        out = out.invert_()
    else:
        out = fsa.invert()
        arc_map = torch.arange(fsa.num_arcs, dtype=torch.int32, device=fsa.device)
    return (out, arc_map) if ret_arc_map else out


def remove_epsilon_self_loops(fsa: Fsa) -> Fsa:
    """Drop arcs with label 0 whose source equals their destination (order kept)."""
    info = fsa.arc_info()
    keep = ~((fsa.arcs.values()[:, 2] == 0) & (info["src"] == info["dst"]))
    n = info["state_fsa"].numel()
    out, _ = _renumber(fsa, torch.arange(n, device=fsa.device), keep, info["num_states"])
    return out
