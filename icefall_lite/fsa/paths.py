"""Path algorithms on acyclic FSAs: forward/backward/total scores (tropical and log semiring,
differentiable), arc posteriors, ``shortest_path`` and k2's deterministic ``random_paths``.

States are processed in topological *levels* (Kahn's algorithm in batches: a state's level is
the length of the longest path reaching it), so each level is one batch of tensor ops over
all FSAs of a vec; the only Python loop is over levels. Cyclic input raises ValueError.

Speed (lattices have ~one level per frame, so per-level cost is what matters): the level
structure is computed once per Fsa and cached, with the arcs already grouped by source level;
the tropical forward pass pushes scores along those groups (3 ops per level); the grouping by
destination level that the log passes pull from is built (one sort) only when needed; gathers
use ``index_select``, several times faster than advanced indexing on CPU. On CPU, where levels
hold few arcs (:data:`_NUMPY_MAX_ARCS_PER_LEVEL`), the loops over levels (forward/backward
passes, random_paths' steps, the best-path trace) run on numpy views of the tensors
(:mod:`.cpu_loops`): such a loop costs what its calls cost, ~1 us per numpy call against
~3-5 us per torch op. Profile of one 100-frame lattice (5k arcs) before that: the tropical
forward (100 levels x 3 ops) was ~40 % of ``shortest_path``; the log forward and backward
passes (100 levels x 4 ops, one a ``logsumexp``), building their padded tables, and the
sampling steps (100 x ~10 ops) ~80 % of ``random_paths``. Where both log passes are needed
(arc posteriors, random_paths' cdf), one numpy loop does both where levels are small
(:func:`_forward_backward`, half the calls), two plain loops where they are big (the merged
loop's interleaved arrays cost more than the calls they save from ~150 arcs per level).
The sampler's steps take ~12 numpy calls on arrays of the paths' length, never on numpy
scalars (~2 µs each in type resolution).

Fixed costs on CPU (what is left of a one-lattice call besides the ~100 levels): the levels
of a lattice vec come from ~10-25 numpy calls (:func:`_sorted_levels_numpy`: no sort, no
torch op), random_paths' cdf is computed as k2 does (per-state sums on a lane-major table,
:func:`.cpu_loops.lane_cdf`) and sampled from without leaving numpy, and shortest_path
builds its linear output directly (:func:`.fsa.linear_paths_fsa`). Structure (levels,
lane layout) is cached on the Fsa and survives assigning ``scores``/``labels``, so a lattice
used by both random_paths and shortest_path (n-best decoding) computes it once.

Example::

    >>> from icefall_lite.fsa import Fsa, create_fsa_vec
    >>> vec = create_fsa_vec([Fsa.from_str("0 1 1 0.5\\n0 1 2 0.2\\n1 2 -1 0\\n2")])
    >>> vec.get_tot_scores(use_double_scores=True, log_semiring=True)  # log(e^0.5 + e^0.2)
    tensor([1.0544], dtype=torch.float64)
"""

from __future__ import annotations

import numpy as np
import torch

from icefall_lite.fsa import cpu_loops
from icefall_lite.fsa.fsa import Fsa, linear_paths_fsa, make_fsa, propagate_unary
from icefall_lite.fsa.ragged import (
    RaggedShape,
    RaggedTensor,
    group_positions,
    splits_from_sizes,
)

NEG_INF = float("-inf")

# random_paths pads each state's arcs to the largest out-degree when that costs at most
# 4x the arcs plus this many entries
_PAD_SLACK = 4096
# the log/backward passes use padded per-level rows up to this many arcs per level
_PAD_MAX_ARCS_PER_LEVEL = 2048


# the per-level loops run on numpy views of CPU tensors (:mod:`.cpu_loops`) where levels
# are small; False makes them run as torch ops, as they do on other devices and for big
# levels (the tests check both against k2)
NUMPY_LOOPS = True
# numpy's per-call cost is lower, torch's per-element cost: a log-add costs numpy ~35 ns per
# arc (ufunc.at or reduce, scalar exp and log1p) against ~8 ns in torch's logsumexp, whose
# ~5 ops per level cost ~25 us more, so torch wins from a few hundred arcs per level
# (random_paths on 100-frame lattices: numpy faster at 245 arcs per level, torch at 490); a
# max costs numpy ~3 ns per arc, so the tropical loops stay in numpy up to big levels
_NUMPY_MAX_ARCS_PER_LEVEL = {False: 4096, True: 320}
# forward and backward log passes in one numpy loop (:func:`_numpy_both_passes`) beat the
# torch padded passes (with their set-up) at every lattice batch measured: 19 against 30-40
# ms at 20 lattices (1,000 arcs per level), 80 against 85-90 ms at 100 (5,000 per level),
# and ~33 ms there since big levels run as two plain loops
# (:data:`.cpu_loops.MERGED_MAX_ARCS_PER_LEVEL`)
_NUMPY_MAX_ARCS_PER_LEVEL_BOTH = 8192


def _numpy_loops(fsa: Fsa, t: torch.Tensor, log_semiring: bool = False,
                 limit: int | None = None) -> bool:
    """Whether the level loops over ``fsa`` run in numpy: CPU and at most ``limit`` (default
    :data:`_NUMPY_MAX_ARCS_PER_LEVEL` of the semiring) arcs per level on average."""
    if not (NUMPY_LOOPS and t.device.type == "cpu"):
        return False
    if limit is None:
        limit = _NUMPY_MAX_ARCS_PER_LEVEL[log_semiring]
    return fsa.num_arcs <= limit * max(state_levels(fsa)["num_levels"], 1)


# --------------------------------------------------------------------------------------------
# levels
# --------------------------------------------------------------------------------------------
def state_levels(fsa: Fsa) -> dict[str, object]:
    """Topological levels of all states (cached on ``fsa``).

    Returns ``level`` (int64 per global state), ``num_levels``, the states grouped by level
    (``state_order``, ``state_splits``) and the arcs grouped by the level of their source
    (``out_order``, ``out_splits``, with ``out_src``/``out_dst`` in that order;
    ``out_identity`` if ``out_order`` is the identity; ``sorted_states`` where levels never
    decrease along the state numbering, so that state order is path order). The grouping
    by destination level that pull-style passes need is :func:`_in_levels`. Raises
    ValueError if some FSA has a cycle.
    """
    cached = fsa._cache.get("_levels")
    if cached is not None:
        return cached
    info = fsa.arc_info()
    src, dst = info["src"], info["dst"]
    device = src.device
    num_states = int(info["state_fsa"].numel())
    graded = graded_levels(fsa)
    if graded is not None and device.type == "cpu":
        cached = _sorted_levels_numpy(fsa, graded)
        if cached is not None:
            fsa._cache["_levels"] = cached
            return cached
    if graded is not None:
        state_order, state_splits, out_order, out_splits, out_src, out_dst = _group_by_level(
            fsa, graded)
    else:
        splits2 = fsa.as_vec_shape().row_splits_long(2)
        state_order, state_splits, out_order, out_splits, out_src, out_dst = _kahn(
            src, dst, splits2, num_states)
    num_levels = len(state_splits) - 1
    if state_splits[-1] != num_states:
        done = torch.zeros(num_states, dtype=torch.bool, device=device)
        done[state_order[:state_splits[-1]]] = True
        bad = int((~done).nonzero()[0])
        fsa_idx = int(info["state_fsa"][bad])
        raise ValueError(f"FSA {fsa_idx} has a cycle (state {bad - int(info['start'][fsa_idx])} "
                         "is on or after it); this algorithm needs acyclic FSAs")
    if graded is not None:
        level = graded
    else:
        sizes_t = torch.tensor(state_splits, dtype=torch.int64, device=device).diff()
        level = torch.empty(num_states, dtype=torch.int64, device=device)
        level.index_copy_(0, state_order, torch.repeat_interleave(
            torch.arange(num_levels, device=device), sizes_t, output_size=num_states))
    cached = {
        "level": level, "num_levels": num_levels,
        "state_order": state_order, "state_splits": state_splits,
        "out_order": out_order, "out_splits": out_splits,
        "out_src": out_src, "out_dst": out_dst,
        # the arcs were already grouped by source level (lattices): out_order is arange
        "out_identity": out_src is src,
    }
    fsa._cache["_levels"] = cached
    return cached


