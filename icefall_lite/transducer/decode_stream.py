"""RNN-T decoding streams: the engine of ``fast_beam_search`` (k2's ``RnntDecodingStreams``).

A stream decodes one utterance against a decoding graph (``k2.trivial_graph`` or an LG). Its
search state is a set of ``(context, graph_state)`` pairs, encoded as one int64
``context_state * num_graph_states + graph_state`` where ``context_state`` packs the last
``decoder_history_len`` tokens in base ``vocab_size``; scores are float64. Per frame, for all
streams at once (see docs/design/algorithms.rst §4):

1. :meth:`RnntDecodingStreams.get_contexts` lists the distinct contexts; the caller runs the
   decoder and joiner once per context;
2. :meth:`RnntDecodingStreams.advance` expands every state by an implicit blank self-loop and by
   the graph arcs leaving its graph state, prunes the expansions against the best state of the
   previous frame minus ``beam``, merges equal destination states (Viterbi), keeps at most
   ``max_states`` states and then ``max_contexts`` contexts per stream, and records every arc that
   reaches a surviving state;
3. :meth:`RnntDecodingStreams.terminate_and_flush_to_streams` hands the search state and the
   recorded frames back to the individual streams (a stream may continue in a new
   ``RnntDecodingStreams`` for its next chunk), and
   :meth:`RnntDecodingStreams.format_output` lays the recorded arcs out as a lattice (an FsaVec).

Everything is vectorised over streams, states and arcs; only frames are a Python loop. On the
CPU a frame runs in numpy (:meth:`RnntDecodingStreams._advance_numpy`: a few microseconds per
operation where torch takes tens, and a first pruning pass over each stream's strongest arcs
only); on other devices in torch. Both give k2's lattice, arc for arc.

Example::

    >>> import torch
    >>> from icefall_lite import k2
    >>> graph = k2.trivial_graph(3)
    >>> config = RnntDecodingConfig(vocab_size=4, decoder_history_len=2, beam=4.0,
    ...                             max_states=16, max_contexts=4)
    >>> streams = RnntDecodingStreams([RnntDecodingStream(graph)], config)
    >>> for t in range(3):
    ...     shape, contexts = streams.get_contexts()
    ...     streams.advance(torch.randn(contexts.shape[0], 4).log_softmax(-1))
    >>> streams.terminate_and_flush_to_streams()
    >>> lattice = streams.format_output([3])
    >>> lattice.shape[0]
    1
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from icefall_lite.fsa import Fsa, RaggedShape, RaggedTensor, paths, ragged
from icefall_lite.fsa.cpu_loops import expand_ranges as expand_ranges_np

# torch 1.13 flags scatter_reduce as beta; its semantics for "amax" are settled.
warnings.filterwarnings("ignore", message="scatter_reduce\\(\\) is in beta")

# float32 rounding of (log-prob + graph score) versus the float64 beam test stays far below this
_PREFILTER_MARGIN = 1e-2

__all__ = ["RnntDecodingConfig", "RnntDecodingStream", "RnntDecodingStreams"]


@dataclass
class RnntDecodingConfig:
    """Search limits of :class:`RnntDecodingStreams` (k2's signature and field names).

    Args:
      vocab_size: number of tokens (largest token id + 1); token 0 is blank.
      decoder_history_len: tokens of context the stateless decoder sees (``context_size``).
      beam: a state survives a frame only if its score is within ``beam`` of the best state of
        the stream (also applied to contexts).
      max_states: most states kept per stream per frame (``<= 0``: no limit).
      max_contexts: most distinct contexts kept per stream per frame (``<= 0``: no limit).
    """

    vocab_size: int
    decoder_history_len: int
    beam: float
    max_states: int
    max_contexts: int

    def __post_init__(self) -> None:
        if self.vocab_size < 1:
            raise ValueError(f"RnntDecodingConfig: vocab_size must be >= 1, got {self.vocab_size}")
        if self.decoder_history_len < 1:
            raise ValueError(
                "RnntDecodingConfig: decoder_history_len must be >= 1, "
                f"got {self.decoder_history_len}"
            )
        if self.vocab_size ** self.decoder_history_len >= 2**40:
            raise ValueError(
                "RnntDecodingConfig: vocab_size ** decoder_history_len must stay below 2**40 so "
                "that (context, graph state) pairs fit in int64"
            )


@dataclass
class _Chunk:
    """The arcs recorded by one :class:`RnntDecodingStreams` between its creation and its
    termination, shared by its streams. Arcs are ordered by frame, stream, source state.

    ``frame``, ``stream``, ``src``, ``dst``: int64 [E] (``src``/``dst`` are state indexes within
    the stream's states on that frame / the next frame); ``label``: int64 [E] (0 for the blank
    self-loop, else the graph arc's label); ``score``: float32 [E]; ``graph_arc``: int64 [E]
    (index of the graph arc within the stream's graph, -1 for the blank self-loop);
    ``num_states``: int64 [F, N], source states per frame and stream.
    """

    frame: torch.Tensor
    stream: torch.Tensor
    src: torch.Tensor
    dst: torch.Tensor
    label: torch.Tensor
    score: torch.Tensor
    graph_arc: torch.Tensor
    num_states: torch.Tensor


@dataclass
class _ChunkRef:
    chunk: _Chunk
    stream_index: int
    frame_offset: int


class RnntDecodingStream:
    """The decoding state of one utterance against ``fsa`` (its decoding graph).

    Args:
      fsa: a single FSA (2 axes), epsilon-free, whose last state is the final state; arcs
        with label -1 enter it: a built-in ``Fsa`` (real k2's graphs go to real k2's streams;
        :func:`icefall_lite.k2.namespace_of` says which).
    """

    def __init__(self, fsa: Fsa) -> None:
        if not isinstance(fsa, Fsa):
            raise TypeError(
                f"RnntDecodingStream: expected a built-in Fsa, got {type(fsa).__module__}."
                f"{type(fsa).__name__} (decode a real k2 graph with real k2's RnntDecodingStream)"
            )
        if fsa.arcs.num_axes() != 2:
            raise ValueError("RnntDecodingStream: fsa must be a single FSA (2 axes), got an FsaVec")
        self.fsa = fsa
        self.device = fsa.device
        self.num_graph_states = int(fsa.arcs.dim0())
        self.values = torch.zeros(1, dtype=torch.int64, device=self.device)
        self.scores = torch.zeros(1, dtype=torch.float64, device=self.device)
        self.chunks: list[_ChunkRef] = []
        self.num_frames = 0

    def __str__(self) -> str:
        return (
            f"RnntDecodingStream(num_graph_states={self.num_graph_states}, "
            f"active_states={self.values.numel()}, frames={self.num_frames}, device={self.device})"
        )


@dataclass
class _Graphs:
    """Distinct decoding graphs of the streams, concatenated: per stream an offset into the
    combined state axis; per combined state the range of its arcs."""

    row_splits: torch.Tensor  # int64 [total_states + 1], into the combined arcs
    labels: torch.Tensor  # int64 [total_arcs]
    dest: torch.Tensor  # int64 [total_arcs], local to its graph
    scores: torch.Tensor  # float32 [total_arcs]
    state_offset: torch.Tensor  # int64 [N]
    arc_offset: torch.Tensor  # int64 [N]
    num_states: torch.Tensor  # int64 [N]
    max_states: int = 1


def _combine_graphs(fsas: list, device: torch.device) -> _Graphs:
    index_of: dict[int, int] = {}
    distinct = []
    for fsa in fsas:
        if id(fsa) not in index_of:
            index_of[id(fsa)] = len(distinct)
            distinct.append(fsa)
    row_splits, labels, dest, scores = [], [], [], []
    g_state_off, g_arc_off, g_num_states = [], [], []
    state_base = arc_base = 0
    for fsa in distinct:
        rs = fsa.arcs.row_splits(1).to(device=device, dtype=torch.int64)
        values = fsa.arcs.values().to(device)
        num_states = rs.numel() - 1
        row_splits.append(rs[:-1] + arc_base)
        labels.append(values[:, 2].long())
        dest.append(values[:, 1].long())
        scores.append(fsa.scores.detach().to(device=device, dtype=torch.float32))
        g_state_off.append(state_base)
        g_arc_off.append(arc_base)
        g_num_states.append(num_states)
        state_base += num_states
        arc_base += values.shape[0]
    row_splits.append(torch.tensor([arc_base], dtype=torch.int64, device=device))
    which = torch.tensor([index_of[id(f)] for f in fsas], dtype=torch.int64, device=device)

    def per_stream(values: list[int]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.int64, device=device)[which]

    return _Graphs(
        row_splits=torch.cat(row_splits),
        labels=torch.cat(labels),
        dest=torch.cat(dest),
        scores=torch.cat(scores),
        state_offset=per_stream(g_state_off),
        arc_offset=per_stream(g_arc_off),
        num_states=per_stream(g_num_states),
        max_states=max(g_num_states),
    )


def _segment_starts(keys_changed: torch.Tensor) -> torch.Tensor:
    """Given a bool [n] "row i starts a new segment" (row 0 must be True), segment id per row."""
    return torch.cumsum(keys_changed.long(), 0) - 1


def _changed(*keys: torch.Tensor) -> torch.Tensor:
    n = keys[0].numel()
    out = torch.ones(n, dtype=torch.bool, device=keys[0].device)
    if n > 1:
        diff = torch.zeros(n - 1, dtype=torch.bool, device=keys[0].device)
        for k in keys:
            diff |= k[1:] != k[:-1]
        out[1:] = diff
    return out


def _segment_max(values: torch.Tensor, seg: torch.Tensor, num_segs: int) -> torch.Tensor:
    out = torch.full((num_segs,), float("-inf"), dtype=values.dtype, device=values.device)
    return out.scatter_reduce(0, seg, values, reduce="amax", include_self=True)


def _rank_within(group: torch.Tensor, score: torch.Tensor, num_groups: int) -> torch.Tensor:
    """Rank (0 = best) of each element by descending score within its group; ``group`` must be
    sorted. Ties keep the input order. One row-wise sort of a padded [groups, longest] matrix."""
    counts = torch.bincount(group, minlength=num_groups)
    pos = torch.arange(group.numel(), device=group.device) - (torch.cumsum(counts, 0) - counts)[
        group
    ]
    width = int(counts.max())
    table = torch.full((num_groups, width), float("-inf"), dtype=score.dtype, device=score.device)
    table[group, pos] = score
    order = torch.sort(table, dim=1, descending=True, stable=True)[1]
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(width, device=group.device).expand(num_groups, width))
    return ranks[group, pos]


def _group_order(stream: torch.Tensor, value: torch.Tensor, value_bound: int, num_streams: int):
    """Permutation that sorts ``(stream, value)`` pairs, and the sorted pairs. One sort of a
    combined int64 key when it cannot overflow, else two stable sorts."""
    if value_bound * max(num_streams, 1) < 2**62:
        key, order = torch.sort(stream * value_bound + value)
        return order, key // value_bound, key % value_bound
    order = torch.sort(value, stable=True)[1]
    order = order[torch.sort(stream[order], stable=True)[1]]
    return order, stream[order], value[order]


def _prune(
    group: torch.Tensor, score: torch.Tensor, num_groups: int, beam: float, max_elems: int
) -> torch.Tensor:
    """Keep-mask: score within ``beam`` of its group's best, and among the ``max_elems`` best.

    Only elements inside the beam are ranked: everything outside it scores lower than all of
    them, so their ranks are unchanged."""
    best = _segment_max(score, group, num_groups)
    keep = score >= best[group] - beam
    if 0 < max_elems < score.numel():
        inside = torch.nonzero(keep).squeeze(1)
        if inside.numel() > max_elems:
            ranks = _rank_within(group[inside], score[inside], num_groups)
            keep[inside[ranks >= max_elems]] = False
    return keep


# -- the CPU engine: numpy ------------------------------------------------------------------
# On the CPU a frame runs in numpy (a few microseconds per operation instead of torch's tens,
# which dominates small frames); other devices use the torch code above. Like the FSA
# algorithms' numpy loops it follows ``paths.NUMPY_LOOPS`` (False: the torch code on the CPU
# too); the tests flip it to check both engines against real k2.

# the first Viterbi pass of a frame looks only at each stream's _STRONG_FACTOR * max_states best
# expanded arcs (see RnntDecodingStreams._advance_numpy)
_STRONG_FACTOR = 4


@dataclass
class _NpGraphs:
    """The graphs of :class:`_Graphs` for the numpy engine. Every state's arcs are preceded by
    a virtual blank self-loop (label 0, score -0.0, graph arc -1), so that expanding a state's
    arcs in order lists its lattice arcs in k2's order (blank first). Its score is -0.0, the
    identity of float addition, so that the blank's weight is its log-prob bit for bit (k2's;
    +0.0 would turn a log-prob of -0.0 into +0.0)."""

    row_splits: np.ndarray  # int64 [total_states + 1], into the arcs below
    labels: np.ndarray  # int64 [arcs]
    label_index: np.ndarray  # int64 [arcs], max(label, 0): the log-prob column of the arc
    dest: np.ndarray  # int64 [arcs], local to the graph (the blank: its own state)
    scores: np.ndarray  # float64 [arcs]
    graph_arc: np.ndarray  # int64 [arcs], index within its graph; -1 for the blank
    state_offset: np.ndarray  # int64 [N]
    num_states: np.ndarray  # int64 [N]
    single: bool  # one graph for all streams (state_offset all 0)
    uniform_states: int  # the graphs' common number of states, else 0
    is_token: np.ndarray  # int64 [arcs], label > 0
    dest_key: np.ndarray  # int64 [arcs], dest + label_index * uniform_states
    key_base: int  # (stream, state value) -> stream * key_base + value, in int64


def _np_graphs(g: _Graphs, key_base: int) -> _NpGraphs:
    row_splits = g.row_splits.numpy()
    total = row_splits.size - 1
    states = np.arange(total)
    ext_splits = row_splits + np.arange(total + 1)
    is_arc = np.ones(int(ext_splits[-1]), dtype=bool)
    is_arc[ext_splits[:-1]] = False
    state_bases = np.unique(g.state_offset.numpy())
    local_state = states - state_bases[np.searchsorted(state_bases, states, side="right") - 1]
    arc_bases = np.unique(g.arc_offset.numpy())
    arcs = np.arange(row_splits[-1])
    local_arc = arcs - arc_bases[np.searchsorted(arc_bases, arcs, side="right") - 1]

    def spread(blank_values, arc_values, dtype):
        out = np.empty(is_arc.size, dtype=dtype)
        out[~is_arc] = blank_values
        out[is_arc] = arc_values
        return out

    labels = spread(0, g.labels.numpy(), np.int64)
    label_index = np.maximum(labels, 0)
    dest = spread(local_state, g.dest.numpy(), np.int64)
    num_states = g.num_states.numpy()
    uniform = int(num_states[0]) if (num_states == num_states[0]).all() else 0
    return _NpGraphs(
        row_splits=ext_splits,
        labels=labels,
        label_index=label_index,
        dest=dest,
        scores=spread(-0.0, g.scores.double().numpy(), np.float64),
        graph_arc=spread(-1, local_arc, np.int64),
        state_offset=g.state_offset.numpy(),
        num_states=num_states,
        single=state_bases.size == 1,
        uniform_states=uniform,
        is_token=(labels > 0).astype(np.int64),
        dest_key=dest + label_index * uniform,
        key_base=key_base,
    )


def _np_starts(*keys: np.ndarray) -> np.ndarray:
    """Indexes where a run of equal ``keys`` tuples begins (keys sorted so that runs are
    contiguous)."""
    n = keys[0].size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    changed = np.ones(n, dtype=bool)
    if n > 1:
        diff = keys[0][1:] != keys[0][:-1]
        for k in keys[1:]:
            diff |= k[1:] != k[:-1]
        changed[1:] = diff
    return np.flatnonzero(changed)


def _np_run_ids(starts: np.ndarray, n: int) -> np.ndarray:
    """Run index of each of ``n`` elements, given where the runs start."""
    marks = np.zeros(n, dtype=np.int64)
    marks[starts[1:]] = 1
    return np.cumsum(marks)


def _np_group_max(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Largest of each group of ``values`` (groups contiguous, of sizes ``counts``; -inf for an
    empty group)."""
    out = np.full(counts.size, -np.inf)
    nonempty = counts > 0
    if values.size:
        out[nonempty] = np.maximum.reduceat(values, (np.cumsum(counts) - counts)[nonempty])
    return out


def _np_prune(stream: np.ndarray, score: np.ndarray, num_streams: int, beam: float,
              max_elems: int) -> np.ndarray:
    """numpy :func:`_prune` (``stream`` sorted): within ``beam`` of the stream's best and among
    its ``max_elems`` best, ties ranked in input order.

    The best and the ``max_elems``-th best score per stream come from one partial sort of a
    padded [streams, longest] table. A stream that keeps too many has a tie at its cut: of the
    elements scoring exactly the cut, the first ones in input order fill the room the elements
    above the cut leave."""
    n = score.size
    counts = np.bincount(stream, minlength=num_streams)
    width = int(counts.max()) if n else 0
    if max_elems <= 0 or width <= max_elems:
        return score >= _np_group_max(score, counts)[stream] - beam
    starts = np.cumsum(counts) - counts
    table = np.full((num_streams, width), -np.inf)
    table[stream, np.arange(n) - starts[stream]] = score
    part = np.partition(table, (width - max_elems, width - 1), axis=1)
    cut = part[:, width - max_elems]
    keep = score >= np.maximum(part[:, width - 1] - beam, cut)[stream]
    over = np.bincount(stream[keep], minlength=num_streams) > max_elems
    if over.any():
        at_cut = keep & (score == cut[stream])
        room = max_elems - np.bincount(stream[keep & ~at_cut], minlength=num_streams)
        tied = np.flatnonzero(at_cut & over[stream])
        tied_stream = stream[tied]
        tied_counts = np.bincount(tied_stream, minlength=num_streams)
        rank = np.arange(tied.size) - (np.cumsum(tied_counts) - tied_counts)[tied_stream]
        keep[tied[rank >= room[tied_stream]]] = False
    return keep


def _np_lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each of ``keys`` in ``sorted_keys`` and whether it is there."""
    at = np.searchsorted(sorted_keys, keys)
    if sorted_keys.size == 0:
        return at, np.zeros(keys.size, dtype=bool)
    return at, sorted_keys[np.minimum(at, sorted_keys.size - 1)] == keys


class RnntDecodingStreams:
    """Several :class:`RnntDecodingStream` decoded together, one frame at a time.

    Args:
      src_streams: the streams (each with its own graph; they may share one).
      config: the search limits.
    """

    def __init__(self, src_streams: list[RnntDecodingStream], config: RnntDecodingConfig) -> None:
        if len(src_streams) == 0:
            raise ValueError("RnntDecodingStreams: src_streams must not be empty")
        self.num_streams = len(src_streams)
        self.src_streams = src_streams
        self.config = config
        self.device = src_streams[0].device
        self._graphs = _combine_graphs([s.fsa for s in src_streams], self.device)
        counts = torch.tensor([s.values.numel() for s in src_streams], device=self.device)
        self._stream = torch.repeat_interleave(
            torch.arange(self.num_streams, device=self.device), counts
        )
        self._values = torch.cat([s.values.to(self.device) for s in src_streams])
        self._scores = torch.cat([s.scores.to(self.device) for s in src_streams])
        self._frames: list[dict[str, torch.Tensor]] = []
        self._attached = True
        V, H = config.vocab_size, config.decoder_history_len
        self._pow = V ** torch.arange(H, -1, -1, device=self.device, dtype=torch.int64)
        key_base = V**H * self._graphs.max_states
        numpy_engine = paths.NUMPY_LOOPS and self.device.type == "cpu"
        self._np = (
            _np_graphs(self._graphs, key_base)
            if numpy_engine and key_base * self.num_streams < 2**62
            else None
        )
        self._np_pow = self._pow.numpy() if self._np is not None else None
        self._np_ctx: tuple = (None, None)  # (the _values it is for, _np_contexts())

    def __str__(self) -> str:
        lines = [f"num_streams : {self.num_streams}"]
        lines += [f"stream[{i}] : {s}" for i, s in enumerate(self.src_streams)]
        return "\n".join(lines)

    # -- per frame ----------------------------------------------------------------------------

    def _context_ids(self) -> tuple[torch.Tensor, int]:
        ctx = self._values // self._graphs.num_states[self._stream]
        seg = _segment_starts(_changed(self._stream, ctx))
        return seg, int(seg[-1]) + 1 if seg.numel() else 0

    def get_contexts(self):
        """The distinct contexts to evaluate the joiner on for the next frame.

        Returns:
          ``(shape, contexts)``: ``shape`` a RaggedShape ``[stream][context]``; ``contexts``
          int32 ``[tot_contexts, decoder_history_len]`` of token ids (oldest first).
        """
        if not self._attached:
            raise RuntimeError("RnntDecodingStreams.get_contexts: the streams were terminated")
        if self._np is not None:
            stream = self._stream.numpy()
            ctx_value, _, starts = self._np_contexts()
            ctx = ctx_value[starts]
            contexts = (ctx[:, None] % self._np_pow[None, :-1]) // self._np_pow[None, 1:]
            ctx_stream = stream[starts]
            row_splits = np.zeros(self.num_streams + 1, dtype=np.int64)
            np.cumsum(np.bincount(ctx_stream, minlength=self.num_streams), out=row_splits[1:])
            shape = RaggedShape([torch.from_numpy(row_splits)])
            shape._ids[0] = torch.from_numpy(ctx_stream)  # row_ids, known here: fill the cache
            return shape, torch.from_numpy(contexts.astype(np.int32))
        seg, num_ctx = self._context_ids()
        first = _changed(seg)
        ctx = (self._values // self._graphs.num_states[self._stream])[first]
        contexts = (ctx[:, None] % self._pow[None, :-1]) // self._pow[None, 1:]
        ctx_stream = self._stream[first]
        row_splits = torch.zeros(self.num_streams + 1, dtype=torch.int32, device=self.device)
        row_splits[1:] = torch.cumsum(torch.bincount(ctx_stream, minlength=self.num_streams), 0)
        shape = ragged.create_ragged_shape2(row_splits=row_splits, cached_tot_size=num_ctx)
        return shape, contexts.to(torch.int32)

    def advance(self, logprobs: torch.Tensor) -> None:
        """Advance every stream by one frame.

        Args:
          logprobs: float ``[tot_contexts, vocab_size]``, log-probs of each token given the
            contexts of the last :meth:`get_contexts` (in its order).
        """
        if not self._attached:
            raise RuntimeError("RnntDecodingStreams.advance: the streams were terminated")
        cfg, g = self.config, self._graphs
        if self._np is not None:
            np_ctx = self._np_contexts()
            num_ctx = np_ctx[2].size
        else:
            ctx_of_state, num_ctx = self._context_ids()
        if logprobs.shape != (num_ctx, cfg.vocab_size):
            raise ValueError(
                f"RnntDecodingStreams.advance: logprobs must have shape ({num_ctx}, "
                f"{cfg.vocab_size}) (contexts x vocab_size), got {tuple(logprobs.shape)}"
            )
        V, H = cfg.vocab_size, cfg.decoder_history_len
        lp32 = logprobs.detach().to(device=self.device, dtype=torch.float32).reshape(-1)
        if self._np is not None:
            self._advance_numpy(lp32.contiguous().numpy(), *np_ctx)
            return
        lp = lp32.double()
        device, N = self.device, self.num_streams
        stream, values, scores = self._stream, self._values, self._scores
        S = values.numel()
        G = g.num_states.index_select(0, stream)
        graph_state = values % G
        ctx_value = values // G
        comb_state = g.state_offset.index_select(0, stream) + graph_state
        arcs_lo = g.row_splits.index_select(0, comb_state)
        alive = graph_state != G - 1  # the final graph state has no arcs, not even a blank
        degree = torch.where(alive, g.row_splits.index_select(0, comb_state + 1) - arcs_lo, 0)
        num_arcs = degree + alive.long()
        first_arc = torch.cumsum(num_arcs, 0) - num_arcs  # source-order slot of the blank
        lp_row = ctx_of_state * V
        threshold = _segment_max(scores, stream, N).index_select(0, stream) - cfg.beam

        # (1)+(2) graph arcs; the first-pass beam judges a final arc (-1) with probability one
        # and keeps every epsilon; blank self-loops are always kept. A float32 pre-filter with
        # a safety margin drops most arcs cheaply; the exact float64 test decides.
        E = int(degree.sum())
        src = torch.repeat_interleave(torch.arange(S, device=device), degree, output_size=E)
        arc_offset = arcs_lo - (torch.cumsum(degree, 0) - degree)
        comb_arc = torch.arange(E, device=device) + arc_offset.index_select(0, src)
        label = g.labels.index_select(0, comb_arc)
        lp_arc = lp32.index_select(0, lp_row.index_select(0, src) + label.clamp(min=0))
        graph_score = g.scores.index_select(0, comb_arc)
        slack = (threshold - scores).float() - _PREFILTER_MARGIN
        candidate = (lp_arc + graph_score >= slack.index_select(0, src)) | (label <= 0)
        cand = torch.nonzero(candidate).squeeze(1)
        src, comb_arc, label = src[cand], comb_arc[cand], label[cand]
        lp_arc, graph_score = lp_arc[cand].double(), graph_score[cand].double()
        before = scores.index_select(0, src) + graph_score
        after = before + lp_arc
        prune_score = torch.where(label == -1, before, after)
        keep = (prune_score >= threshold.index_select(0, src)) | (label == 0)
        kept = torch.nonzero(keep).squeeze(1)
        src, comb_arc, label = src[kept], comb_arc[kept], label[kept]
        lp_arc, after, graph_score = lp_arc[kept], after[kept], graph_score[kept]
        weight = graph_score + lp_arc
        slot = first_arc.index_select(0, src) + 1 + comb_arc - arcs_lo.index_select(0, src)
        G_src = G.index_select(0, src)
        ctx_src = ctx_value.index_select(0, src)
        shifted = (ctx_src % (V ** (H - 1))) * V + label
        dst_value = torch.where(label > 0, shifted, ctx_src) * G_src + g.dest.index_select(
            0, comb_arc
        )
        graph_arc = comb_arc - g.arc_offset.index_select(0, stream.index_select(0, src))

        blank_src = torch.nonzero(alive).squeeze(1)
        lp_blank = lp.index_select(0, lp_row.index_select(0, blank_src))
        src = torch.cat([blank_src, src])
        slot = torch.cat([first_arc.index_select(0, blank_src), slot])
        label = torch.cat([torch.zeros_like(blank_src), label])
        dst_value = torch.cat([values.index_select(0, blank_src), dst_value])
        dst_score = torch.cat([scores.index_select(0, blank_src) + lp_blank, after])
        weight = torch.cat([lp_blank, weight])
        graph_arc = torch.cat([torch.full_like(blank_src, -1), graph_arc])
        arc_stream = stream.index_select(0, src)

        # (3) group arcs by (stream, destination state); Viterbi score per state.
        order, o_stream, o_value = _group_order(arc_stream, dst_value, V**H * g.max_states, N)
        state_id = _segment_starts(_changed(o_stream, o_value))
        num_states = int(state_id[-1]) + 1 if state_id.numel() else 0
        state_first = _changed(state_id)
        st_stream, st_value = o_stream[state_first], o_value[state_first]
        st_score = _segment_max(dst_score[order], state_id, num_states)

        # (4) prune states per stream (beam, max_states), then contexts (beam, max_contexts).
        keep_state = _prune(st_stream, st_score, N, cfg.beam, cfg.max_states)
        st_ctx = _segment_starts(_changed(st_stream, st_value // g.num_states[st_stream]))
        num_ctx_new = int(st_ctx[-1]) + 1 if st_ctx.numel() else 0
        ctx_stream = st_stream[_changed(st_ctx)]
        masked = torch.where(keep_state, st_score, torch.full_like(st_score, float("-inf")))
        ctx_score = _segment_max(masked, st_ctx, num_ctx_new)
        keep_ctx = _prune(ctx_stream, ctx_score, N, cfg.beam, cfg.max_contexts)
        keep_state &= keep_ctx[st_ctx]

        # (5) new states; record the arcs entering them, in source order.
        new_index = torch.cumsum(keep_state.long(), 0) - 1
        new_stream = st_stream[keep_state]
        new_counts = torch.bincount(new_stream, minlength=N)
        new_starts = torch.cumsum(new_counts, 0) - new_counts
        arc_state = torch.empty_like(state_id)
        arc_state[order] = state_id
        rec = torch.nonzero(keep_state[arc_state]).squeeze(1)
        rec = rec[torch.sort(slot[rec])[1]]
        rec_stream = arc_stream[rec]
        old_counts = torch.bincount(stream, minlength=N)
        old_starts = torch.cumsum(old_counts, 0) - old_counts
        self._frames.append(
            {
                "stream": rec_stream,
                "src": src[rec] - old_starts[rec_stream],
                "dst": new_index[arc_state[rec]] - new_starts[rec_stream],
                "label": label[rec],
                "score": weight[rec].float(),
                "graph_arc": graph_arc[rec],
                "num_states": old_counts,
            }
        )
        self._stream = new_stream
        self._values = st_value[keep_state]
        self._scores = st_score[keep_state]

    def _np_contexts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """numpy: per state its context value and graph's state count; where contexts start."""
        if self._np_ctx[0] is self._values:  # get_contexts, then advance: once per frame
            return self._np_ctx[1]
        stream, values = self._stream.numpy(), self._values.numpy()
        G = self._np.num_states[stream]
        ctx_value = values // G
        self._np_ctx = (self._values, (ctx_value, G, _np_starts(stream, ctx_value)))
        return self._np_ctx[1]

    def _advance_numpy(self, lp32: np.ndarray, ctx_value: np.ndarray, G: np.ndarray,
                       ctx_starts: np.ndarray) -> None:
        """:meth:`advance` on the CPU, in numpy; the same lattice as the torch code.

        A state's arcs are expanded blank first (see :class:`_NpGraphs`), so the arcs stay in
        the order they are recorded in. Most expanded arcs lead to states that the
        ``max_states`` limit drops, so where a stream has more than ``_STRONG_FACTOR *
        max_states`` arcs, the Viterbi merge and the pruning first run on its strong arcs
        only: those scoring at least ``L``, its ``_STRONG_FACTOR * max_states``-th best arc
        score (or the beam floor, whichever is higher). A state's score is the best of its
        incoming arcs, so every state reached by a strong arc gets its exact score there, and
        every other state scores below ``L``. When at least ``max_states`` of the strong states
        pass the state pruning, no state below ``L`` can rank among the ``max_states`` best,
        and the survivors are exact; a stream where that does not hold (and ``L`` is above the
        beam floor) is redone with all of its arcs within the beam. The arcs to record are then
        all arcs that passed the arc beam and lead to a survivor.
        """
        cfg, g = self.config, self._np
        V, H, N, beam, KB = (cfg.vocab_size, cfg.decoder_history_len, self.num_streams,
                             cfg.beam, g.key_base)
        stream, values = self._stream.numpy(), self._values.numpy()
        scores = self._scores.numpy()
        S = values.size
        old_counts = np.bincount(stream, minlength=N)
        Gs = g.uniform_states or G  # a scalar where all graphs have as many states
        graph_state = values - ctx_value * Gs
        comb_state = graph_state if g.single else g.state_offset[stream] + graph_state
        arcs_lo = g.row_splits[comb_state]
        alive = graph_state != Gs - 1  # the final graph state has no arcs, not even a blank
        degree = np.where(alive, g.row_splits[comb_state + 1] - arcs_lo, 0)
        threshold = _np_group_max(scores, old_counts) - beam

        # (1)+(2) expand; keep the arcs within the beam of the stream's best state (a final
        # arc, label -1, is judged with probability one; blanks and epsilons are kept)
        arc, src = expand_ranges_np(arcs_lo, degree)
        label = g.labels[arc]
        lp_col = (_np_run_ids(ctx_starts, S) * V)[src] + g.label_index[arc]
        lp_arc = lp32[lp_col].astype(np.float64)
        graph_score = g.scores[arc]
        before = scores[src] + graph_score
        after = before + lp_arc
        keep = np.where(label == -1, before, after) >= threshold[stream][src]
        keep |= label == 0
        if not keep.all():
            kept = np.flatnonzero(keep)
            src, arc, label = src[kept], arc[kept], label[kept]
            lp_arc, graph_score, after = lp_arc[kept], graph_score[kept], after[kept]
        arc_stream = stream[src]
        stream_key = stream * KB
        keep_ctx_key = stream_key + ctx_value * Gs  # destination key of a blank/epsilon/final
        shift_key = stream_key + (ctx_value % (V ** (H - 1))) * (V * Gs)

        if g.uniform_states:
            # per state the key base of its [non-token, token] arcs; per arc the rest
            key_base = np.stack([keep_ctx_key, shift_key], 1).ravel()

            def dst_keys(i):
                """(stream, destination state) keys of the arcs ``i`` (None: all)."""
                s, a = (src, arc) if i is None else (src[i], arc[i])
                return key_base[2 * s + g.is_token[a]] + g.dest_key[a]
        else:

            def dst_keys(i):
                s, lab, a = (src, label, arc) if i is None else (src[i], label[i], arc[i])
                token_key = shift_key[s] + lab * Gs[s]
                return np.where(lab > 0, token_key, keep_ctx_key[s]) + g.dest[a]

        # (3)+(4) Viterbi and pruning, on the strong arcs of the streams with many arcs
        K = cfg.max_states
        counts = np.bincount(arc_stream, minlength=N)
        width = int(counts.max())
        k = _STRONG_FACTOR * K
        low = sel = None
        if K > 0 and width > k:
            floor = _np_group_max(after, counts) - beam
            table = np.full((N, width), -np.inf)
            table[arc_stream, np.arange(after.size) - (np.cumsum(counts) - counts)[arc_stream]] = (
                after)
            low = np.maximum(np.partition(table, width - k, axis=1)[:, width - k], floor)
        while True:
            if low is None:
                key, score = dst_keys(None), after
            else:
                sel = np.flatnonzero(after >= low[arc_stream])
                key, score = dst_keys(sel), after[sel]
            order = np.argsort(key, kind="stable")  # timsort: the keys come in sorted runs
            key = key[order]
            starts = _np_starts(key)
            st_key = key[starts]
            st_score = (np.maximum.reduceat(score[order], starts) if starts.size
                        else np.zeros(0))
            st_stream = st_key // KB
            keep_state = _np_prune(st_stream, st_score, N, beam, K)
            if low is None:
                break
            exact = (low <= floor) | (np.bincount(st_stream[keep_state], minlength=N) >= K)
            if exact.all():
                break
            low = np.where(exact, low, floor)
        st_value = st_key - st_stream * KB
        st_ctx = st_value // (Gs if g.uniform_states else g.num_states[st_stream])
        ctx_starts = _np_starts(st_stream, st_ctx)
        masked = np.where(keep_state, st_score, -np.inf)
        ctx_score = (np.maximum.reduceat(masked, ctx_starts) if ctx_starts.size
                     else np.zeros(0))
        keep_ctx = _np_prune(st_stream[ctx_starts], ctx_score, N, beam, cfg.max_contexts)
        keep_state &= keep_ctx[_np_run_ids(ctx_starts, st_key.size)]
        new_stream = st_stream[keep_state]

        # (5) the arcs to record (in expansion order): within the beam and into a survivor
        if sel is None:
            state_of = np.empty(key.size, dtype=np.int64)
            state_of[order] = _np_run_ids(starts, key.size)
            rec = np.flatnonzero(keep_state[state_of])
            rec_dst = (np.cumsum(keep_state) - 1)[state_of[rec]]
        else:
            # a token arc can enter a survivor only if its context ends in that token
            new_key = st_key[keep_state]
            ends_in = np.zeros(N * V, dtype=bool)
            ends_in[new_stream * V + st_ctx[keep_state] % V] = True
            maybe = np.flatnonzero((label <= 0) | ends_in[arc_stream * V + g.label_index[arc]])
            at, hit = _np_lookup(new_key, dst_keys(maybe))
            rec, rec_dst = maybe[hit], at[hit]
        rec_stream = arc_stream[rec]
        new_counts = np.bincount(new_stream, minlength=N)
        old_starts = np.cumsum(old_counts) - old_counts
        new_starts = np.cumsum(new_counts) - new_counts
        self._frames.append(
            {
                "stream": torch.from_numpy(rec_stream),
                "src": torch.from_numpy(src[rec] - old_starts[rec_stream]),
                "dst": torch.from_numpy(rec_dst - new_starts[rec_stream]),
                "label": torch.from_numpy(label[rec]),
                "score": torch.from_numpy((graph_score[rec] + lp_arc[rec]).astype(np.float32)),
                "graph_arc": torch.from_numpy(g.graph_arc[arc[rec]]),
                "num_states": torch.from_numpy(old_counts),
            }
        )
        self._stream = torch.from_numpy(new_stream)
        self._values = torch.from_numpy(st_value[keep_state])
        self._scores = torch.from_numpy(st_score[keep_state])

    # -- end of a chunk -----------------------------------------------------------------------

    def terminate_and_flush_to_streams(self) -> None:
        """Hand the search state and the recorded frames back to the individual streams.
        This object cannot decode afterwards; a stream can continue in a new one."""
        if not self._attached or not self._frames:
            return
        frames = self._frames
        lengths = torch.tensor([f["stream"].numel() for f in frames], device=self.device)
        chunk = _Chunk(
            frame=torch.repeat_interleave(torch.arange(len(frames), device=self.device), lengths),
            **{
                k: torch.cat([f[k] for f in frames])
                for k in ("stream", "src", "dst", "label", "score", "graph_arc")
            },
            num_states=torch.stack([f["num_states"] for f in frames]),
        )
        counts = torch.bincount(self._stream, minlength=self.num_streams).tolist()
        values = torch.split(self._values, counts)
        scores = torch.split(self._scores, counts)
        for i, s in enumerate(self.src_streams):
            s.chunks.append(_ChunkRef(chunk, i, s.num_frames))
            s.num_frames += len(frames)
            s.values, s.scores = values[i], scores[i]
        self._attached = False
        self._frames = []

    def format_output(self, num_frames: list[int], allow_partial: bool = False):
        """The lattice of every stream over its first ``num_frames[i]`` frames, as an FsaVec.

        States are laid out frame by frame (the states a frame starts from) plus one final state;
        arcs of all frames but the last are kept as recorded (a final-graph arc reached before
        the last frame becomes an inaccessible epsilon arc); on the last frame each arc with
        label -1 becomes an arc to the final state (label -1, score 0). With ``allow_partial``,
        a stream without such an arc gets every last-frame arc turned into a final arc instead.
        Scores are acoustic + graph scores; graph attributes (``aux_labels``, ...) are carried
        over through the graph arc of each lattice arc (filler 0 for the blank self-loops).

        Args:
          num_frames: frames to use per stream (``1 <= num_frames[i] <=`` frames decoded).
          allow_partial: see above.
        """
        if self._attached:
            raise RuntimeError(
                "RnntDecodingStreams.format_output: call terminate_and_flush_to_streams() first"
            )
        if len(num_frames) != self.num_streams:
            raise ValueError(
                f"RnntDecodingStreams.format_output: num_frames has {len(num_frames)} entries, "
                f"expected one per stream ({self.num_streams})"
            )
        for i, (n, s) in enumerate(zip(num_frames, self.src_streams)):
            if not 1 <= n <= s.num_frames:
                raise ValueError(
                    f"RnntDecodingStreams.format_output: num_frames[{i}]={n}, but stream {i} has "
                    f"decoded {s.num_frames} frames (need 1 <= num_frames <= that)"
                )
        device, N = self.device, self.num_streams
        T = max(s.num_frames for s in self.src_streams)
        counts = torch.zeros(N, T, dtype=torch.int64, device=device)
        parts: dict[str, list[torch.Tensor]] = {
            k: [] for k in ("stream", "frame", "src", "dst", "label", "score", "graph_arc")
        }
        by_chunk: dict[int, tuple[_Chunk, list[int], list[int], list[int]]] = {}
        for i, s in enumerate(self.src_streams):
            for ref in s.chunks:
                entry = by_chunk.setdefault(id(ref.chunk), (ref.chunk, [], [], []))
                entry[1].append(i)
                entry[2].append(ref.stream_index)
                entry[3].append(ref.frame_offset)
        for chunk, out_ids, in_ids, offsets in by_chunk.values():
            n_in = chunk.num_states.shape[1]
            out_of_in = torch.full((n_in,), -1, dtype=torch.int64, device=device)
            offset_of_in = torch.zeros(n_in, dtype=torch.int64, device=device)
            in_t = torch.tensor(in_ids, dtype=torch.int64, device=device)
            out_of_in[in_t] = torch.tensor(out_ids, dtype=torch.int64, device=device)
            offset_of_in[in_t] = torch.tensor(offsets, dtype=torch.int64, device=device)
            F = chunk.num_states.shape[0]
            frames_idx = torch.arange(F, device=device)[:, None] + offset_of_in[in_t][None, :]
            counts[out_of_in[in_t][None, :].expand(F, -1), frames_idx] = chunk.num_states[:, in_t]
            sel = out_of_in[chunk.stream] >= 0
            parts["stream"].append(out_of_in[chunk.stream[sel]])
            parts["frame"].append(chunk.frame[sel] + offset_of_in[chunk.stream[sel]])
            for k in ("src", "dst", "label", "score", "graph_arc"):
                parts[k].append(getattr(chunk, k)[sel])
        arcs = {k: torch.cat(v) for k, v in parts.items()}
        n = torch.tensor(num_frames, dtype=torch.int64, device=device)
        counts = torch.where(torch.arange(T, device=device)[None, :] < n[:, None], counts, 0)
        state_offset = torch.cumsum(counts, 1) - counts  # [N, T], first state of each frame
        final_state = counts.sum(1)  # [N]

        stream, frame = arcs["stream"], arcs["frame"]
        last = n[stream] - 1
        inner = frame < last
        on_last = frame == last
        is_final = on_last & (arcs["label"] == -1)
        has_final = torch.zeros(N, dtype=torch.bool, device=device)
        has_final[stream[is_final]] = True
        if allow_partial:
            to_final = on_last & ((arcs["label"] == -1) | ~has_final[stream])
        else:
            to_final = is_final
        keep = inner | to_final
        order = torch.nonzero(keep).squeeze(1)
        order = order[torch.sort(stream[order] * (T + 1) + frame[order], stable=True)[1]]
        stream, frame = stream[order], frame[order]
        final = to_final[order]
        label = arcs["label"][order]
        graph_arc = arcs["graph_arc"][order]
        src = state_offset[stream, frame] + arcs["src"][order]
        next_offset = state_offset[stream, (frame + 1).clamp(max=T - 1)]
        dst = torch.where(final, final_state[stream], next_offset + arcs["dst"][order])
        epsilon = ~final & (label == -1)
        graph_arc = torch.where(epsilon, torch.full_like(graph_arc, -1), graph_arc)
        label = torch.where(final, torch.full_like(label, -1), torch.where(epsilon, 0, label))
        score = torch.where(final, torch.zeros_like(arcs["score"][order]), arcs["score"][order])
        return _build_lattice(
            self.src_streams, stream, src, dst, label, score, graph_arc, final_state + 1
        )


def _build_lattice(streams, stream, src, dst, label, score, graph_arc, states_per_fsa):
    """Assemble the FsaVec and carry the graph attributes."""
    device = stream.device
    N = len(streams)
    arcs = torch.stack(
        [src.to(torch.int32), dst.to(torch.int32), label.to(torch.int32),
         score.contiguous().view(torch.int32)],
        dim=1,
    )
    state_starts = torch.cumsum(states_per_fsa, 0) - states_per_fsa
    global_src = state_starts[stream] + src
    arcs_per_state = torch.bincount(global_src, minlength=int(states_per_fsa.sum()))
    row_splits1 = torch.zeros(N + 1, dtype=torch.int32, device=device)
    row_splits1[1:] = torch.cumsum(states_per_fsa, 0)
    row_splits2 = torch.zeros(arcs_per_state.numel() + 1, dtype=torch.int32, device=device)
    row_splits2[1:] = torch.cumsum(arcs_per_state, 0)
    lattice = Fsa.from_fsa_vec_parts(row_splits1, row_splits2, arcs)

    attr_names: dict[str, object] = {}
    for s in streams:
        for name, value in s.fsa.named_tensor_attr(include_scores=False):
            attr_names.setdefault(name, value)
    for name, example in attr_names.items():
        if all(s.fsa is streams[0].fsa for s in streams):
            values = [_select_attr(example, example, graph_arc, device)]
        else:
            values = [
                _select_attr(
                    example, getattr(s.fsa, name, None), graph_arc[stream == i], device
                )
                for i, s in enumerate(streams)
            ]
        if isinstance(example, torch.Tensor):
            setattr(lattice, name, torch.cat(values))
        else:
            setattr(lattice, name, ragged.cat(values, axis=0))
    for s in streams:
        for name, value in s.fsa.named_non_tensor_attr():
            setattr(lattice, name, value)
    return lattice


def _select_attr(example, value, idx: torch.Tensor, device):
    if isinstance(example, torch.Tensor):
        if value is None:
            return torch.zeros(idx.numel(), dtype=example.dtype, device=device)
        out = value[idx.clamp(min=0)]
        return torch.where(idx >= 0, out, torch.zeros_like(out))
    if value is None:
        return RaggedTensor(torch.empty((idx.numel(), 0), dtype=torch.int32, device=device))
    picked, _ = value.index(idx.to(torch.int32), axis=0, need_value_indexes=False)
    return picked
