"""Shared pieces of the decoding-stream tests: random LG-like graphs and a table "joiner"."""

from __future__ import annotations

import torch


def random_lg_arcs(vocab_size: int, num_states: int, num_words: int, seed: int):
    """An epsilon-free random acceptor over tokens 1..vocab_size-1 with ragged word aux_labels
    (some arcs output no word, some two), -1 arcs to the final state from odd states.

    Returns ``(arcs int32 [A, 4] with float bits in column 3, aux list of lists)``.
    """
    g = torch.Generator().manual_seed(seed)
    rows, aux = [], []
    for s in range(num_states):
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            dest = int(torch.randint(0, num_states, (1,), generator=g))
            label = int(torch.randint(1, vocab_size, (1,), generator=g))
            rows.append((s, dest, label, float(torch.randn(1, generator=g))))
            n = int(torch.randint(0, 3, (1,), generator=g))
            aux.append(torch.randint(1, num_words + 1, (n,), generator=g).tolist())
        if s % 2 == 1:
            rows.append((s, num_states, -1, 0.0))
            aux.append([-1])
    arcs = torch.tensor([r[:3] + (0,) for r in rows], dtype=torch.int32)
    arcs[:, 3] = torch.tensor([r[3] for r in rows], dtype=torch.float32).view(torch.int32)
    return arcs, aux


def make_graph(ns, arcs: torch.Tensor, aux) -> object:
    """An Fsa of namespace ``ns`` (real k2 or built-in) with ragged aux_labels ``aux``."""
    fsa = ns.Fsa(arcs.clone())
    sizes = torch.tensor([len(a) for a in aux], dtype=torch.int32)
    row_splits = torch.zeros(len(aux) + 1, dtype=torch.int32)
    row_splits[1:] = torch.cumsum(sizes, 0)
    values = torch.tensor([w for a in aux for w in a], dtype=torch.int32)
    shape = ns.ragged.create_ragged_shape2(row_splits=row_splits)
    fsa.aux_labels = ns.RaggedTensor(shape, values)
    return fsa


class TableJoiner:
    """Log-probs depending on (stream, frame) and context: ``log_softmax(enc[n, t] +
    dec[context id])``, deterministic, so two engines can be fed identical inputs."""

    def __init__(self, num_streams: int, num_frames: int, vocab_size: int, context_size: int,
                 seed: int = 0, scale: float = 2.0):
        g = torch.Generator().manual_seed(seed)
        self.V, self.H = vocab_size, context_size
        self.enc = torch.randn(num_streams, num_frames, vocab_size, generator=g) * scale
        self.dec = torch.randn(vocab_size**context_size, vocab_size, generator=g) * scale

    def __call__(self, stream_of_context: torch.Tensor, contexts: torch.Tensor, t: torch.Tensor):
        weights = self.V ** torch.arange(self.H - 1, -1, -1)
        ctx_id = (contexts.long() * weights).sum(1)
        return (self.enc[stream_of_context, t] + self.dec[ctx_id]).log_softmax(-1)


def decode_with(ns, graphs, joiner: TableJoiner, num_frames: list[int], beam: float,
                max_states: int, max_contexts: int, allow_partial: bool = False,
                chunks: list[int] | None = None):
    """Run ``ns``'s RnntDecodingStreams over ``max(num_frames)`` frames (in chunks of the given
    sizes, each in a fresh RnntDecodingStreams) and return ``format_output``."""
    config = ns.RnntDecodingConfig(vocab_size=joiner.V, decoder_history_len=joiner.H, beam=beam,
                                   max_states=max_states, max_contexts=max_contexts)
    streams = [ns.RnntDecodingStream(g) for g in graphs]
    T = max(num_frames)
    chunks = chunks or [T]
    t = 0
    for size in chunks:
        group = ns.RnntDecodingStreams(streams, config)
        for _ in range(size):
            shape, contexts = group.get_contexts()
            group.advance(joiner(shape.row_ids(1).long(), contexts, torch.tensor(t)))
            t += 1
        group.terminate_and_flush_to_streams()
    return group.format_output(num_frames, allow_partial=allow_partial)


def lattice_arrays(lattice) -> dict:
    """The lattice as plain tensors/lists (arcs, row splits, scores, aux_labels)."""
    aux = lattice.aux_labels
    return {
        "arcs": lattice.arcs.values()[:, :3].clone(),
        "score_bits": lattice.arcs.values()[:, 3].clone(),
        "row_splits1": lattice.arcs.shape().row_splits(1).long(),
        "row_splits2": lattice.arcs.shape().row_splits(2).long(),
        "aux_labels": aux.clone() if isinstance(aux, torch.Tensor) else aux.tolist(),
    }
