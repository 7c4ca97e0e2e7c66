"""Dense frame steps of ``intersect_dense_pruned`` for one graph shared by all sequences.

When most of a small shared graph is active on a frame (a CTC topology: every token state
stays within the search beam), expanding the active states' arcs one by one costs far more
than scoring every arc of the graph for every sequence in fixed tables. The graph's arcs are
laid out twice as padded tables of shape ``[S, D]`` (``S`` graph states):

* by destination state (``D`` = largest in-degree): a state's forward score is the max of a
  table row, and its first-arriving arc the min of a row of arc keys;
* by source state (``D`` = largest out-degree): a state's backward score is the max of a row.

Pad slots point at a dummy state ``S`` whose scores are ``-inf``. Per frame the work is a few
gathers and row reductions over ``[num_seqs, S * D]`` tensors, with no arc lists: a frame
stepped this way keeps only its states, and its arcs are scored again when the backward
pruning first reaches it (the same float operations in the same order, so the same bits),
which then keeps only the arcs that survive pruning, in the order the sparse step would
have stored them. Results are identical to the sparse steps of :mod:`.intersect_dense`.

Example::

    >>> from icefall_lite.fsa import ctc_topo
    >>> from icefall_lite.fsa.intersect_dense import _Graph
    >>> from icefall_lite.fsa.dense import DenseFsaVec
    >>> import torch
    >>> lp = torch.randn(2, 3, 4).log_softmax(-1)
    >>> dense = DenseFsaVec(lp, torch.tensor([[0, 0, 3], [1, 0, 3]], dtype=torch.int32))
    >>> tables = SharedGraphTables.build(_Graph(ctc_topo(3), dense, "example"), 2)
    >>> tuple(tables.by_dst.shape), tuple(tables.by_src.shape)  # 5 states; in 4, out 5 arcs
    ((5, 4), (5, 5))
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")
_MASKED = float(1 << 25)  # added to the key of an arc that does not pass the beam
_MAX_KEY = 1 << 24  # arc keys are float32 integers below this (exact)
_MAX_CELLS = 1 << 25  # largest [num_seqs, S * D] table the dense steps may allocate
_MAX_PADDING = 2  # tables may hold at most this many slots per arc (plus one per state)


def _padded(group: torch.Tensor, num_groups: int) -> torch.Tensor:
    """Arc ids grouped by ``group`` (stable) in a ``[num_groups, max group size]`` table,
    ``-1`` in pad slots."""
    order = torch.sort(group, stable=True)[1]
    counts = torch.bincount(group, minlength=num_groups)
    width = int(counts.max()) if group.numel() else 0
    start = torch.cumsum(counts, 0) - counts
    g = group.index_select(0, order)
    rank = torch.arange(order.numel(), device=group.device) - start.index_select(0, g)
    table = torch.full((num_groups, width), -1, dtype=torch.int64, device=group.device)
    table[g, rank] = order
    return table


def _column(table: torch.Tensor, values: torch.Tensor, pad) -> torch.Tensor:
    """``values`` of the arcs in the table's slots (flattened), ``pad`` in pad slots."""
    flat = table.reshape(-1)
    return torch.where(flat >= 0, values.index_select(0, flat.clamp(min=0)),
                       torch.full_like(values[:1], pad).expand(flat.numel()))


