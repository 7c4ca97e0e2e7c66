"""Intersection of decoding graphs with dense (neural-net) FSAs: k2's ``intersect_dense``
(exact forward-backward pruning) and ``intersect_dense_pruned`` (frame-synchronous beam
search, then lattice pruning), with k2's state/arc order and differentiable scores.

A lattice state is a pair (frame ``t``, graph state ``s``); an arc of the graph with label
``l`` leaving ``s`` at frame ``t`` scores ``graph_score + scores[row(t), l + 1]`` (the
``DenseFsaVec`` layout). Both functions loop over frames only; each frame is a batch of
tensor ops over all FSAs, states and arcs at once.

Output order (as k2): FSA by FSA, states by frame, within a frame by graph state
(``intersect_dense``) or by first discovery (``intersect_dense_pruned``); a state's arcs in
graph-arc order. ``out.scores = a.scores[arc_map_a] + b.scores.view(-1)[arc_map_b]`` is
built with torch ops, so gradients reach the graph scores and the log-probs.

Example::

    >>> import torch
    >>> from icefall_lite.fsa import ctc_graph
    >>> log_probs = torch.randn(1, 4, 3).log_softmax(-1)  # [N, T, C]
    >>> segs = torch.tensor([[0, 0, 4]], dtype=torch.int32)  # (sequence, start frame, frames)
    >>> lat = intersect_dense(ctc_graph([[1, 2]]), DenseFsaVec(log_probs, segs), output_beam=10.0)
    >>> int(lat.shape[0]), bool(lat.get_tot_scores(True, True) < 0)  # one lattice, log-prob < 0
    (1, True)
"""

from __future__ import annotations

import numpy as np
import torch

from icefall_lite.fsa import cpu_loops, paths
from icefall_lite.fsa.cpu_loops import as_numpy
from icefall_lite.fsa.dense import DenseFsaVec
from icefall_lite.fsa.fsa import Fsa
from icefall_lite.fsa.pruned_dense import SharedGraphTables
from icefall_lite.fsa.ragged import expand_ranges, splits_from_row_ids, splits_from_sizes

NEG_INF = float("-inf")


class _Graph:
    """Per-arc and per-state tensors of the decoding graph(s) that the passes need."""

    def __init__(self, a: Fsa, b: DenseFsaVec, name: str):
        if not isinstance(b, DenseFsaVec):
            raise ValueError(f"{name}: b_fsas must be a DenseFsaVec, got {type(b).__name__}")
        if a.device != b.device:
            raise ValueError(f"{name}: a_fsas is on {a.device}, b_fsas on {b.device}")
        info = a.arc_info()
        self.info = info
        self.src, self.dst, self.fsa = info["src"], info["dst"], info["fsa"]
        self.labels = a.arcs.values()[:, 2].long()
        self.scores = a.scores.detach()
        self.splits2 = a.as_vec_shape().row_splits_long(2)
        self.num_fsas = info["num_states"].numel()
        self.num_states = int(info["state_fsa"].numel())
        ncols = b.num_cols
        if self.labels.numel() and (int(self.labels.min()) < -1
                                    or int(self.labels.max()) >= ncols - 1):
            raise ValueError(
                f"{name}: the graph has labels in [{int(self.labels.min())}, "
                f"{int(self.labels.max())}] but the log-probs have {ncols - 1} classes "
                f"(labels must be in [-1, {ncols - 2}])")
        self.col = self.labels + 1


def _check_map(m: torch.Tensor, n: int, hi: int, name: str) -> torch.Tensor:
    m = m.to(torch.int64)
    if m.shape != (n,):
        raise ValueError(f"{name}: a_to_b_map has shape {tuple(m.shape)}, expected ({n},)")
    if n and (int(m.min()) < 0 or int(m.max()) >= hi):
        raise ValueError(f"{name}: a_to_b_map has entries outside [0, {hi})")
    if n > 1 and bool((m[1:] < m[:-1]).any()):
        raise ValueError(f"{name}: a_to_b_map must be non-decreasing")
    return m


def _finish(a: Fsa, b: DenseFsaVec, splits1: torch.Tensor, splits2: torch.Tensor,
            src_local: torch.Tensor, dst_local: torch.Tensor, arc_map_a: torch.Tensor,
            arc_map_b: torch.Tensor, seqframe_idx_name: str | None,
            frame_idx_name: str | None) -> Fsa:
    """The lattice FsaVec with a's attributes and differentiable scores."""
    labels = a.arcs.values()[:, 2].index_select(0, arc_map_a)
    arcs = torch.stack([src_local, dst_local, labels.long()], 1)
    scores = a.scores.index_select(0, arc_map_a) + \
        b.scores.reshape(-1).index_select(0, arc_map_b)
    out = Fsa.from_fsa_vec_parts(splits1, splits2, arcs, scores)
    for name, value in a.named_tensor_attr(include_scores=False):
        if isinstance(value, torch.Tensor):
            setattr(out, name, value.index_select(0, arc_map_a))
        else:
            setattr(out, name, value.index(arc_map_a)[0])
    for name, value in a.named_non_tensor_attr():
        setattr(out, name, value)
    if frame_idx_name is not None or seqframe_idx_name is not None:
        seqframe = arc_map_b // b.num_cols
        if frame_idx_name is not None:
            rs = b.row_splits.long()
            seq = torch.searchsorted(rs, seqframe, right=True) - 1
            setattr(out, frame_idx_name, (seqframe - rs.index_select(0, seq)).to(torch.int32))
        if seqframe_idx_name is not None:
            setattr(out, seqframe_idx_name, seqframe.to(torch.int32))
    return out


