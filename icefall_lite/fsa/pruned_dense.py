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
    >>> tables.by_dst.shape, tables.by_src.shape  # 5 states; in-degree 4, out-degree 5
    ((5, 4), (5, 5))
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")
_BIG = torch.iinfo(torch.int32).max  # the arc key of an arc that does not pass the beam
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


class SharedGraphTables:
    """The shared graph's arcs in the two padded tables, with the per-slot columns the
    steps gather: source/destination state, log-prob column, graph score, rank of the arc
    among its source state's arcs (the order the sparse step expands them in)."""

    def __init__(self, g, num_seqs: int, by_dst: torch.Tensor, by_src: torch.Tensor):
        self.num_seqs, self.S = num_seqs, g.num_states
        self.by_dst, self.by_src = by_dst, by_src
        self.d_in, self.d_out = by_dst.shape[1], by_src.shape[1]
        dummy = self.S

        def column(table: torch.Tensor, values: torch.Tensor, pad) -> torch.Tensor:
            flat = table.reshape(-1)
            return torch.where(flat >= 0, values.index_select(0, flat.clamp(min=0)),
                               torch.full_like(values[:1], pad).expand(flat.numel()))

        rank = torch.arange(g.src.numel(), device=g.src.device) - g.splits2.index_select(0, g.src)
        self.x_src = column(by_dst, g.src, dummy)
        self.x_col = column(by_dst, g.col, 0)
        self.x_score = column(by_dst, g.scores, 0.0)
        self.x_rank = column(by_dst, rank, 0).to(torch.int32)
        self.y_arc = by_src.reshape(-1)
        self.y_dst = column(by_src, g.dst, dummy)
        self.y_col = column(by_src, g.col, 0)
        self.y_score = column(by_src, g.scores, 0.0)
        self.total_arcs = g.src.numel()

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
                S * d_out >= _BIG - d_out:
            return None
        return SharedGraphTables(g, num_seqs, _padded(g.dst, S), _padded(g.src, S))

    def worth_it(self, active_arcs: int) -> bool:
        """Whether a frame whose active states have ``active_arcs`` arcs in all should be
        stepped densely (a dense slot costs about a third of an expanded arc)."""
        return 3 * active_arcs >= self.num_seqs * self.S * self.d_in

    def _dense(self, seq: torch.Tensor, a_state: torch.Tensor, values: torch.Tensor,
               fill) -> torch.Tensor:
        """``[num_seqs, S + 1]`` table of per-state ``values`` (``fill`` elsewhere and in the
        dummy column)."""
        out = torch.full((self.num_seqs, self.S + 1), fill, dtype=values.dtype,
                         device=values.device)
        out[seq, a_state] = values
        return out

    def forward_scores(self, lp_t: torch.Tensor, seq: torch.Tensor, a_state: torch.Tensor,
                       fwd: torch.Tensor) -> torch.Tensor:
        """End scores ``fwd[src] + (log-prob + graph score)`` of every slot of the table by
        destination, ``[num_seqs, S * d_in]``; ``lp_t`` is ``[num_seqs, C + 1]``, the frame's
        row of each sequence."""
        end = lp_t.index_select(1, self.x_col)
        end += self.x_score
        src_fwd = self._dense(seq, a_state, fwd, NEG_INF).index_select(1, self.x_src)
        return src_fwd.add_(end)  # float addition commutes: the sparse step's bits

    def next_states(self, end: torch.Tensor, cutoff: torch.Tensor, seq: torch.Tensor,
                    a_state: torch.Tensor, seq_start: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(sequence, graph state, forward score) of the next frame's states: those entered
        by an arc with end score above its sequence's cutoff, per sequence in the order of
        their first such arc in expansion order (source position in the frame, then arc
        rank), with the best end score of all arcs entering them."""
        N, S = self.num_seqs, self.S
        pos = torch.arange(seq.numel(), device=seq.device) - seq_start.index_select(0, seq)
        base = self._dense(seq, a_state, (pos * self.d_out).to(torch.int32), _BIG - self.d_out)
        key = base.index_select(1, self.x_src).add_(self.x_rank)
        key.masked_fill_(end <= cutoff.unsqueeze(1), _BIG)
        first = key.view(N, S, self.d_in).amin(-1)
        fwd_next = end.view(N, S, self.d_in).amax(-1)
        first, order = torch.sort(first, dim=1)
        sel = first < _BIG
        out_seq = torch.arange(N, device=seq.device).unsqueeze(1).expand(N, S)[sel]
        return out_seq, order[sel], fwd_next.gather(1, order)[sel]

    def prune_scores(self, lp_t: torch.Tensor, fr, nxt, beam: float
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The backward-pruning scores of a frame stepped densely: (arc log-likes
        ``[num_seqs, S, d_out]``, whether each slot's arc is kept, the best kept
        ``ll + bwd[dst]`` of each state ``[num_seqs, S]``). ``fr``/``nxt`` are the frame and
        the next one (with its backward scores)."""
        N, S = self.num_seqs, self.S
        ll = lp_t.index_select(1, self.y_col)
        ll += self.y_score
        bwd_dst = self._dense(nxt.seq, nxt.a_state, nxt.bwd, NEG_INF).index_select(1, self.y_dst)
        bwd_arc = bwd_dst.view(N, S, self.d_out)
        bwd_arc += ll.view(N, S, self.d_out)  # the sparse step's ``arc_ll + bwd[dst]``
        src_fwd = self._dense(fr.seq, fr.a_state, fr.fwd, NEG_INF)[:, :S].unsqueeze(2)
        keep = (bwd_arc + src_fwd) >= -beam
        bwd_arc.masked_fill_(~keep, NEG_INF)
        return ll.view(N, S, self.d_out), keep, bwd_arc.amax(-1)

    def kept_arcs(self, ll: torch.Tensor, keep: torch.Tensor, st_b: torch.Tensor, fr, nxt
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The kept arcs of a densely stepped frame as the sparse step stores them: (source
        position in ``fr``, graph arc, log-like, destination position in ``nxt``), ordered
        by source position, then arc rank."""
        S, d_out = self.S, self.d_out
        rows = (st_b.reshape(-1) != NEG_INF).nonzero().squeeze(1)  # (seq, state) with arcs
        r, k = keep.view(-1, d_out).index_select(0, rows).nonzero(as_tuple=True)
        row = rows.index_select(0, r)
        slot = (row % S) * d_out + k
        seq = row // S
        dev = row.device
        pos_fr = self._dense(fr.seq, fr.a_state, torch.arange(fr.seq.numel(), device=dev), -1)
        pos_nxt = self._dense(nxt.seq, nxt.a_state, torch.arange(nxt.seq.numel(), device=dev),
                              -1)
        src = pos_fr[seq, row % S]
        dest = pos_nxt[seq, self.y_dst.index_select(0, slot)]
        order = torch.sort(src * d_out + k)[1]
        src, slot, dest = src.index_select(0, order), slot.index_select(0, order), \
            dest.index_select(0, order)
        flat = seq.index_select(0, order) * (S * d_out) + slot
        return src, self.y_arc.index_select(0, slot), ll.reshape(-1).index_select(0, flat), dest


__all__ = ["SharedGraphTables"]