_Kahn = tuple[torch.Tensor, list[int], torch.Tensor, list[int], torch.Tensor, torch.Tensor]


def _sorted_levels_numpy(fsa: Fsa, level: torch.Tensor) -> dict[str, object] | None:
    """:func:`state_levels`' dict, in ~10-25 numpy calls, for graded levels that never
    decrease along each FSA's state numbering (lattices: states numbered frame by frame).
    Then each (FSA, level) pair holds one range of states, and of arcs (those leaving the
    range: arcs are grouped by source state), so the grouping by level is a permutation of
    whole blocks, made by one ``repeat`` (no sort); with one FSA, or where the levels never
    decrease at all, it is the identity. None if the levels decrease within an FSA."""
    info = fsa.arc_info()
    np_ = cpu_loops.as_numpy
    lv = np_(level)
    n = lv.size
    num_levels = int(lv.max()) + 1 if n else 0
    splits2 = np_(fsa.as_vec_shape().row_splits_long(2))
    src = info["src"]
    out = {"level": level, "num_levels": num_levels, "out_src": src, "out_dst": info["dst"],
           "out_identity": True, "sorted_states": True}
    if n < 2 or (lv[1:] >= lv[:-1]).all():
        state_splits = np.searchsorted(lv, np.arange(num_levels + 1))
        out.update(state_order=torch.from_numpy(np.arange(n)),
                   state_splits=state_splits.tolist(),
                   out_order=torch.from_numpy(np.arange(src.numel())),
                   out_splits=splits2.take(state_splits).tolist())
        return out
    state_fsa = np_(info["state_fsa"])
    num_fsas = int(info["num_states"].numel())
    key = state_fsa * num_levels
    key += lv
    if not (key[1:] >= key[:-1]).all():
        return None
    # block (f, l): states block_start[f, l] .. + block_size[f, l]; taken level by level
    block_start = np.searchsorted(key, np.arange(num_fsas * num_levels + 1))
    state_lo = block_start[:-1].reshape(num_fsas, num_levels).T.reshape(-1)
    state_hi = block_start[1:].reshape(num_fsas, num_levels).T.reshape(-1)
    arc_lo, arc_hi = splits2.take(state_lo), splits2.take(state_hi)
    state_order, state_ends = _block_permutation(state_lo, state_hi)
    out_order, arc_ends = _block_permutation(arc_lo, arc_hi)
    ends = np.arange(num_fsas - 1, num_fsas * num_levels, num_fsas)
    out_order_t = torch.from_numpy(out_order)
    out.update(state_order=torch.from_numpy(state_order),
               state_splits=[0] + state_ends.take(ends).tolist(),
               out_order=out_order_t, out_splits=[0] + arc_ends.take(ends).tolist(),
               out_src=src.index_select(0, out_order_t),
               out_dst=info["dst"].index_select(0, out_order_t), out_identity=False,
               sorted_states=False)
    return out