def _tropical_frames(alpha: torch.Tensor, beta: torch.Tensor, per_frame: torch.Tensor,
                     src: torch.Tensor, dst: torch.Tensor) -> None:
    """Fill ``alpha``/``beta`` (``[T + 1, S]``, start/final entries set) frame by frame:
    ``alpha[t + 1][dst] max= alpha[t][src] + per_frame[t]`` forwards, ``beta[t][src] max=
    beta[t + 1][dst] + per_frame[t]`` backwards. On the CPU the loops run on numpy views
    (a numpy call costs ~1 us, a torch op several; ``paths.NUMPY_LOOPS`` = False uses the torch
    loops, as other devices do); max is exact, so both agree bit for bit."""
    T = per_frame.shape[0]
    if paths.NUMPY_LOOPS and alpha.device.type == "cpu":
        a, b, pf = as_numpy(alpha), as_numpy(beta), as_numpy(per_frame)
        s, d = as_numpy(src), as_numpy(dst)
        for t in range(T):
            cand = a[t].take(s)
            cand += pf[t]
            np.maximum.at(a[t + 1], d, cand)
        for t in range(T - 1, -1, -1):
            cand = b[t + 1].take(d)
            cand += pf[t]
            np.maximum.at(b[t], s, cand)
        return
    for t in range(T):
        cand = alpha[t].index_select(0, src) + per_frame[t]
        alpha[t + 1].scatter_reduce_(0, dst, cand, reduce="amax")
    for t in range(T - 1, -1, -1):
        cand = beta[t + 1].index_select(0, dst) + per_frame[t]
        beta[t].scatter_reduce_(0, src, cand, reduce="amax")