class SharedGraphTables:
    """The shared graph's arcs in the two padded tables, with the per-slot columns the
    steps gather (source/destination state, log-prob column, graph score, rank of the arc
    among its source state's arcs: the order the sparse step expands them in), and the
    work buffers of one ``intersect_dense_pruned`` call (reused frame after frame: fresh
    tensors of this size cost more in page faults than the arithmetic on them)."""

    def __init__(self, g, num_seqs: int, by_dst: torch.Tensor, by_src: torch.Tensor):
        self.num_seqs, self.S = num_seqs, g.num_states
        self.by_dst, self.by_src = by_dst, by_src
        self.d_in, self.d_out = by_dst.shape[1], by_src.shape[1]
        dummy = self.S
        scored = bool((g.scores != 0).any())  # graph scores all 0 (a CTC topology): no add
        rank = torch.arange(g.src.numel(), device=g.src.device) - g.splits2.index_select(0, g.src)
        # int32 indexes: index_select reads them faster than int64 ones
        self.x_src = _column(by_dst, g.src, dummy).to(torch.int32)
        self.x_col = _column(by_dst, g.col, 0).to(torch.int32)
        self.x_score = _column(by_dst, g.scores, 0.0) if scored else None
        self.x_rank = _column(by_dst, rank, 0).to(torch.float32)
        self.y_arc = by_src.reshape(-1)
        self.y_dst = _column(by_src, g.dst, dummy).to(torch.int32)
        self.y_col = _column(by_src, g.col, 0).to(torch.int32)
        self.y_score = _column(by_src, g.scores, 0.0) if scored else None
        dev = g.src.device
        nx, ny = (num_seqs, self.x_src.numel()), (num_seqs, self.y_dst.numel())
        self._ll, self._end = torch.empty(nx, device=dev), torch.empty(nx, device=dev)
        self._key = torch.empty(nx, device=dev)
        self._mask = torch.empty(nx, dtype=torch.bool, device=dev)
        self._yll, self._ybwd = torch.empty(ny, device=dev), torch.empty(ny, device=dev)

    @staticmethod
    def build(g, num_seqs: int) -> SharedGraphTables | None:
        """The tables of a single graph ``g`` (an ``intersect_dense._Graph``), or None where
        they would be too large or too sparse (padding) to pay off."""
        S, A = g.num_states, g.src.numel()
        if g.num_fsas != 1 or A == 0:
            return None
        d_in = int(torch.bincount(g.dst, minlength=S).max())
        d_out = int(g.splits2.diff().max())
        cells = S * max(d_in, d_out)
        if cells > _MAX_PADDING * A + S or num_seqs * cells > _MAX_CELLS or \
                (S + 1) * d_out > _MAX_KEY:
            return None
        return SharedGraphTables(g, num_seqs, _padded(g.dst, S), _padded(g.src, S))

    def worth_it(self, active_arcs: int) -> bool:
        """Whether a frame whose active states have ``active_arcs`` arcs in all should be
        stepped densely (a dense slot costs about a fifth of an expanded arc)."""
        return 5 * active_arcs >= self.num_seqs * self.S * self.d_in

    def _dense(self, seq: torch.Tensor, a_state: torch.Tensor, values: torch.Tensor,
               fill) -> torch.Tensor:
        """``[num_seqs, S + 1]`` table of per-state ``values`` (``fill`` elsewhere and in the
        dummy column)."""
        out = torch.full((self.num_seqs, self.S + 1), fill, dtype=values.dtype,
                         device=values.device)
        out[seq, a_state] = values
        return out

    def _log_likes(self, lp_t: torch.Tensor, col: torch.Tensor, score: torch.Tensor | None,
                   out: torch.Tensor) -> torch.Tensor:
        """``log-prob + graph score`` of each slot (the sparse step's ``ll``, same bits)."""
        ll = torch.index_select(lp_t, 1, col, out=out)
        return ll if score is None else ll.add_(score)

    def forward_scores(self, lp_t: torch.Tensor, seq: torch.Tensor, a_state: torch.Tensor,
                       fwd: torch.Tensor) -> torch.Tensor:
        """End scores ``fwd[src] + ll`` of every slot of the table by destination,
        ``[num_seqs, S * d_in]`` (valid until the next call); ``lp_t`` is
        ``[num_seqs, C + 1]``, the frame's row of each sequence."""
        ll = self._log_likes(lp_t, self.x_col, self.x_score, self._ll)
        src_fwd = self._dense(seq, a_state, fwd, NEG_INF)
        end = torch.index_select(src_fwd, 1, self.x_src, out=self._end)
        return end.add_(ll)  # float addition commutes: the sparse step's bits

    def next_states(self, end: torch.Tensor, cutoff: torch.Tensor, seq: torch.Tensor,
                    a_state: torch.Tensor, seq_start: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(sequence, graph state, forward score) of the next frame's states: those entered
        by an arc with end score above its sequence's cutoff, per sequence in the order of
        their first such arc in expansion order (source position in the frame, then arc
        rank), with the best end score of all arcs entering them."""
        N, S = self.num_seqs, self.S
        pos = torch.arange(seq.numel(), device=seq.device) - seq_start.index_select(0, seq)
        # key of a slot: source position * d_out + rank (an exact float32 integer below
        # _MAX_KEY; float gathers are faster than int32 ones); inactive sources have end
        # -inf, so they are always masked
        base = self._dense(seq, a_state, (pos * self.d_out).to(torch.float32), 0.0)
        key = torch.index_select(base, 1, self.x_src, out=self._key).add_(self.x_rank)
        key.add_(torch.le(end, cutoff.unsqueeze(1), out=self._mask), alpha=_MASKED)
        first = key.view(N, S, self.d_in).amin(-1)
        fwd_next = end.view(N, S, self.d_in).amax(-1)
        first, order = torch.sort(first, dim=1)
        sel = first < _MASKED
        out_seq = torch.arange(N, device=seq.device).unsqueeze(1).expand(N, S)[sel]
        return out_seq, order[sel], fwd_next.gather(1, order)[sel]

    def prune_scores(self, lp_t: torch.Tensor, fr, nxt, beam: float
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The backward-pruning scores of a frame stepped densely: (arc log-likes and
        ``ll + bwd[dst]`` of each slot of the table by source, ``[num_seqs, S, d_out]``
        (valid until the next call), each state's forward score and best kept
        ``ll + bwd[dst]``, ``[num_seqs, S]``). ``fr``/``nxt`` are the frame and the next one
        (with its backward scores).

        An arc is kept if ``ll + bwd[dst] + fwd[src] >= -beam``; for one source that holds
        for all values of ``ll + bwd[dst]`` from some threshold up (rounding is monotone),
        so the best kept one is the row's max, if that is kept."""
        N, S = self.num_seqs, self.S
        ll = self._log_likes(lp_t, self.y_col, self.y_score, self._yll)
        bwd_next = self._dense(nxt.seq, nxt.a_state, nxt.bwd, NEG_INF)
        bwd_arc = torch.index_select(bwd_next, 1, self.y_dst, out=self._ybwd)
        bwd_arc += ll  # the sparse step's ``arc_ll + bwd[dst]``
        bwd_arc = bwd_arc.view(N, S, self.d_out)
        best = bwd_arc.amax(-1)
        src_fwd = self._dense(fr.seq, fr.a_state, fr.fwd, NEG_INF)[:, :S]
        st_b = torch.where(best + src_fwd >= -beam, best, torch.full_like(best, NEG_INF))
        return ll.view(N, S, self.d_out), bwd_arc, src_fwd, st_b

    def kept_arcs(self, ll: torch.Tensor, bwd_arc: torch.Tensor, src_fwd: torch.Tensor,
                  st_b: torch.Tensor, fr, nxt, beam: float
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The kept arcs of a densely stepped frame as the sparse step stores them: (source
        position in ``fr``, graph arc, log-like, destination position in ``nxt``), ordered
        by source position, then arc rank."""
        S, d_out = self.S, self.d_out
        rows = (st_b.reshape(-1) != NEG_INF).nonzero().squeeze(1)  # (seq, state) with arcs
        sub = bwd_arc.reshape(-1, d_out).index_select(0, rows)
        keep = (sub + src_fwd.reshape(-1).index_select(0, rows).unsqueeze(1)) >= -beam
        r, k = keep.nonzero(as_tuple=True)
        row = rows.index_select(0, r)
        state = row % S
        slot = state * d_out + k
        seq = row // S
        dev = row.device
        pos_fr = self._dense(fr.seq, fr.a_state, torch.arange(fr.seq.numel(), device=dev), -1)
        pos_nxt = self._dense(nxt.seq, nxt.a_state, torch.arange(nxt.seq.numel(), device=dev),
                              -1)
        src = pos_fr[seq, state]
        dest = pos_nxt[seq, self.y_dst.index_select(0, slot).long()]
        order = torch.sort(src * d_out + k)[1]
        src, slot, dest = src.index_select(0, order), slot.index_select(0, order), \
            dest.index_select(0, order)
        flat = seq.index_select(0, order) * (S * d_out) + slot
        return src, self.y_arc.index_select(0, slot), ll.reshape(-1).index_select(0, flat), dest


__all__ = ["SharedGraphTables"]