def _block_permutation(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ranges ``lo[k]:hi[k]`` concatenated (as one index array), and the end of each in
    it (inclusive cumulative sizes)."""
    size = hi - lo
    order, _ = cpu_loops.expand_ranges(lo, size, need_owner=False)
    return order, np.cumsum(size)


def graded_levels(fsa: Fsa) -> torch.Tensor | None:
    """Levels of a *graded* FsaVec, one where every arc goes from some level l to l + 1 (a
    lattice: one level per frame), found in O(log(num_levels)) tensor ops; None if ``fsa``
    is not graded (or has a cycle). Cached.

    Each state points at the source of one of its entering arcs; pointer jumping gives its
    depth in that tree (the roots, states without entering arcs, have depth 0). If every arc
    then goes from depth d to d + 1, every path from a root to a state has the same length,
    so the depth is the state's level as Kahn's algorithm defines it (longest path from a
    root)."""
    if "_graded" in fsa._cache:
        return fsa._cache["_graded"]
    info = fsa.arc_info()
    src, dst = info["src"], info["dst"]
    n = int(info["state_fsa"].numel())
    device = src.device
    if NUMPY_LOOPS and device.type == "cpu":
        depths = cpu_loops.graded_depths(cpu_loops.as_numpy(src), cpu_loops.as_numpy(dst), n)
        level = None if depths is None else torch.from_numpy(depths)
        fsa._cache["_graded"] = level
        return level
    # node n is a sentinel: roots point at it, and it at itself, with depth 0
    anc = torch.full((n + 1,), n, dtype=torch.int64, device=device)
    anc.scatter_(0, dst, src)
    depth = (anc != n).to(torch.int64)
    level: torch.Tensor | None = None
    for _ in range(max(n, 1).bit_length() + 1):
        if bool((anc == n).all()):
            level = depth[:n]
            break
        depth = depth + depth.index_select(0, anc)
        anc = anc.index_select(0, anc)
    if level is not None and src.numel() and not bool(
            (level.index_select(0, dst) == level.index_select(0, src) + 1).all()):
        level = None
    fsa._cache["_graded"] = level
    return level


def _group_by_level(fsa: Fsa, level: torch.Tensor) -> _Kahn:
    """What :func:`_kahn` returns, from known levels: states, and arcs by source level,
    grouped by level, index order within a level. When each FSA numbers its states level by
    level (lattices), a counting sort over (FSA, level) blocks does it without a sort."""
    info = fsa.arc_info()
    src, dst, state_fsa = info["src"], info["dst"], info["state_fsa"]
    device = src.device
    num_states = level.numel()
    num_fsas = int(info["num_states"].numel())
    num_levels = int(level.max()) + 1 if num_states else 0
    arc_level = level.index_select(0, src)
    if num_states < 2 or bool((level[1:] >= level[:-1]).all()):
        state_order = torch.arange(num_states, device=device)
        out_order = torch.arange(src.numel(), device=device)
        out_src, out_dst = src, dst
        state_count = torch.bincount(level, minlength=num_levels)
        arc_count = torch.bincount(arc_level, minlength=num_levels)
    elif num_fsas * num_levels <= 4 * (num_states + src.numel()) and bool(
            ((level[1:] >= level[:-1]) | (state_fsa[1:] != state_fsa[:-1])).all()):
        state_pos, state_count = group_positions(level, info["num_states"].tolist(),
                                                 num_levels)
        arc_pos, arc_count = group_positions(
            arc_level, fsa.as_vec_shape().row_splits_long(2)[
                fsa.as_vec_shape().row_splits_long(1)].diff().tolist(), num_levels)
        state_order = torch.empty_like(state_pos).index_copy_(
            0, state_pos, torch.arange(num_states, device=device))
        out_order = torch.empty_like(arc_pos).index_copy_(
            0, arc_pos, torch.arange(src.numel(), device=device))
        out_src, out_dst = src.index_select(0, out_order), dst.index_select(0, out_order)
    else:
        # int32 keys sort faster than int64 (levels are < num_states)
        state_order = torch.sort(level.to(torch.int32), stable=True)[1]
        out_order = torch.sort(arc_level.to(torch.int32), stable=True)[1]
        out_src, out_dst = src.index_select(0, out_order), dst.index_select(0, out_order)
        state_count = torch.bincount(level, minlength=num_levels)
        arc_count = torch.bincount(arc_level, minlength=num_levels)
    state_splits = splits_from_sizes(state_count).tolist()
    out_splits = splits_from_sizes(arc_count).tolist()
    return state_order, state_splits, out_order, out_splits, out_src, out_dst


def _kahn(src: torch.Tensor, dst: torch.Tensor, splits2: torch.Tensor, num_states: int
          ) -> _Kahn:
    """Kahn's algorithm, one level per iteration of ~20 small ops (the only sync is the
    arc count). Returns the states in level order and the level boundaries
    (``state_splits``; they end short of ``num_states`` if there is a cycle), and the arcs
    in the order of their source's level (``out_order``, level boundaries ``out_splits``,
    with their ``out_src``/``out_dst``)."""
    device = src.device
    indeg = torch.bincount(dst, minlength=num_states)
    out_deg = splits2.diff()
    last_pos = torch.empty(num_states, dtype=torch.int64, device=device)
    minus_one = torch.full((1,), -1, dtype=torch.int64, device=device)
    positions = torch.arange(max(dst.numel(), 1), device=device)
    # chunks are written straight into these (cat of ~num_levels pieces costs more)
    state_order = torch.empty(num_states, dtype=torch.int64, device=device)
    out_order = torch.empty(dst.numel(), dtype=torch.int64, device=device)
    out_src = torch.empty_like(out_order)
    out_dst = torch.empty_like(out_order)
    frontier = (indeg == 0).nonzero().squeeze(1)
    state_splits = [0]
    out_splits = [0]
    while frontier.numel() > 0:
        s0 = state_splits[-1]
        state_splits.append(s0 + frontier.numel())
        state_order[s0:state_splits[-1]] = frontier
        deg = out_deg.index_select(0, frontier)
        ends = torch.cumsum(deg, 0)
        n = int(ends[-1])
        a0 = out_splits[-1]
        out_splits.append(a0 + n)
        # arcs of the frontier states: arange(start, start + deg) for each, concatenated
        arcs = torch.add(torch.repeat_interleave(splits2.index_select(0, frontier) - ends + deg,
                                                 deg, output_size=n),
                         positions[:n], out=out_order[a0:a0 + n])
        torch.index_select(src, 0, arcs, out=out_src[a0:a0 + n])
        d = torch.index_select(dst, 0, arcs, out=out_dst[a0:a0 + n])
        indeg.index_add_(0, d, minus_one.expand(n))
        # states that became ready, each once: keep the arc position that won the scatter
        pos = positions[:n]
        last_pos.scatter_(0, d, pos)
        frontier = d[(indeg.index_select(0, d) == 0) & (last_pos.index_select(0, d) == pos)]
    return state_order, state_splits, out_order, out_splits, out_src, out_dst


def _level_rank(fsa: Fsa) -> torch.Tensor:
    """Position of each state within its level (cached)."""
    rank = fsa._cache.get("_level_rank")
    if rank is None:
        lv = state_levels(fsa)
        order = lv["state_order"]
        splits = torch.tensor(lv["state_splits"], dtype=torch.int64, device=order.device)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(order.numel(), device=order.device) - \
            torch.repeat_interleave(splits[:-1], splits.diff(), output_size=order.numel())
        fsa._cache["_level_rank"] = rank
    return rank


def _in_levels(fsa: Fsa) -> dict[str, object]:
    """Arcs grouped by the level of their destination (arc index order within a level), for
    pull-style passes: ``in_order``, ``in_splits``, ``in_src``, ``in_loc`` (the rank of the
    destination within its level) and ``identity`` (``in_order`` is the identity). Cached."""
    cached = fsa._cache.get("_in_levels")
    if cached is None:
        info = fsa.arc_info()
        lv = state_levels(fsa)
        dst = info["dst"]
        in_level = lv["level"].index_select(0, dst)
        src = info["src"]
        if in_level.numel() < 2 or bool((in_level[1:] >= in_level[:-1]).all()):
            # already grouped (states numbered level by level, as in lattices): the stable
            # sort would be the identity
            in_order = torch.arange(in_level.numel(), device=dst.device)
            in_src, in_dst, identity = src, dst, True
        else:
            # int32 keys sort faster than int64 (levels are < num_states)
            in_order = torch.sort(in_level.to(torch.int32), stable=True)[1]
            in_src, in_dst = src.index_select(0, in_order), dst.index_select(0, in_order)
            identity = False
        in_splits = splits_from_sizes(torch.bincount(in_level, minlength=lv["num_levels"]))
        cached = {"in_order": in_order, "in_splits": in_splits.tolist(), "in_src": in_src,
                  "in_loc": _level_rank(fsa).index_select(0, in_dst), "identity": identity}
        fsa._cache["_in_levels"] = cached
    return cached


def _isfinite(x: torch.Tensor) -> torch.Tensor:
    """``torch.isfinite`` for float tensors in 2 passes (torch 1.13's takes 4)."""
    return x.abs() < float("inf")


def _segment_reduce(init: torch.Tensor, idx: torch.Tensor, vals: torch.Tensor,
                    log_semiring: bool) -> torch.Tensor:
    """``init`` with ``vals`` reduced into positions ``idx`` (max, or logsumexp)."""
    m = init.scatter_reduce(0, idx, vals, reduce="amax", include_self=True)
    if not log_semiring:
        return m
    finite = _isfinite(m)
    safe = torch.where(finite, m, torch.zeros_like(m))
    tot = torch.exp(init - safe).index_add(0, idx, torch.exp(vals - safe.index_select(0, idx)))
    return torch.where(finite, torch.log(tot) + safe, m)


def _tropical_forward(fsa: Fsa, scores: torch.Tensor) -> torch.Tensor:
    """Tropical forward scores pushed along the arcs level by level (3 ops per level, on
    views split once): max is exact and order-free, so this equals the pull-style pass bit
    for bit."""
    if _numpy_loops(fsa, scores):
        return _numpy_pass(fsa, scores, False, False)
    info = fsa.arc_info()
    lv = state_levels(fsa)
    num_states = int(info["state_fsa"].numel())
    out = torch.full((num_states,), NEG_INF, dtype=scores.dtype, device=scores.device)
    nonempty = info["num_states"] > 0
    out[info["start"][nonempty]] = 0.0
    src_parts, dst_parts = _out_parts(fsa)
    sizes = [t.numel() for t in src_parts]
    grouped = scores if lv["out_identity"] else scores.index_select(0, lv["out_order"])
    sc_parts = grouped.split(sizes)
    for src, dst, sc in zip(src_parts, dst_parts, sc_parts):
        out.scatter_reduce_(0, dst, out.index_select(0, src) + sc, reduce="amax")
    return out


def _numpy_pass(fsa: Fsa, scores: torch.Tensor, log_semiring: bool, backward: bool
                ) -> torch.Tensor:
    """Forward or backward scores by :func:`.cpu_loops.level_push` (CPU)."""
    info = fsa.arc_info()
    lv = state_levels(fsa)
    np_ = cpu_loops.as_numpy
    out = np.full(int(info["state_fsa"].numel()), NEG_INF, dtype=np_(scores).dtype)
    out[np_(info["final" if backward else "start"])[np_(info["num_states"]) > 0]] = 0.0
    grouped = scores if lv["out_identity"] else scores.index_select(0, lv["out_order"])
    cpu_loops.level_push(out, np_(lv["out_src"]), np_(lv["out_dst"]), np_(grouped),
                         lv["out_splits"], log_semiring, backward)
    return torch.from_numpy(out)


def _numpy_both_passes(fsa: Fsa, scores: torch.Tensor, log_semiring: bool
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward and backward scores by :func:`.cpu_loops.forward_backward_push` (CPU): one
    loop over the levels for both where levels are small (views of one ``[2 * num_states]``
    tensor)."""
    info = fsa.arc_info()
    lv = state_levels(fsa)
    n = int(info["state_fsa"].numel())
    np_ = cpu_loops.as_numpy
    out = np.full(2 * n, NEG_INF, dtype=np_(scores).dtype)
    nonempty = np_(info["num_states"]) > 0
    out[np_(info["start"])[nonempty]] = 0.0
    out[np_(info["final"])[nonempty] + n] = 0.0
    grouped = scores if lv["out_identity"] else scores.index_select(0, lv["out_order"])
    cpu_loops.forward_backward_push(out, np_(lv["out_src"]), np_(lv["out_dst"]),
                                    np_(grouped), lv["out_splits"], log_semiring)
    out_t = torch.from_numpy(out)
    return out_t[:n], out_t[n:]


def _out_parts(fsa: Fsa) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """``out_src`` / ``out_dst`` split into one view per non-empty source level (cached):
    one split call instead of two slicing ops per level and pass."""
    parts = fsa._cache.get("_out_parts")
    if parts is None:
        lv = state_levels(fsa)
        splits = lv["out_splits"]
        # empty levels (rare) hold no arcs: leaving them out changes no view
        sizes = [b - a for a, b in zip(splits[:-1], splits[1:]) if b > a]
        parts = (lv["out_src"].split(sizes), lv["out_dst"].split(sizes))
        fsa._cache["_out_parts"] = parts
    return parts


def _level_pass(fsa: Fsa, scores: torch.Tensor, log_semiring: bool, backward: bool
                ) -> torch.Tensor:
    """Forward (alpha) or backward (beta) scores, one batch of ops per level, touching only
    the states and arcs of that level."""
    if not backward and not log_semiring:
        return _tropical_forward(fsa, scores)
    if _numpy_loops(fsa, scores, log_semiring):
        return _numpy_pass(fsa, scores, log_semiring, backward)
    padded = _padded_levels(fsa, backward)
    if padded is not None:
        return _padded_pass(fsa, padded, scores, log_semiring)
    info = fsa.arc_info()
    lv = state_levels(fsa)
    num_states = int(info["state_fsa"].numel())
    out = torch.full((num_states,), NEG_INF, dtype=scores.dtype, device=scores.device)
    nonempty = info["num_states"] > 0
    out[info["final" if backward else "start"][nonempty]] = 0.0
    if backward:
        order, splits, other = lv["out_order"], lv["out_splits"], lv["out_dst"]
        loc = _level_rank(fsa).index_select(0, lv["out_src"])
        sc = scores.index_select(0, order)
    else:
        il = _in_levels(fsa)
        order, splits, other, loc = il["in_order"], il["in_splits"], il["in_src"], il["in_loc"]
        sc = scores if il["identity"] else scores.index_select(0, order)
    ss = lv["state_splits"]
    levels = range(lv["num_levels"] - 1, -1, -1) if backward else range(1, lv["num_levels"])
    for lev in levels:
        a0, a1 = splits[lev], splits[lev + 1]
        if a0 == a1:
            continue
        states = lv["state_order"][ss[lev]: ss[lev + 1]]
        vals = out.index_select(0, other[a0:a1]) + sc[a0:a1]
        out.index_copy_(0, states, _segment_reduce(out.index_select(0, states), loc[a0:a1],
                                                   vals, log_semiring))
    return out


def _padded_levels(fsa: Fsa, backward: bool) -> dict | None:
    """Per level, a [states, width] table of the arcs each state reduces over in a
    pull-style pass (entering arcs forward, leaving arcs backward), padded to the level's
    largest such degree, plus a first column for the state's initial value; None when the
    tables would cost more than 4x the arcs (plus :data:`_PAD_SLACK`) or the levels hold
    more than :data:`_PAD_MAX_ARCS_PER_LEVEL` arcs on average. Cached.

    Column 0 points at a virtual arc of score 0 from a virtual state of value 0 for start
    (forward) or final (backward) states, else at the padding arc (score -inf) from a state
    of value -inf; the padding arc is arc ``num_arcs``, the two virtual states ``n`` and
    ``n + 1``."""
    key = ("_padded", backward)
    if key in fsa._cache:
        return fsa._cache[key]
    info = fsa.arc_info()
    lv = state_levels(fsa)
    n, num_arcs = int(info["state_fsa"].numel()), int(info["src"].numel())
    device = info["src"].device
    mine, other = (info["src"], info["dst"]) if backward else (info["dst"], info["src"])
    level = lv["level"]
    num_levels = lv["num_levels"]
    degree = torch.bincount(mine, minlength=n)
    width = torch.zeros(num_levels, dtype=torch.int64, device=device).scatter_reduce_(
        0, level, degree, reduce="amax") + 1
    ss = lv["state_splits"]
    count = torch.tensor(ss, dtype=torch.int64, device=device).diff()
    block = count * width
    total = int(block.sum()) if num_levels else 0
    padded = None
    # worth it where the per-level op count dominates (few arcs per level: small batches);
    # on big batches the unpadded segment reductions touch fewer elements
    if n and total <= 4 * num_arcs + _PAD_SLACK and num_arcs <= _PAD_MAX_ARCS_PER_LEVEL * max(
            num_levels, 1):
        # arcs by reducing state (stable: arc order within a state) -> column 1, 2, ...
        by_state = (torch.arange(num_arcs, device=device) if backward
                    else torch.sort(mine, stable=True)[1])
        owner = mine.index_select(0, by_state)
        col = torch.arange(num_arcs, device=device) - splits_from_sizes(degree).index_select(
            0, owner) + 1
        row_start = (torch.cumsum(block, 0) - block).index_select(0, level) + \
            _level_rank(fsa) * width.index_select(0, level)
        pos = row_start.index_select(0, owner) + col
        arc_flat = torch.full((total,), num_arcs, dtype=torch.int64, device=device)
        arc_flat[pos] = by_state
        other_flat = torch.full((total,), n, dtype=torch.int64, device=device)
        other_flat[pos] = other.index_select(0, by_state)
        init = info["final" if backward else "start"][info["num_states"] > 0]
        other_flat[row_start.index_select(0, init)] = n + 1
        arc_flat[row_start.index_select(0, init)] = num_arcs + 1
        levels = list(range(num_levels))
        if backward:
            levels.reverse()
        padded = {"arc_flat": arc_flat, "blocks": block.tolist(), "widths": width.tolist(),
                  "other_flat": other_flat, "levels": levels}
    fsa._cache[key] = padded
    return padded


def _padded_pass(fsa: Fsa, padded: dict, scores: torch.Tensor, log_semiring: bool
                 ) -> torch.Tensor:
    """A pull-style pass over padded rows: per level one gather, one add, one row
    reduction (logsumexp or max) and one scatter of the level's values."""
    n = int(fsa.arc_info()["state_fsa"].numel())
    lv = state_levels(fsa)
    ext = torch.cat([scores, scores.new_tensor([NEG_INF, 0.0])])
    sc_flat = ext.index_select(0, padded["arc_flat"])
    out = torch.full((n + 2,), NEG_INF, dtype=scores.dtype, device=scores.device)
    out[n + 1] = 0.0
    widths = padded["widths"]
    sc_parts = sc_flat.split(padded["blocks"])
    others = padded["other_flat"].split(padded["blocks"])
    states = lv["state_order"].split(torch.tensor(lv["state_splits"]).diff().tolist())
    for lev in padded["levels"]:
        vals = (out.index_select(0, others[lev]) + sc_parts[lev]).view(-1, widths[lev])
        red = torch.logsumexp(vals, 1) if log_semiring else vals.amax(1)
        out.index_copy_(0, states[lev], red)
    return out[:n]


def _cached_pass(fsa: Fsa, scores: torch.Tensor, log_semiring: bool, backward: bool
                 ) -> torch.Tensor:
    # cached like k2 does; assigning fsa.scores clears the cache
    key = ("_pass", scores.dtype, log_semiring, backward)
    out = fsa._cache.get(key)
    if out is None:
        out = _level_pass(fsa, scores.detach(), log_semiring, backward)
        fsa._cache[key] = out
    return out


def _forward_backward(fsa: Fsa, scores: torch.Tensor, log_semiring: bool
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_forward` and :func:`_backward` (cached); where both are missing and the
    levels run in numpy, computed in one loop (:func:`_numpy_both_passes`)."""
    keys = [("_pass", scores.dtype, log_semiring, backward) for backward in (False, True)]
    if not any(k in fsa._cache for k in keys) and _numpy_loops(
            fsa, scores, log_semiring, _NUMPY_MAX_ARCS_PER_LEVEL_BOTH):
        fsa._cache[keys[0]], fsa._cache[keys[1]] = _numpy_both_passes(
            fsa, scores.detach(), log_semiring)
    return _forward(fsa, scores, log_semiring), _backward(fsa, scores, log_semiring)


def _forward(fsa: Fsa, scores: torch.Tensor, log_semiring: bool) -> torch.Tensor:
    return _cached_pass(fsa, scores, log_semiring, backward=False)


def _backward(fsa: Fsa, scores: torch.Tensor, log_semiring: bool) -> torch.Tensor:
    return _cached_pass(fsa, scores, log_semiring, backward=True)


def _best_entering_arcs(fsa: Fsa, scores: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """For each state, the entering arc on its best (tropical) path; -1 if none. Ties go to
    the highest arc index, as in k2."""
    info = fsa.arc_info()
    src, dst = info["src"], info["dst"]
    cand = alpha.index_select(0, src) + scores
    # a non-finite alpha never matches (NaN != anything): per state, not per arc
    target = torch.where(_isfinite(alpha), alpha, torch.full_like(alpha, float("nan")))
    hit = (cand == target.index_select(0, dst)).nonzero().squeeze(1)
    best = torch.full((alpha.numel(),), -1, dtype=torch.int64, device=scores.device)
    return best.scatter_reduce_(0, dst.index_select(0, hit), hit, reduce="amax")


class _ForwardScores(torch.autograd.Function):
    """alpha = forward scores; backward propagates through the levels in reverse."""

    @staticmethod
    def forward(ctx, scores, fsa, log_semiring):
        with torch.no_grad():
            alpha = _forward(fsa, scores, log_semiring).clone()
        ctx.fsa = fsa
        ctx.log_semiring = log_semiring
        ctx.save_for_backward(scores, alpha)
        return alpha

    @staticmethod
    def backward(ctx, grad_alpha):
        scores, alpha = ctx.saved_tensors
        fsa = ctx.fsa
        info = fsa.arc_info()
        lv = state_levels(fsa)
        src, dst = info["src"], info["dst"]
        g = grad_alpha.clone()
        g = torch.where(torch.isfinite(alpha), g, torch.zeros_like(g))
        if ctx.log_semiring:
            w = torch.exp(alpha[src] + scores - alpha[dst])
            w = torch.where(torch.isfinite(alpha[dst]), w, torch.zeros_like(w))
        else:
            best = _best_entering_arcs(fsa, scores, alpha)
            w = torch.zeros_like(scores)
            ok = best >= 0
            w[best[ok]] = 1.0
        il = _in_levels(fsa)
        order, splits = il["in_order"], il["in_splits"]
        w_in, dst_in, src_in = w[order], dst[order], il["in_src"]
        grad_in = torch.zeros_like(scores)
        for lev in range(lv["num_levels"] - 1, 0, -1):
            a0, a1 = splits[lev], splits[lev + 1]
            if a0 == a1:
                continue
            ga = g[dst_in[a0:a1]] * w_in[a0:a1]
            grad_in[a0:a1] = ga
            g.index_add_(0, src_in[a0:a1], ga)
        grad_scores = torch.empty_like(scores)
        grad_scores[order] = grad_in
        return grad_scores, None, None


def _scores(fsa: Fsa, use_double_scores: bool) -> torch.Tensor:
    return fsa.scores.to(torch.float64 if use_double_scores else torch.float32)


def get_forward_scores(fsa: Fsa, use_double_scores: bool, log_semiring: bool) -> torch.Tensor:
    """Forward scores of every state (``[num_states_total]``), differentiable."""
    return _ForwardScores.apply(_scores(fsa, use_double_scores), fsa, log_semiring)


def get_backward_scores(fsa: Fsa, use_double_scores: bool, log_semiring: bool) -> torch.Tensor:
    """Backward scores (best/total score from each state to the final state),
    differentiable (see :mod:`.backward_grads`)."""
    scores = _scores(fsa, use_double_scores)
    with torch.no_grad():
        beta = _backward(fsa, scores.detach(), log_semiring)
    if not scores.requires_grad:
        return beta
    from icefall_lite.fsa.backward_grads import BackwardScores  # noqa: PLC0415

    return BackwardScores.apply(scores, fsa, log_semiring, beta)


def get_tot_scores(fsa: Fsa, use_double_scores: bool, log_semiring: bool) -> torch.Tensor:
    """Total score of each FSA (``[num_fsas]``; -inf if it has no successful path).

    Its gradient w.r.t. ``fsa.scores`` is the arc posteriors (log) or the best path
    indicator (tropical).
    """
    scores = _scores(fsa, use_double_scores)
    if scores.requires_grad and torch.is_grad_enabled():
        if log_semiring:
            return _LogTotScores.apply(scores, fsa)
        alpha = _ForwardScores.apply(scores, fsa, log_semiring)
        if alpha.numel() == 0:  # every FSA is empty; keep the autograd graph all the same
            return alpha.sum() * 0 + _tot_of_alpha(fsa, alpha)
    else:
        # no graph to build: the cached pass itself (indexing below copies it)
        alpha = _forward(fsa, scores, log_semiring)
    return _tot_of_alpha(fsa, alpha)


def _tot_of_alpha(fsa: Fsa, alpha: torch.Tensor) -> torch.Tensor:
    """Each FSA's forward score of its final state; -inf for FSAs without states."""
    final = fsa.arc_info()["final"]
    if alpha.numel() == 0:
        return torch.full(final.shape, NEG_INF, dtype=alpha.dtype, device=alpha.device)
    tot = alpha[final.clamp(min=0)]
    return torch.where(final >= 0, tot, torch.full_like(tot, NEG_INF))


class _LogTotScores(torch.autograd.Function):
    """Log-semiring total scores with their gradient w.r.t. the arc scores written as the
    arc posteriors ``exp(alpha[src] + score + beta[dst] - tot)`` (what k2's backward
    computes): one backward-score pass, in place of back-propagating through the forward
    pass level by level."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, fsa: Fsa) -> torch.Tensor:
        alpha = _forward(fsa, scores, True)
        tot = _tot_of_alpha(fsa, alpha)
        ctx.fsa = fsa
        ctx.save_for_backward(scores, alpha, tot)
        return tot

    @staticmethod
    def backward(ctx, grad_tot: torch.Tensor) -> tuple[torch.Tensor, None]:
        scores, alpha, tot = ctx.saved_tensors
        fsa = ctx.fsa
        if scores.numel() == 0:
            return torch.zeros_like(scores), None
        info = fsa.arc_info()
        beta = _backward(fsa, scores, True)
        arc_tot = tot.index_select(0, info["fsa"])
        post = torch.exp(alpha.index_select(0, info["src"]) + scores
                         + beta.index_select(0, info["dst"]) - arc_tot)
        # arcs of an FSA without a path (or off every path) get no gradient
        post = torch.where(torch.isfinite(arc_tot) & torch.isfinite(post), post,
                           torch.zeros_like(post))
        return post * grad_tot.index_select(0, info["fsa"]), None


def get_arc_post(fsa: Fsa, use_double_scores: bool, log_semiring: bool) -> torch.Tensor:
    """Log arc posteriors ``alpha[src] + score + beta[dst] - tot``, differentiable (through
    the scores, the forward and the backward scores, as in k2)."""
    info = fsa.arc_info()
    scores = _scores(fsa, use_double_scores)
    if scores.requires_grad:
        alpha = get_forward_scores(fsa, use_double_scores, log_semiring)
        beta = get_backward_scores(fsa, use_double_scores, log_semiring)
        tot = get_tot_scores(fsa, use_double_scores, log_semiring)
    else:
        alpha, beta = _forward_backward(fsa, scores, log_semiring)
        tot = get_tot_scores(fsa, use_double_scores, log_semiring)
    t = tot.index_select(0, info["fsa"])
    post = alpha.index_select(0, info["src"]) + scores + beta.index_select(0, info["dst"]) - t
    return torch.where(_isfinite(t), post, torch.full_like(post, NEG_INF))


# --------------------------------------------------------------------------------------------
# shortest path
# --------------------------------------------------------------------------------------------
def _trace_best_paths(fsa: Fsa, use_double_scores: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Arcs of each FSA's best path in order, and the path length per FSA (0 if no path).

    The chain of best entering arcs back from each final state is collected by pointer
    doubling (round r adds the states 2^r..2^(r+1)-1 steps back), so the number of rounds
    is the log of the path length, not the length."""
    info = fsa.arc_info()
    with torch.no_grad():
        scores = _scores(fsa, use_double_scores).detach()
        alpha = _forward(fsa, scores, False)
    if _numpy_loops(fsa, alpha):
        arcs, lengths = _trace_best_paths_cpu(fsa, scores, alpha)
        return torch.from_numpy(arcs), torch.from_numpy(lengths)
    entering = _best_entering_arcs(fsa, scores, alpha)
    final = info["final"]
    num_fsas = final.numel()
    device = final.device
    ok_idx = (final >= 0).nonzero().squeeze(1)
    ok_idx = ok_idx[_isfinite(alpha[final[ok_idx]])]
    n = alpha.numel()
    # predecessor on the best path; state n is a sentinel (start states point at it)
    src_ext = torch.cat([info["src"], torch.full((1,), n, dtype=torch.int64, device=device)])
    no_arc = torch.full_like(entering, src_ext.numel() - 1)
    jump = src_ext.index_select(0, torch.where(entering >= 0, entering, no_arc))
    jump = torch.cat([jump, jump.new_full((1,), n)])
    chain = final.index_select(0, ok_idx)
    while True:
        back = jump.index_select(0, chain)
        back = back[back != n]
        if back.numel() == 0:
            break
        chain = torch.cat([chain, back])
        jump = jump.index_select(0, jump)
    arcs = entering.index_select(0, chain)
    on_path = arcs >= 0
    arcs, chain = arcs[on_path], chain[on_path]
    own = info["state_fsa"].index_select(0, chain)
    lengths = torch.bincount(own, minlength=num_fsas)
    # order by FSA, then from start to final (levels increase along a path)
    lv = state_levels(fsa)
    key = own * (lv["num_levels"] + 1) + lv["level"].index_select(0, chain)
    return arcs[torch.sort(key)[1]], lengths


def _trace_best_paths_cpu(fsa: Fsa, scores: torch.Tensor, alpha: torch.Tensor
                          ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_trace_best_paths` after the forward pass, on numpy views (returns numpy
    arrays)."""
    info = fsa.arc_info()
    lv = state_levels(fsa)
    np_ = cpu_loops.as_numpy
    src, alpha_np = np_(info["src"]), np_(alpha)
    entering = cpu_loops.best_entering_arcs(src, np_(info["dst"]), np_(scores), alpha_np)
    finals = np_(info["final"])
    finals = finals[finals >= 0]
    finals = finals[np.abs(alpha_np.take(finals)) < np.inf]
    chain = cpu_loops.trace_back(entering, src, finals)
    if lv.get("sorted_states"):
        # levels never decrease along the state numbering and increase along a path, so
        # the state order is the order by FSA, then from start to final
        chain.sort()
        arcs = entering.take(chain)
        arcs = arcs[arcs >= 0]
        own = np_(info["fsa"]).take(arcs)
    else:
        arcs = entering.take(chain)
        on_path = arcs >= 0
        arcs, chain = arcs[on_path], chain[on_path]
        own = np_(info["state_fsa"]).take(chain)
        # order by FSA, then from start to final (levels increase along a path)
        key = own * (lv["num_levels"] + 1) + np_(lv["level"]).take(chain)
        arcs = arcs[np.argsort(key)]
    return arcs, np.bincount(own, minlength=info["final"].numel())


def shortest_path(fsa: Fsa, use_double_scores: bool) -> Fsa:
    """Best (max-score) path of each FSA as a linear FSA with the input's attributes; FSAs
    without a successful path give an FSA with no states. Output has the input's axes."""
    if NUMPY_LOOPS and fsa.device.type == "cpu":
        with torch.no_grad():
            scores = _scores(fsa, use_double_scores).detach()
            alpha = _forward(fsa, scores, False)
        if _numpy_loops(fsa, alpha):
            return linear_paths_fsa(fsa, *_trace_best_paths_cpu(fsa, scores, alpha))
    arc_map, lengths = _trace_best_paths(fsa, use_double_scores)
    num_states = torch.where(lengths > 0, lengths + 1, torch.zeros_like(lengths))
    splits1 = splits_from_sizes(num_states)
    own = torch.repeat_interleave(torch.arange(lengths.numel(), device=lengths.device), lengths,
                                  output_size=arc_map.numel())
    pos = torch.arange(arc_map.numel(), device=lengths.device) - splits_from_sizes(lengths)[own]
    src = splits1[:-1][own] + pos
    values = fsa.arcs.values()
    out = make_fsa(num_states, src, src + 1, values[arc_map, 2], fsa.scores.detach()[arc_map],
                   single=fsa.arcs.num_axes() == 2)
    return propagate_unary(fsa, out, arc_map)


# --------------------------------------------------------------------------------------------
# random paths
# --------------------------------------------------------------------------------------------
def _lanes_numpy(fsa: Fsa, scores: torch.Tensor) -> bool:
    """Whether random_paths and get_arc_cdf run on :func:`.cpu_loops.lane_layout`'s tables:
    CPU, both log passes in one numpy loop, and out-degrees even enough to pad (the table
    costs at most 4x the arcs plus :data:`_PAD_SLACK` entries)."""
    return _numpy_loops(fsa, scores, True, _NUMPY_MAX_ARCS_PER_LEVEL_BOTH) and bool(
        _lane_structure(fsa))


def _lane_structure(fsa: Fsa) -> dict[str, object]:
    """:func:`.cpu_loops.lane_layout` of ``fsa`` plus the sampler's words per step
    (:func:`_step_words`), or an empty dict where the out-degrees are too skewed to pad;
    structure only, cached."""
    cached = fsa._cache.get("_lanes")
    if cached is None:
        info = fsa.arc_info()
        np_ = cpu_loops.as_numpy
        splits2 = np_(fsa.as_vec_shape().row_splits_long(2))
        deg = np.diff(splits2)
        words = cpu_loops.padded_width(deg)
        cached = {}
        if (deg.size + 1) * words <= 4 * fsa.num_arcs + _PAD_SLACK:
            cached = cpu_loops.lane_layout(np_(info["src"]), splits2)
            cached["step_words"] = _step_words(fsa, deg, words,
                                               max(state_levels(fsa)["num_levels"] - 1, 0))
        fsa._cache["_lanes"] = cached
    return cached


def _lane_cdf(fsa: Fsa, use_double_scores: bool) -> tuple[np.ndarray, np.ndarray]:
    """(:func:`.cpu_loops.lane_cdf`'s cdf and widths, the total log score of each FSA), from
    the log arc posteriors computed as :func:`get_arc_post` does (numpy; cached)."""
    key = ("_lane_cdf", use_double_scores)
    cached = fsa._cache.get(key)
    if cached is None:
        info = fsa.arc_info()
        np_ = cpu_loops.as_numpy
        scores = _scores(fsa, use_double_scores).detach()
        alpha, beta = (np_(t) for t in _forward_backward(fsa, scores, True))
        final = np_(info["final"])
        tot = np.full(final.size, -np.inf, dtype=alpha.dtype)
        has_final = final >= 0
        tot[has_final] = alpha.take(final[has_final])
        post = alpha.take(np_(info["src"]))
        post += np_(scores)
        t = beta.take(np_(info["dst"]))
        post += t
        # the arcs' totals into the same buffer (mode "clip": in range, so unbuffered)
        tot.take(np_(info["fsa"]), out=t, mode="clip")
        with np.errstate(invalid="ignore"):  # -inf - -inf on arcs off every path
            post -= t
        if not (np.abs(tot) < np.inf).all():
            post[~(np.abs(t) < np.inf)] = -np.inf
        cached = (cpu_loops.lane_cdf(post, _lane_structure(fsa)), tot)
        fsa._cache[key] = cached
    return cached


def get_arc_cdf(fsa: Fsa, use_double_scores: bool) -> torch.Tensor:
    """Exclusive cumulative sum of each state's normalised leaving-arc probabilities (on
    CPU as k2 computes it: :func:`.cpu_loops.lane_cdf`)."""
    if NUMPY_LOOPS and fsa.device.type == "cpu" and _lanes_numpy(
            fsa, _scores(fsa, use_double_scores)):
        (lo, _), _ = _lane_cdf(fsa, use_double_scores)
        return torch.from_numpy(lo)
    info = fsa.arc_info()
    post = get_arc_post(fsa, use_double_scores, True)
    src = info["src"]
    num_states = int(info["state_fsa"].numel())
    norm = torch.full((num_states,), NEG_INF, dtype=post.dtype, device=post.device)
    norm = _segment_reduce(norm, src, post, True)
    norm_src = norm.index_select(0, src)
    prob = torch.exp(post - norm_src)
    prob = torch.where(_isfinite(norm_src), prob, torch.zeros_like(prob))
    incl = torch.cumsum(prob, 0)
    splits2 = fsa.as_vec_shape().row_splits_long(2)
    first = splits2[:-1].index_select(0, src)
    base = torch.where(first > 0, incl[(first - 1).clamp(min=0)], torch.zeros_like(incl))
    return incl - prob - base


def random_paths(fsas: Fsa, use_double_scores: bool, num_paths: int) -> RaggedTensor:
    """``num_paths`` deterministic pseudo-random paths per FSA, as arc indexes
    ``[fsa][path][arc]`` (k2's arithmetic-coding scheme: path i starts at
    ``p = (i + 0.5) / num_paths``; FSAs without a successful path get no paths)."""
    if num_paths <= 0:
        raise ValueError(f"random_paths: num_paths={num_paths} must be > 0")
    if fsas.arcs.num_axes() != 3:
        raise ValueError("random_paths needs an FsaVec (3 axes)")
    info = fsas.arc_info()
    dtype = torch.float64 if use_double_scores else torch.float32
    device = fsas.device
    if NUMPY_LOOPS and device.type == "cpu" and _lanes_numpy(
            fsas, _scores(fsas, use_double_scores)):
        return _random_paths_lanes(fsas, use_double_scores, num_paths)
    with torch.no_grad():
        cdf = get_arc_cdf(fsas, use_double_scores).to(dtype)
        tot = get_tot_scores(fsas, use_double_scores, True).detach()
    num_fsas = tot.numel()
    has_path = torch.isfinite(tot)
    paths_per_fsa = torch.where(has_path, torch.full_like(info["start"], num_paths),
                                torch.zeros_like(info["start"]))
    path_fsa = torch.repeat_interleave(torch.arange(num_fsas, device=device), paths_per_fsa)
    num_total = path_fsa.numel()
    path_pos = torch.arange(num_total, device=device) - splits_from_sizes(paths_per_fsa)[path_fsa]
    p = (path_pos.to(dtype) + 0.5) / num_paths
    cur = info["start"][path_fsa]
    src = info["src"]
    # width of each arc's interval: next arc's cdf in the same state (or 1) minus its own
    c_next = torch.ones_like(cdf)
    if cdf.numel() > 1:
        c_next[:-1] = torch.where(src[1:] == src[:-1], cdf[1:], c_next[:-1])
    width = c_next - cdf
    if NUMPY_LOOPS and device.type == "cpu":
        arcs, lengths = _sample_numpy(fsas, cdf, width, p, cur)
    else:
        deg = fsas.as_vec_shape().row_splits_long(2).diff()
        max_deg = int(deg.max()) if deg.numel() else 0
        if num_total and (deg.numel() + 1) * max_deg <= 4 * cdf.numel() + _PAD_SLACK:
            arcs, lengths = _sample_padded(fsas, cdf, width, p, cur)
        else:
            arcs, lengths = _sample_compacting(fsas, cdf, width, p, cur,
                                               info["final"][path_fsa])
    shape = RaggedShape([splits_from_sizes(paths_per_fsa), splits_from_sizes(lengths)])
    return RaggedTensor(shape, arcs.to(torch.int32))


def _random_paths_lanes(fsas: Fsa, use_double_scores: bool, num_paths: int) -> RaggedTensor:
    """random_paths on CPU, all in numpy: k2's cdf (:func:`_lane_cdf`) and the sampler
    over its table (:func:`.cpu_loops.sample_lanes`)."""
    info = fsas.arc_info()
    np_ = cpu_loops.as_numpy
    with torch.no_grad():
        cdf, tot = _lane_cdf(fsas, use_double_scores)
    lanes = _lane_structure(fsas)
    paths_per_fsa = np.where(np.abs(tot) < np.inf, num_paths, 0)
    num_fsas = tot.size
    path_fsa = np.repeat(np.arange(num_fsas), paths_per_fsa)
    path_splits = np.zeros(num_fsas + 1, dtype=np.int64)
    np.cumsum(paths_per_fsa, out=path_splits[1:])
    # k2: p = (0.5 + i) / num_paths for path i of an FSA
    p = np.arange(path_fsa.size, dtype=cdf[1].dtype)
    p -= path_splits[:-1].take(path_fsa)
    p += 0.5
    p /= num_paths
    arcs, lengths = cpu_loops.sample_lanes(cdf, lanes, np_(info["dst"]), p,
                                           np_(info["start"]).take(path_fsa),
                                           lanes["step_words"])
    splits2 = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=splits2[1:])
    shape = RaggedShape([torch.from_numpy(path_splits), torch.from_numpy(splits2)])
    return RaggedTensor(shape, torch.from_numpy(arcs.astype(np.int32)))


def _sample_numpy(fsas: Fsa, cdf: torch.Tensor, width: torch.Tensor, p: torch.Tensor,
                  cur: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The sampling steps on numpy views (CPU): over padded cdf rows
    (:func:`.cpu_loops.sample_padded`, ~10 numpy calls per step, whatever the number of
    paths), or by a binary search over all arcs where the out-degrees are too skewed to pad
    (:func:`.cpu_loops.sample_by_search`). Returns (arcs in path order, length per path)."""
    info = fsas.arc_info()
    np_ = cpu_loops.as_numpy
    src, dst, cdf_np, width_np = np_(info["src"]), np_(info["dst"]), np_(cdf), np_(width)
    splits2 = np_(fsas.as_vec_shape().row_splits_long(2))
    first, deg = splits2[:-1], np.diff(splits2)
    num_arcs, n = cdf_np.size, deg.size
    max_steps = max(state_levels(fsas)["num_levels"] - 1, 0)
    p_np, cur_np = np_(p), np_(cur)
    lanes = cpu_loops.padded_width(deg)
    if (n + 1) * lanes <= 4 * num_arcs + _PAD_SLACK:
        table = cpu_loops.padded_cdf(src, cdf_np, first, deg)
        base = np.append(np.where(deg > 0, first - 1, num_arcs - 1), num_arcs - 1)
        cdf_ext = np.concatenate([cdf_np, np.zeros(1, dtype=cdf_np.dtype)])
        width_ext = np.concatenate([width_np, np.zeros(1, dtype=width_np.dtype)])
        width_ext[~(width_ext > 0)] = np.inf
        arcs, lengths = cpu_loops.sample_padded(table, base, cdf_ext, width_ext,
                                                np.append(dst, n), p_np, cur_np,
                                                _step_words(fsas, deg, lanes, max_steps))
    else:
        first_arc = np.append(np.where(deg > 0, first, num_arcs), num_arcs)
        arcs, lengths = cpu_loops.sample_by_search(src, dst, cdf_np, width_np, first_arc, p_np,
                                                   cur_np, max_steps)
    return torch.from_numpy(arcs), torch.from_numpy(lengths)


def _step_words(fsas: Fsa, deg: np.ndarray, lanes: int, max_steps: int) -> list[int]:
    """Words of 8 lanes that :func:`.cpu_loops.sample_padded` compares at each step: in a
    graded FsaVec whose start states have level 0, the paths of step ``t`` are in level
    ``t``, so that level's largest out-degree decides; else every step takes all ``lanes``."""
    graded = graded_levels(fsas)
    info = fsas.arc_info()
    np_ = cpu_loops.as_numpy
    starts = np_(info["start"])[np_(info["num_states"]) > 0]
    if graded is None or np_(graded).take(starts).any():
        return [lanes // cpu_loops.LANES] * max_steps
    per_level = np.ones(max_steps, dtype=np.int64)
    level = np_(graded)
    inner = level < max_steps  # the last level's states (final states) take no step
    np.maximum.at(per_level, level[inner], np.maximum(-(-deg[inner] // cpu_loops.LANES), 1))
    return per_level.tolist()


def _sample_padded(fsas: Fsa, cdf: torch.Tensor, width: torch.Tensor, p: torch.Tensor,
                   cur: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All paths advance together, one step per iteration (~12 ops, no sync), with each
    state's leaving-arc cdf padded to the largest out-degree: the chosen arc is the last one
    with cdf <= p, counted over that row. A path that reached its final state moves to a
    sentinel arc and state, so no path is dropped along the way. Returns (arcs in path order,
    length per path)."""
    info = fsas.arc_info()
    device = cdf.device
    n, num_arcs = info["state_fsa"].numel(), cdf.numel()
    splits2 = fsas.as_vec_shape().row_splits_long(2)
    deg = splits2.diff()
    max_deg = max(int(deg.max()), 1)
    # row s: cdf of the arcs of s, +inf beyond them (never <= p); row n is the sentinel's
    pos_in_state = torch.arange(num_arcs, device=device) - splits2.index_select(0, info["src"])
    pad = torch.full((n + 1, max_deg), float("inf"), dtype=cdf.dtype, device=device)
    pad[info["src"], pos_in_state] = cdf
    # arc = base[s] + max(count, 1): the state's first arc - 1, or the sentinel arc for
    # states without arcs (final states) and for the sentinel
    base = torch.full((n + 1,), num_arcs - 1, dtype=torch.int64, device=device)
    base[:n] = torch.where(deg > 0, splits2[:-1] - 1, base[:n])
    finals = info["final"][info["final"] >= 0]
    pad[finals] = float("inf")
    base[finals] = num_arcs - 1
    zero = cdf.new_zeros(1)
    cdf_ext, width_ext = torch.cat([cdf, zero]), torch.cat([width, zero])
    dst_ext = torch.cat([info["dst"], torch.full((1,), n, dtype=torch.int64, device=device)])
    lv = state_levels(fsas)
    steps = _sample_padded_steps(pad, base, cdf_ext, width_ext, dst_ext, p, cur, n,
                                 max(lv["num_levels"] - 1, 0))
    if not steps:
        return torch.zeros(0, dtype=torch.int64, device=device), torch.zeros(
            p.numel(), dtype=torch.int64, device=device)
    table = torch.stack(steps, 1)
    real = table < num_arcs
    return table[real], real.sum(1)


def _sample_padded_steps(pad: torch.Tensor, base: torch.Tensor, cdf_ext: torch.Tensor,
                         width_ext: torch.Tensor, dst_ext: torch.Tensor, p: torch.Tensor,
                         cur: torch.Tensor, n: int, max_steps: int) -> list[torch.Tensor]:
    """The stepping loop of :func:`_sample_padded`: the arc every path takes in each step."""
    zeros = torch.zeros_like(p)
    steps = []
    # a path has at most num_levels - 1 arcs; check now and then whether all have ended
    for step in range(max_steps):
        if step % 16 == 15 and bool((cur == n).all()):
            break
        count = (pad.index_select(0, cur) <= p.unsqueeze(1)).sum(1)
        arc = base.index_select(0, cur).add_(count.clamp_(min=1))
        c_lo = cdf_ext.index_select(0, arc)
        w = width_ext.index_select(0, arc)
        p = torch.where(w > 0, (p - c_lo) / w, zeros)
        steps.append(arc)
        cur = dst_ext.index_select(0, arc)
    return steps


def _sample_compacting(fsas: Fsa, cdf: torch.Tensor, width_all: torch.Tensor,
                       p: torch.Tensor, cur: torch.Tensor, final: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Like :func:`_sample_padded` for FSAs whose out-degrees vary too much to pad: each
    step expands the leaving arcs of the live paths' states, and drops paths that ended."""
    info = fsas.arc_info()
    device = cdf.device
    num_total = p.numel()
    splits2 = fsas.as_vec_shape().row_splits_long(2)
    deg_all = splits2.diff()
    dst = info["dst"]
    who = torch.arange(num_total, device=device)
    path_idx = torch.arange(num_total, device=device)
    steps: list[torch.Tensor] = []
    owners: list[torch.Tensor] = []
    while who.numel() > 0:
        lo = splits2.index_select(0, cur)
        deg = deg_all.index_select(0, cur)
        ends = torch.cumsum(deg, 0)
        n = int(ends[-1])
        # the leaving arcs of every path's state; the chosen arc is the last with cdf <= p
        owner = torch.repeat_interleave(path_idx[:cur.numel()], deg, output_size=n)
        cand = torch.repeat_interleave(lo - ends + deg, deg, output_size=n).add_(
            torch.arange(n, device=device))
        below = (cdf.index_select(0, cand) <= p.index_select(0, owner)).to(torch.int64)
        count = torch.zeros_like(cur).index_add_(0, owner, below)
        arc = lo + (count - 1).clamp(min=0)
        c_lo = cdf.index_select(0, arc)
        width = width_all.index_select(0, arc)
        p = torch.where(width > 0, (p - c_lo) / width, torch.zeros_like(p))
        steps.append(arc)
        owners.append(who)
        cur = dst.index_select(0, arc)
        live = cur != final
        if not bool(live.all()):
            cur, final, who, p = cur[live], final[live], who[live], p[live]
    if not steps:
        return (torch.zeros(0, dtype=torch.int64, device=device),
                torch.zeros(num_total, dtype=torch.int64, device=device))
    own = torch.cat(owners)
    lengths = torch.bincount(own, minlength=num_total)
    # every path is live from step 0 until it ends, so its k-th arc was taken in step k:
    # the position in the output is the path's offset + k (no sort needed)
    step = torch.repeat_interleave(
        torch.arange(len(steps), device=device),
        torch.tensor([a.numel() for a in steps], dtype=torch.int64, device=device),
        output_size=own.numel())
    pos = splits_from_sizes(lengths)[:-1].index_select(0, own).add_(step)
    return torch.empty_like(own).index_copy_(0, pos, torch.cat(steps)), lengths