class _BandedFrames:
    """The tropical frame loops of ``intersect_dense`` for banded graphs, on the CPU.

    A graph is banded when every arc goes ``d = dst - src`` states forward with ``0 <= d <=
    D`` (``D <= MAX_OFFSET``) and no two arcs join the same pair of states: ``ctc_graph``'s
    graphs (self-loops, ``d = 1`` to the next state, ``d = 2`` past a blank), standard or
    modified. Then at most one arc of each offset enters a state, and a frame's forward step
    is ``alpha[t + 1][j] = max_d alpha[t][j - d] + score[t, d, j]``: per offset, one add of
    two contiguous slices (``alpha[t]`` shifted by ``d``, row ``d`` of the frame's score
    table) and one elementwise maximum; backwards ``beta[t][j] = max_d beta[t + 1][j + d] +
    score[t, d, j + d]``, the same slices shifted the other way. That is ``2 D + 1`` numpy
    calls on ``S`` entries a frame and direction, no gather, instead of a gather, an add and
    a ``maximum.at`` over all arcs (at 16 x 500 x 500 ~6 us against ~28 us a frame); each
    candidate is the same sum as in :func:`_tropical_frames`, so the scores are the same
    bit for bit.

    Layout: the score table is ``[T, D + 1, W]`` (``W = S + D``; -inf where no arc of that
    offset enters the state and past each graph's frames); ``alpha`` has ``D`` columns of
    -inf in front, ``beta`` ``D`` behind, so that the shifted slices stay in their rows.
    States of different graphs never meet: arcs do not cross graphs, so every candidate
    across a boundary has an -inf score.
    """

    MAX_OFFSET = 3

    def __init__(self, g: _Graph, a: Fsa, offsets: np.ndarray, t_max: int):
        self.g, self.D, self.t_max = g, int(offsets.max(initial=0)), t_max
        S, D = g.num_states, self.D
        self.W = S + D
        # each arc's column and graph score in a frame's [D + 1, W] table (a missing arc:
        # column 0, score -inf)
        slot = torch.from_numpy(offsets * self.W + as_numpy(g.dst))
        self.col = torch.zeros((D + 1) * self.W, dtype=torch.int64).index_copy_(0, slot, g.col)
        self.gscore = torch.full(((D + 1) * self.W,), NEG_INF, dtype=g.scores.dtype
                                 ).index_copy_(0, slot, g.scores)
        self.state_splits = a.as_vec_shape().row_splits_long(1).tolist()
        self.alpha_pad = np.full((t_max + 1, S + 2 * D), NEG_INF, dtype=np.float32)
        self.beta_pad = np.full((t_max + 1, S + D), NEG_INF, dtype=np.float32)

    @classmethod
    def offsets(cls, g: _Graph) -> np.ndarray | None:
        """Each arc's ``dst - src`` if the graph is banded (above), else None."""
        src, dst = as_numpy(g.src), as_numpy(g.dst)
        d = dst - src
        if d.size == 0 or int(d.min()) < 0 or int(d.max()) > cls.MAX_OFFSET:
            return None
        key = dst * (cls.MAX_OFFSET + 1) + d
        if np.bincount(key).max() > 1:
            return None
        return d

    def alpha_beta(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``[T + 1, S]`` views of the padded forward and backward tables."""
        S, D = self.g.num_states, self.D
        return (torch.from_numpy(self.alpha_pad)[:, D:D + S],
                torch.from_numpy(self.beta_pad)[:, :S])

    def scores(self, bscores: torch.Tensor, rows_a: torch.Tensor, row0_a: torch.Tensor
               ) -> np.ndarray:
        """``[T, D + 1, W]``: the score of the arc of offset ``d`` entering state ``j`` on
        frame ``t`` (graph score + log-prob of its label), -inf where there is none. Graph by
        graph, as :func:`_arc_frame_scores`: one column gather of its frames' rows."""
        D, W, T = self.D, self.W, self.t_max
        out = torch.empty((T, D + 1, W), dtype=bscores.dtype)
        out[:, :, self.g.num_states:] = NEG_INF
        col, gscore = self.col.view(D + 1, W), self.gscore.view(D + 1, W)
        ss = self.state_splits
        for i, (rows, row0) in enumerate(zip(rows_a.tolist(), row0_a.tolist())):
            s0, s1 = ss[i], ss[i + 1]
            if s0 == s1:
                continue
            block = out[:, :, s0:s1]
            gathered = bscores[row0:row0 + rows].index_select(1, col[:, s0:s1].reshape(-1))
            torch.add(gathered.view(rows, D + 1, s1 - s0), gscore[:, s0:s1], out=block[:rows])
            block[rows:] = NEG_INF
        return as_numpy(out)

    def run(self, sc: np.ndarray, preset_beta_rows: set[int]) -> None:
        """Fill the forward and backward tables from the score table of :meth:`scores`
        (start and final entries already set)."""
        S, D = self.g.num_states, self.D
        a, b = self.alpha_pad, self.beta_pad
        tmp = np.empty(S, dtype=np.result_type(a, sc))
        # per offset d: alpha[t][j - d] and score[t, d, j] forwards; beta[t + 1][j + d] and
        # score[t, d, j + d] backwards, as [T, S] views (a frame's row is one index away)
        fa = [a[:, D - d:D - d + S] for d in range(D + 1)]
        fs = [sc[:, d, :S] for d in range(D + 1)]
        bb = [b[1:, d:d + S] for d in range(D + 1)]
        bs = [sc[:, d, d:d + S] for d in range(D + 1)]
        for t in range(self.t_max):
            out = a[t + 1, D:D + S]
            np.add(fa[0][t], fs[0][t], out=out)
            for d in range(1, D + 1):
                np.add(fa[d][t], fs[d][t], out=tmp)
                np.maximum(out, tmp, out=out)
        for t in range(self.t_max - 1, -1, -1):
            out = b[t, :S]
            first = 0
            if t not in preset_beta_rows:
                np.add(bb[0][t], bs[0][t], out=out)
                first = 1
            for d in range(first, D + 1):
                np.add(bb[d][t], bs[d][t], out=tmp)
                np.maximum(out, tmp, out=out)


def _arc_frame_scores(g: _Graph, a: Fsa, bscores: torch.Tensor, rows_a: torch.Tensor,
                      row0_a: torch.Tensor, t_max: int) -> torch.Tensor:
    """``[t_max, A]``: the score of every graph arc on every frame of its dense FSA (graph
    score + log-prob of its label), -inf past the FSA's last row. Built graph by graph: the
    rows of a graph's frames are contiguous, so one column gather of them (no per-element
    index, which for ``t_max x A`` cells costs several times more) fills its block."""
    out = torch.empty((t_max, g.src.numel()), dtype=bscores.dtype, device=bscores.device)
    arc_splits = g.splits2.index_select(0, a.as_vec_shape().row_splits_long(1)).tolist()
    for i, (rows, row0) in enumerate(zip(rows_a.tolist(), row0_a.tolist())):
        a0, a1 = arc_splits[i], arc_splits[i + 1]
        if a0 == a1:
            continue
        block = out[:, a0:a1]
        torch.add(bscores[row0:row0 + rows].index_select(1, g.col[a0:a1]), g.scores[a0:a1],
                  out=block[:rows])
        block[rows:] = NEG_INF
    return out


def _forward_backward(g: _Graph, a: Fsa, bscores: torch.Tensor, rows_a: torch.Tensor,
                      row0_a: torch.Tensor, t_max: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tropical forward and backward scores ``[t_max + 1, S]`` of every (frame, graph state)
    of ``intersect_dense``: the banded loops where the graphs allow them on the CPU, else
    :func:`_tropical_frames`."""
    start, final = g.info["start"], g.info["final"]
    nonempty = final >= 0
    band = None
    if paths.NUMPY_LOOPS and bscores.device.type == "cpu":
        offsets = _BandedFrames.offsets(g)
        band = None if offsets is None else _BandedFrames(g, a, offsets, t_max)
    if band is not None:
        alpha, beta = band.alpha_beta()
    else:
        alpha = torch.full((t_max + 1, g.num_states), NEG_INF, dtype=torch.float32,
                           device=bscores.device)
        beta = torch.full_like(alpha, NEG_INF)
    alpha[0, start[nonempty]] = 0.0
    beta[rows_a[nonempty], final[nonempty]] = 0.0
    if band is not None:
        band.run(band.scores(bscores, rows_a, row0_a), set(rows_a[nonempty].tolist()))
    else:
        _tropical_frames(alpha, beta, _arc_frame_scores(g, a, bscores, rows_a, row0_a, t_max),
                         g.src, g.dst)
    return alpha, beta


# --------------------------------------------------------------------------------------------
# intersect_dense: exact pruning with tropical forward/backward scores
# --------------------------------------------------------------------------------------------
def intersect_dense(a_fsas: Fsa, b_fsas: DenseFsaVec, output_beam: float,
                    max_states: int = 15000000, max_arcs: int = 1073741824,
                    a_to_b_map: torch.Tensor | None = None,
                    seqframe_idx_name: str | None = None,
                    frame_idx_name: str | None = None) -> Fsa:
    """Intersect graph ``i`` with dense FSA ``a_to_b_map[i]`` (default ``i``), keeping the
    states and arcs on a path within ``output_beam`` of the best path (exact: tropical
    forward and backward scores). FSAs without a path come out empty. ``b_fsas`` must be
    sorted by decreasing duration (as k2 requires)."""
    if output_beam <= 0:
        raise ValueError(f"intersect_dense: output_beam={output_beam} must be > 0")
    g = _Graph(a_fsas, b_fsas, "intersect_dense")
    device = a_fsas.device
    num_b = b_fsas.dim0()
    if a_to_b_map is None:
        if g.num_fsas != num_b:
            raise ValueError(f"intersect_dense: {g.num_fsas} graphs but {num_b} dense FSAs; "
                             "pass a_to_b_map")
        a_to_b = torch.arange(num_b, device=device)
    else:
        a_to_b = _check_map(a_to_b_map.to(device), g.num_fsas, num_b, "intersect_dense")
    b_rows = b_fsas.row_splits.long().to(device)
    seq_len = b_rows.diff()
    if num_b > 1 and bool((seq_len[1:] > seq_len[:-1]).any()):
        raise ValueError("intersect_dense: the supervision segments must be sorted by "
                         f"decreasing duration, got durations {(seq_len - 1).tolist()}")
    rows_a = seq_len.index_select(0, a_to_b)  # T_i: rows of each graph's dense FSA
    row0_a = b_rows[:-1].index_select(0, a_to_b)
    t_max = int(rows_a.max()) if g.num_fsas else 0
    S = g.num_states
    if S == 0:  # only empty graphs: an FsaVec of empty FSAs
        z = torch.zeros(0, dtype=torch.int64, device=device)
        return _finish(a_fsas, b_fsas, torch.zeros(g.num_fsas + 1, dtype=torch.int64,
                                                   device=device),
                       torch.zeros(1, dtype=torch.int64, device=device), z, z, z, z,
                       seqframe_idx_name, frame_idx_name)
    bscores = b_fsas.scores.detach()
    ncols = b_fsas.num_cols

    alpha, beta = _forward_backward(g, a_fsas, bscores, rows_a, row0_a, t_max)
    start, final = g.info["start"], g.info["final"]
    nonempty = final >= 0
    fin = final.clamp(min=0)
    tot_f = alpha[rows_a, fin]
    tot_b = beta[0, start.clamp(max=S - 1)]
    tot = torch.where(nonempty, torch.minimum(tot_f, tot_b), torch.full_like(tot_f, NEG_INF))
    cutoff = tot - output_beam  # per graph
    state_fsa = g.info["state_fsa"]
    # frames past a graph's last row need no mask: their arc scores are -inf, so alpha
    # (and beta, but for the final state's 0 on the last row) is -inf there
    keep = alpha + beta > cutoff.index_select(0, state_fsa).unsqueeze(0)
    # output states ordered by (graph, t, state)
    kt, ks = keep.nonzero(as_tuple=True)
    order = torch.sort(state_fsa.index_select(0, ks) * (t_max + 1) + kt, stable=True)[1]
    kt, ks = kt.index_select(0, order), ks.index_select(0, order)
    new_id = torch.full((t_max + 1, S), -1, dtype=torch.int64, device=device)
    new_id[kt, ks] = torch.arange(kt.numel(), device=device)
    k_fsa = state_fsa.index_select(0, ks)
    states_per_fsa = torch.bincount(k_fsa, minlength=g.num_fsas)
    splits1 = splits_from_sizes(states_per_fsa)
    # candidate arcs: every graph arc of every kept state before its FSA's last frame
    deg = g.splits2.diff().index_select(0, ks)
    deg = torch.where(kt < rows_a.index_select(0, k_fsa), deg, torch.zeros_like(deg))
    arc, owner = expand_ranges(g.splits2[:-1].index_select(0, ks), deg)
    at = kt.index_select(0, owner)
    ad = g.dst.index_select(0, arc)
    row = row0_a.index_select(0, g.fsa.index_select(0, arc)) + at
    flat_b = row * ncols + g.col.index_select(0, arc)
    sc = g.scores.index_select(0, arc) + bscores.reshape(-1).index_select(0, flat_b)
    dest = new_id[at + 1, ad]
    fb = alpha[at, ks.index_select(0, owner)] + sc + beta[at + 1, ad]
    ok = (dest >= 0) & (fb > cutoff.index_select(0, g.fsa.index_select(0, arc)))
    sel = ok.nonzero().squeeze(1)
    owner, arc, dest, flat_b = (x.index_select(0, sel) for x in (owner, arc, dest, flat_b))
    splits2 = splits_from_row_ids(owner, kt.numel())
    base = splits1[:-1].index_select(0, k_fsa)
    src_local = owner - base.index_select(0, owner)
    dst_local = dest - base.index_select(0, owner)
    return _finish(a_fsas, b_fsas, splits1, splits2, src_local, dst_local, arc, flat_b,
                   seqframe_idx_name, frame_idx_name)


# --------------------------------------------------------------------------------------------
# intersect_dense_pruned: k2's beam search (dynamic beams, min/max active states)
# --------------------------------------------------------------------------------------------
class _Frame:
    """Active states of one frame (grouped by sequence) and, once expanded, their arcs."""

    def __init__(self, seq: torch.Tensor, a_state: torch.Tensor, fwd: torch.Tensor):
        self.seq, self.a_state, self.fwd = seq, a_state, fwd
        self.bwd = torch.full_like(fwd, NEG_INF)
        self.dense = False  # stepped by the dense tables: arcs not stored until pruned
        self.arc_src = self.arc_a = self.arc_ll = self.arc_dest = None


def _dynamic_cutoffs(beams: torch.Tensor, best: torch.Tensor, active: torch.Tensor,
                     t: int, final_t: np.ndarray, search_beam: float, min_active: int,
                     max_active: int) -> torch.Tensor:
    """k2's per-sequence beam update (float32 state, double arithmetic) and the cutoffs;
    ``beams`` is a float32 numpy array (updated in place), ``final_t`` int64 numpy. One
    value per sequence: numpy (on the CPU), whatever the device."""
    b = beams.astype(np.float64)
    near_end = t + 5 >= final_t
    cur_min = np.where(near_end, max(float(min_active), float(max_active) / 2),
                       float(min_active))
    act = active.cpu().numpy().astype(np.float64)
    within = act <= max_active
    relax = (act >= cur_min) | (act == 0)
    grow = np.maximum(b, search_beam) * 1.25
    approach = 0.8 * b + 0.2 * search_beam
    shrink = np.minimum(b, search_beam) * 0.8
    new = np.where(within, np.where(relax, approach, grow), np.where(near_end, b, shrink))
    beams[:] = np.where(final_t - 1 == t, 1.0e10, new)  # rounded to float32, as k2 keeps it
    return best - torch.from_numpy(beams.copy()).to(best.device)


_DENSE_KEYS = 1 << 26  # (sequence, graph state) key spaces up to this use a dense table


def intersect_dense_pruned(a_fsas: Fsa, b_fsas: DenseFsaVec, search_beam: float,
                           output_beam: float, min_active_states: int,
                           max_active_states: int, seqframe_idx_name: str | None = None,
                           frame_idx_name: str | None = None,
                           allow_partial: bool = False) -> Fsa:
    """Beam-search intersection of graph(s) with ``b_fsas`` (one graph shared by all
    sequences when ``a_fsas`` has one FSA), then output pruning with ``output_beam``, as
    k2 does it: per frame, arcs whose end score is within a dynamic beam of the frame's
    best (the beam adapts towards ``search_beam`` to keep between ``min_active_states`` and
    ``max_active_states`` states; no pruning on a sequence's last frame) create the next
    frame's states in order of first arrival; the backward pruning runs over k2's
    overlapping 30-frame windows (shift 20), keeping every state on a window's first frame.
    A sequence whose final state did not survive gets a lone final state (no path)."""
    if allow_partial:
        raise NotImplementedError("intersect_dense_pruned: allow_partial=True is not "
                                  "implemented in the built-in backend")
    if not min_active_states < max_active_states or min_active_states < 0:
        raise ValueError(f"intersect_dense_pruned: need 0 <= min_active_states "
                         f"({min_active_states}) < max_active_states ({max_active_states})")
    g = _Graph(a_fsas, b_fsas, "intersect_dense_pruned")
    device = a_fsas.device
    num_seqs = b_fsas.dim0()
    if g.num_fsas not in (1, num_seqs):
        raise ValueError(f"intersect_dense_pruned: {g.num_fsas} graphs for {num_seqs} "
                         "sequences (need 1 or one per sequence)")
    shared = g.num_fsas == 1
    search_beam = float(torch.tensor(search_beam, dtype=torch.float32))  # k2 keeps a float
    final_t = b_fsas.row_splits.long().to(device).diff()
    T = int(final_t.max()) if num_seqs else 0
    start, a_final = g.info["start"], g.info["final"]
    graph_of_seq = torch.zeros(num_seqs, dtype=torch.int64, device=device) if shared else \
        torch.arange(num_seqs, device=device)
    has_start = (a_final >= 0).index_select(0, graph_of_seq)
    seq0 = has_start.nonzero().squeeze(1)
    frames = [_Frame(seq0, start.index_select(0, graph_of_seq.index_select(0, seq0)),
                     torch.zeros(seq0.numel(), dtype=torch.float32, device=device))]
    beams = np.full(num_seqs, search_beam, dtype=np.float32)
    final_t_np = final_t.cpu().numpy()
    step = _SparseStep(g, b_fsas, num_seqs, output_beam, device)
    tables = SharedGraphTables.build(g, num_seqs) if shared else None
    is_final_a = torch.zeros(g.num_states, dtype=torch.bool, device=device)
    is_final_a[a_final[a_final >= 0]] = True
    prune = _Pruner(frames, output_beam, is_final_a, tables, step)
    windows = _prune_ranges(T)
    for t in range(T + 1):
        cur = frames[-1]
        active_arcs = step.deg.index_select(0, cur.a_state)
        active = torch.bincount(cur.seq, minlength=num_seqs)
        dense = tables is not None and tables.worth_it(int(active_arcs.sum()))
        if dense:
            end = tables.forward_scores(step.frame_rows(t), cur.seq, cur.a_state, cur.fwd)
            best = end.amax(1)
        else:
            end, best = step.expand(t, cur, active_arcs)
        cutoff = _dynamic_cutoffs(beams, best, active, t, final_t_np, search_beam,
                                  min_active_states, max_active_states)
        if dense:
            cur.dense = True
            seq_start = torch.cumsum(active, 0) - active
            frames.append(_Frame(*tables.next_states(end, cutoff, cur.seq, cur.a_state,
                                                     seq_start)))
        else:
            frames.append(step.next_frame(cur, end, cutoff))
        # prune as soon as a window's frames exist (as k2 does), so that memory stays bounded
        while windows and windows[0][1] == t + 1:
            prune(*windows.pop(0))
    frames.pop()  # frame T + 1 has no states
    for begin, end_t in windows:
        prune(begin, end_t)
    return _format_pruned(a_fsas, b_fsas, frames, num_seqs, final_t, has_start,
                          seqframe_idx_name, frame_idx_name)


class _SparseStep:
    """The forward step over the arcs of the active states (any graph, any device).

    The graph's arcs are laid out once in rows of ``width`` slots (a power of two): each
    state's arcs, in order, fill ``ceil(out-degree / width)`` consecutive rows, pad slots
    scoring ``-inf``. A frame gathers the rows of its active states whole (row copies, not
    per-arc indexes) and scores every slot in ``[rows, width]`` tensors; row-major order is
    k2's expansion order (source state, then arc). Only the slots that pass the cutoff, or
    that are stored, are then listed one by one.

    Stored arcs: k2 keeps every arc into a surviving state for the backward pruning, but an
    arc with end score ``end < fwd[dst] - output_beam`` can never pass that pruning: every
    backward score a pruning window computes has ``bwd[dst] <= -fwd[dst]`` (``fwd[dst]`` is
    the best end score into ``dst``; a window's last frame has ``bwd = -fwd``). So only arcs
    at or above that bound, less a margin far larger than the float rounding within a
    window, are stored: the lattice is the same, and the pruning sees a few arcs per state
    instead of its whole fan-in."""

    def __init__(self, g: _Graph, b: DenseFsaVec, num_seqs: int, output_beam: float,
                 device: torch.device):
        self.g, self.num_seqs, self.device = g, num_seqs, device
        self.output_beam = float(output_beam)
        self.b_rows = b.row_splits.long().to(device)
        self.bscores = b.scores.detach()
        self.ncols = b.num_cols
        self.deg = g.splits2.diff()
        self.next_states = _NextStates(num_seqs, max(g.num_states, 1), device)
        self._layout()

    def _layout(self) -> None:
        g, deg = self.g, self.deg
        self.shift = _row_shift(deg)
        width = self.width = 1 << self.shift
        nrows = (deg + width - 1) >> self.shift
        self.row_splits = splits_from_sizes(nrows)
        if self.row_splits.device.type == "cpu":
            self._np_rs, self._np_nrows = as_numpy(self.row_splits[:-1]), as_numpy(nrows)
        row, owner = expand_ranges(torch.zeros_like(nrows), nrows)  # row rank in its state
        arc = (g.splits2[:-1].index_select(0, owner) + row * width).unsqueeze(1) + \
            torch.arange(width, device=deg.device)
        real = arc < g.splits2[1:].index_select(0, owner).unsqueeze(1)
        arc = torch.where(real, arc, torch.zeros_like(arc)).reshape(-1)
        shape = real.shape
        self.r_arc = arc.view(shape)
        self.r_col = g.col.index_select(0, arc).view(shape).masked_fill(~real, 0).to(torch.int32)
        self.r_score = g.scores.index_select(0, arc).view(shape).masked_fill(~real, NEG_INF)
        self.r_dst = g.dst.index_select(0, arc).view(shape).to(self.next_states.key_dtype)

    def frame_rows(self, t: int) -> torch.Tensor:
        """``[num_seqs, C + 1]``: each sequence's row of frame ``t`` (clamped where the
        sequence is shorter: no state of it has arcs then)."""
        rows = (self.b_rows[:-1] + t).clamp(max=self.bscores.shape[0] - 1)
        return self.bscores.index_select(0, rows)

    def _rows_of(self, a_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the layout rows of the states ``a_state``, in order; the position in
        ``a_state`` of each row's state)."""
        if not _numpy(a_state):
            rs = self.row_splits
            first = rs[:-1].index_select(0, a_state)
            return expand_ranges(first, rs[1:].index_select(0, a_state) - first)
        a = as_numpy(a_state)
        first, count = self._np_rs[a], self._np_nrows[a]
        rows, pos = cpu_loops.expand_ranges(first, count)
        return torch.from_numpy(rows), torch.from_numpy(pos)

    def expand(self, t: int, cur: _Frame, deg: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """End scores ``[rows, width]`` of the slots of the frame's states' rows and the best
        one of each sequence."""
        rows, pos = self._rows_of(cur.a_state)
        seq = cur.seq.index_select(0, pos)
        idx = self.r_col.index_select(0, rows)
        idx += (seq * self.ncols).to(torch.int32).unsqueeze(1)
        ll = self.frame_rows(t).view(-1).index_select(0, idx.view(-1)).view_as(idx)
        ll += self.r_score.index_select(0, rows)  # log-prob + graph score, k2's order
        end = ll + cur.fwd.index_select(0, pos).unsqueeze(1)
        best = torch.full((self.num_seqs,), NEG_INF, dtype=torch.float32, device=self.device)
        if _numpy(end):  # rows are grouped by sequence: one max per block
            e, b = as_numpy(end), as_numpy(best)
            splits = torch.bincount(seq, minlength=self.num_seqs).cumsum(0).tolist()
            self.blocks = list(zip([0] + splits[:-1], splits))
            for i, (r0, r1) in enumerate(self.blocks):
                if r1 > r0:
                    b[i] = e[r0:r1].max()
        else:
            best.scatter_reduce_(0, seq, end.amax(1), reduce="amax")
        self.rows, self.pos, self.rseq, self.ll = rows, pos, seq, ll
        return end, best

    def _passing(self, end: torch.Tensor, cutoff: torch.Tensor) -> torch.Tensor:
        """Flat positions of the slots whose end score is above their sequence's cutoff
        (on the CPU one numpy comparison with a scalar per sequence's block of rows)."""
        if not _numpy(end):
            return _flat_nonzero_gt(end, cutoff.index_select(0, self.rseq).unsqueeze(1),
                                    strict=True)
        e, c = as_numpy(end), as_numpy(cutoff)
        m = np.empty(e.shape, dtype=bool)
        for i, (r0, r1) in enumerate(self.blocks):
            if r1 > r0:
                np.greater(e[r0:r1], c[i], out=m[r0:r1])
        return torch.from_numpy(np.flatnonzero(m))

    def next_frame(self, cur: _Frame, end: torch.Tensor, cutoff: torch.Tensor) -> _Frame:
        """The next frame's states (in order of first arrival); stores on ``cur`` the arcs
        into them that may pass the output pruning."""
        rows, pos, rseq, ll = self.rows, self.pos, self.rseq, self.ll
        shift, mask = self.shift, self.width - 1
        ns = self.next_states
        key = self.r_dst.index_select(0, rows)  # (sequence, destination) of every slot
        key += (rseq.to(ns.key_dtype) * ns.stride).unsqueeze(1)
        p = self._passing(end, cutoff)
        p_key = key.view(-1).index_select(0, p).long()
        first, p_id = ns.arrivals(p_key)
        fwd = torch.full((first.numel(),), NEG_INF, dtype=torch.float32, device=self.device)
        fwd.scatter_reduce_(0, p_id, end.view(-1).index_select(0, p), reduce="amax")
        new_key = p_key.index_select(0, first)
        thr = ns.thresholds(new_key, fwd - self.output_beam - _margin(fwd), key)
        s = _flat_nonzero_gt(end, thr, strict=False)
        rs_, ss = s >> shift, (rows.index_select(0, s >> shift) << shift) + (s & mask)
        cur.arc_src = pos.index_select(0, rs_)
        cur.arc_a = self.r_arc.view(-1).index_select(0, ss)
        cur.arc_ll = ll.view(-1).index_select(0, s)
        cur.arc_dest = ns.ids(key.view(-1).index_select(0, s))
        ns.reset(p_key, new_key)
        self.rows = self.pos = self.rseq = self.ll = None
        stride = ns.stride
        return _Frame(torch.div(new_key, stride, rounding_mode="floor"), new_key % stride, fwd)


def _numpy(t: torch.Tensor) -> bool:
    """Whether the pruned search's small steps run on numpy views of ``t`` (CPU tensors,
    unless ``paths.NUMPY_LOOPS`` is False: then torch ops, as on other devices)."""
    return paths.NUMPY_LOOPS and t.device.type == "cpu"


def _flat_nonzero(mask: torch.Tensor) -> torch.Tensor:
    """Flat (row-major) positions of the true entries, int64 (on the CPU numpy's nonzero,
    several times faster than torch's)."""
    if _numpy(mask):
        return torch.from_numpy(np.flatnonzero(as_numpy(mask)))
    return mask.reshape(-1).nonzero().squeeze(1)


def _flat_nonzero_gt(a: torch.Tensor, b: torch.Tensor, strict: bool) -> torch.Tensor:
    """Flat positions where ``a > b`` (``a >= b`` unless ``strict``), ``b`` broadcast to
    ``a`` (on the CPU numpy's comparison, several times faster than torch's)."""
    if _numpy(a):
        x, y = as_numpy(a), as_numpy(b)
        return torch.from_numpy(np.flatnonzero(np.greater(x, y) if strict else
                                               np.greater_equal(x, y)))
    return _flat_nonzero(a > b if strict else a >= b)


def _margin(score: torch.Tensor) -> torch.Tensor:
    """Slack of the storing bound: 1 + 1e-3 |score| (the float32 rounding of the ~60
    additions that link an arc to a pruning window's end is below 4e-6 |score|)."""
    return score.abs().mul_(1e-3).add_(1.0)


def _row_shift(deg: torch.Tensor) -> int:
    """log2 of the slots per row: fewest slots, counting 16 more per row for its per-row
    work (its state's score and sequence, broadcasts over short rows; measured on AN4's
    HLG: 32 slots per row beat 16 by ~10 %)."""
    best_s, best_cost = 0, None
    for s in range(8):
        w = 1 << s
        cost = int(((deg + w - 1) >> s).sum()) * (w + 16)
        if best_cost is None or cost < best_cost:
            best_s, best_cost = s, cost
    return best_s


class _NextStates:
    """Ids of the next frame's states, keyed ``sequence * stride + graph state``, numbered in
    order of their first passing arc (k2 keeps the first arc that reaches a state), and the
    storing threshold of each. Key spaces up to ``_DENSE_KEYS`` use dense tables (reset
    after each frame, entries touched only); larger ones sorted keys and binary search."""

    def __init__(self, num_seqs: int, stride: int, device: torch.device):
        self.stride = stride
        size = num_seqs * stride
        self.key_dtype = torch.int32 if size < (1 << 31) else torch.int64
        self.dense = size <= _DENSE_KEYS
        self.big = torch.iinfo(torch.int64).max
        if self.dense:
            self.table = torch.full((size,), self.big, dtype=torch.int64, device=device)
            self.thr = torch.full((size,), float("inf"), dtype=torch.float32, device=device)
        self.uniq = self.rank = None

    def arrivals(self, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For the passing arcs' ``keys`` (in expansion order): (position of each new state's
        first arc, in that order; the new state's id of every key)."""
        n = keys.numel()
        order = torch.arange(n, device=keys.device)
        if self.dense:
            table = self.table
            table.scatter_reduce_(0, keys, order, reduce="amin")
            first = _flat_nonzero(table.index_select(0, keys) == order)
            table.index_copy_(0, keys.index_select(0, first),
                              torch.arange(first.numel(), device=keys.device))
            return first, table.index_select(0, keys)
        uniq, inv = torch.unique(keys, return_inverse=True)
        first = torch.full((uniq.numel(),), n, dtype=torch.int64, device=keys.device)
        first = first.scatter_reduce(0, inv, order, reduce="amin", include_self=True)
        first, by_first = torch.sort(first)
        rank = torch.empty_like(by_first)
        rank[by_first] = torch.arange(by_first.numel(), device=keys.device)
        self.uniq, self.rank = uniq, rank
        return first, rank.index_select(0, inv)

    def thresholds(self, new_keys: torch.Tensor, thr: torch.Tensor, keys: torch.Tensor
                   ) -> torch.Tensor:
        """``thr`` of the new state of each of ``keys`` (+inf for keys of no new state)."""
        if self.dense:
            self.thr.index_copy_(0, new_keys, thr)
            return self.thr.index_select(0, keys.reshape(-1)).view(keys.shape)
        flat = keys.reshape(-1).long()
        inf = torch.full((flat.numel(),), float("inf"), dtype=torch.float32,
                         device=keys.device)
        if self.uniq.numel() == 0:
            return inf.view(keys.shape)
        by_key = thr.index_select(0, self.rank)
        where = torch.searchsorted(self.uniq, flat).clamp_(max=self.uniq.numel() - 1)
        hit = self.uniq.index_select(0, where) == flat
        return torch.where(hit, by_key.index_select(0, where), inf).view(keys.shape)

    def ids(self, keys: torch.Tensor) -> torch.Tensor:
        """The new state id of each of ``keys`` (which must all be new states' keys)."""
        if self.dense:
            return self.table.index_select(0, keys)
        where = torch.searchsorted(self.uniq, keys.long())
        return self.rank.index_select(0, where)

    def reset(self, keys: torch.Tensor, new_keys: torch.Tensor) -> None:
        if self.dense:
            self.table.index_fill_(0, keys, self.big)
            self.thr.index_fill_(0, new_keys, float("inf"))
        self.uniq = self.rank = None


def _prune_ranges(T: int) -> list[tuple[int, int]]:
    """k2's backward-pruning windows: 30 frames, shifted by 20, the first one cut at 0."""
    out = []
    begin = 20 - 30
    while True:
        lo, hi = max(0, begin), begin + 30
        last = hi >= T
        out.append((lo, T if last else hi))
        if last:
            return out
        begin += 20


class _Pruner:
    """k2's backward pruning of one window of frames (``__call__(begin, end)``): from frame
    ``end`` (whose backward score is taken as minus its forward score) back to ``begin``,
    drop arcs outside the beam and the states left without a backward score (except on
    frame ``begin``); renumber the arcs' destinations. A frame stepped densely gets its
    arcs back (only the kept ones) on its first pruning."""

    def __init__(self, frames: list[_Frame], beam: float, is_final_a: torch.Tensor,
                 tables: SharedGraphTables | None, step: _SparseStep):
        self.frames, self.beam, self.is_final_a = frames, beam, is_final_a
        self.tables, self.step = tables, step

    def __call__(self, begin: int, end: int) -> None:
        frames = self.frames
        last = frames[end]
        last.bwd = torch.where(torch.isfinite(last.fwd), -last.fwd,
                               torch.full_like(last.fwd, NEG_INF))
        new_of_old: torch.Tensor | None = None  # renumbering of the frame after the current
        for t in range(end - 1, begin - 1, -1):
            fr, nxt = frames[t], frames[t + 1]
            if fr.dense:
                new_of_old = self._dense_step(t, fr, nxt, t == begin)
            else:
                new_of_old = self._sparse_step(fr, nxt, new_of_old, t == begin)

    def _sparse_step(self, fr: _Frame, nxt: _Frame, new_of_old: torch.Tensor | None,
                     is_begin: bool) -> torch.Tensor:
        dest = fr.arc_dest
        if new_of_old is not None:
            ext = torch.cat([new_of_old, new_of_old.new_full((1,), -1)])
            dest = ext.index_select(0, torch.where(dest >= 0, dest,
                                                   torch.full_like(dest, ext.numel() - 1)))
        valid = dest >= 0
        # -1 (no destination) reads the -inf appended after the next frame's scores
        nb = torch.cat([nxt.bwd, nxt.bwd.new_full((1,), NEG_INF)])
        bwd_arc = fr.arc_ll + nb.index_select(0, torch.where(valid, dest,
                                                             torch.full_like(dest, nb.numel() - 1)))
        keep_arc = valid & (bwd_arc + fr.fwd.index_select(0, fr.arc_src) >= -self.beam)
        bwd_arc = torch.where(keep_arc, bwd_arc, torch.full_like(bwd_arc, NEG_INF))
        st_b = torch.full_like(fr.fwd, NEG_INF)
        st_b.scatter_reduce_(0, fr.arc_src, bwd_arc, reduce="amax")
        ka = _flat_nonzero(keep_arc)
        arcs = (fr.arc_src.index_select(0, ka), fr.arc_a.index_select(0, ka),
                fr.arc_ll.index_select(0, ka), dest.index_select(0, ka))
        return self._keep(fr, st_b, arcs, is_begin)

    def _dense_step(self, t: int, fr: _Frame, nxt: _Frame, is_begin: bool) -> torch.Tensor:
        tables = self.tables
        ll, bwd_arc, src_fwd, st_b = tables.prune_scores(self.step.frame_rows(t), fr, nxt,
                                                         self.beam)
        arcs = tables.kept_arcs(ll, bwd_arc, src_fwd, st_b, fr, nxt, self.beam)
        fr.dense = False
        return self._keep(fr, st_b[fr.seq, fr.a_state], arcs, is_begin)

    def _keep(self, fr: _Frame, st_b: torch.Tensor, arcs: tuple[torch.Tensor, ...],
              is_begin: bool) -> torch.Tensor:
        """Set the frame's backward scores from ``st_b`` (the best kept arc of each state),
        keep its states with one (all on the window's first frame) and the kept ``arcs``
        (source position, graph arc, log-like, destination position); returns the frame's
        renumbering (-1: dropped)."""
        fr.bwd = torch.where(self.is_final_a.index_select(0, fr.a_state), -fr.fwd, st_b)
        keep_state = fr.bwd != NEG_INF
        if is_begin:
            keep_state = torch.ones_like(keep_state)
        rank = torch.cumsum(keep_state.to(torch.int64), 0) - 1
        old2new = torch.where(keep_state, rank, torch.full_like(rank, -1))
        src, fr.arc_a, fr.arc_ll, fr.arc_dest = arcs
        fr.arc_src = old2new.index_select(0, src)
        ks = _flat_nonzero(keep_state)
        fr.seq, fr.a_state = fr.seq.index_select(0, ks), fr.a_state.index_select(0, ks)
        fr.fwd, fr.bwd = fr.fwd.index_select(0, ks), fr.bwd.index_select(0, ks)
        return old2new


def _format_pruned(a: Fsa, b: DenseFsaVec, frames: list[_Frame], num_seqs: int,
                   final_t: torch.Tensor, has_start: torch.Tensor,
                   seqframe_idx_name: str | None, frame_idx_name: str | None) -> Fsa:
    """Stack the frames into one FsaVec: per sequence, frame by frame, plus a lone final
    state where the final frame kept none."""
    device = a.device
    T = len(frames) - 1
    counts = torch.stack([torch.bincount(f.seq, minlength=num_seqs) for f in frames])
    final_count = counts.gather(0, final_t.clamp(max=T).unsqueeze(0)).squeeze(0)
    if bool((final_count > 1).any()):
        raise RuntimeError("intersect_dense_pruned: more than one final state")
    extra = (has_start & (final_count == 0)).to(torch.int64)
    states_per_seq = counts.sum(0) + extra
    splits1 = splits_from_sizes(states_per_seq)
    # offset of frame t's states within each sequence
    frame_off = torch.cumsum(counts, 0) - counts
    state_pos: list[torch.Tensor] = []  # global output id of every frame state
    for t, f in enumerate(frames):
        rank = torch.arange(f.seq.numel(), device=device) - \
            (torch.cumsum(counts[t], 0) - counts[t]).index_select(0, f.seq)
        state_pos.append(splits1[:-1].index_select(0, f.seq) + frame_off[t].index_select(
            0, f.seq) + rank)
    src_g, dst_g, amap, bmap = [], [], [], []
    b_rows = b.row_splits.long().to(device)
    col = a.arcs.values()[:, 2].long() + 1
    for t, f in enumerate(frames):
        if f.arc_src is None or f.arc_src.numel() == 0 or t + 1 > T:
            continue
        src_g.append(state_pos[t].index_select(0, f.arc_src))
        dst_g.append(state_pos[t + 1].index_select(0, f.arc_dest))
        amap.append(f.arc_a)
        seq = f.seq.index_select(0, f.arc_src)
        bmap.append((b_rows[:-1].index_select(0, seq) + t) * b.num_cols +
                    col.index_select(0, f.arc_a))
    if src_g:
        src_g, dst_g = torch.cat(src_g), torch.cat(dst_g)
        amap, bmap = torch.cat(amap), torch.cat(bmap)
        order = torch.sort(src_g, stable=True)[1]  # by sequence, frame, state, arc order
        src_g, dst_g, amap, bmap = (x.index_select(0, order) for x in (src_g, dst_g, amap,
                                                                       bmap))
    else:
        src_g = dst_g = amap = bmap = torch.zeros(0, dtype=torch.int64, device=device)
    total = int(splits1[-1])
    splits2 = splits_from_row_ids(src_g, total)
    state_seq = torch.repeat_interleave(torch.arange(num_seqs, device=device), states_per_seq,
                                        output_size=total)
    base = splits1[:-1].index_select(0, state_seq.index_select(0, src_g)) if src_g.numel() \
        else src_g
    return _finish(a, b, splits1, splits2, src_g - base, dst_g - base, amap, bmap,
                   seqframe_idx_name, frame_idx_name)


__all__ = ["intersect_dense", "intersect_dense_pruned"]
