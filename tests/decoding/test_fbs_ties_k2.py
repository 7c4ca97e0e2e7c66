"""Lattices of the decoding streams with tied scores equal real k2's (k2 environment only).

Scores on a coarse grid (graph scores and log-probs in multiples of 1/4, exact in float32 and
float64, zeros included) make many states and contexts score alike, so the ``max_states`` /
``max_contexts`` cut often falls inside a run of equal scores, and weights of exactly -0.0
occur: an LG-like graph with many arcs per state, streams of different lengths, both engines."""

from __future__ import annotations

import pytest
import torch

from icefall_lite.fsa import paths


def grid_lg(ns, vocab_size: int, num_states: int, arcs_per_state: int, seed: int):
    """An epsilon-free LG-like acceptor, ``arcs_per_state`` arcs per state with scores in
    {0, -1/4, ..., -1}; the last arc of every third state enters the final state (label -1,
    score 0). Word aux_labels."""
    g = torch.Generator().manual_seed(seed)
    grid = (num_states, arcs_per_state)
    src = torch.arange(num_states)[:, None].expand(grid)
    dst = torch.randint(0, num_states, grid, generator=g)
    labels = torch.randint(1, vocab_size, grid, generator=g)
    scores = -torch.randint(0, 5, grid, generator=g).float() / 4
    to_final = torch.arange(0, num_states, 3)
    dst[to_final, -1], labels[to_final, -1], scores[to_final, -1] = num_states, -1, 0.0
    arcs = torch.stack([src, dst, labels, scores.view(torch.int32)], -1).reshape(-1, 4).int()
    words = torch.randint(1, 50, (arcs.shape[0],), generator=g).int()
    words[arcs[:, 2] == -1] = -1
    fsa = ns.Fsa(arcs)
    fsa.aux_labels = words
    return fsa


def grid_search(ns, graph, vocab_size: int, num_frames: list[int], beam: float,
                max_states: int, max_contexts: int, seed: int):
    """Decode ``len(num_frames)`` streams with log-probs on the 1/4 grid that depend on the
    stream, the frame and the last token of the context; the lattice (allow_partial)."""
    g = torch.Generator().manual_seed(seed)
    table = -torch.randint(0, 12, (len(num_frames), max(num_frames), vocab_size),
                           generator=g).float() / 4
    shift = -torch.randint(0, 3, (vocab_size, vocab_size), generator=g).float() / 4
    config = ns.RnntDecodingConfig(vocab_size=vocab_size, decoder_history_len=2, beam=beam,
                                   max_states=max_states, max_contexts=max_contexts)
    streams = ns.RnntDecodingStreams([ns.RnntDecodingStream(graph) for _ in num_frames],
                                     config)
    for t in range(max(num_frames)):
        shape, contexts = streams.get_contexts()
        owner = shape.row_ids(1).long()
        streams.advance(table[owner, t] + shift[contexts[:, -1].long()])
    streams.terminate_and_flush_to_streams()
    lattice = streams.format_output(num_frames, allow_partial=True)
    return (lattice.arcs.shape().row_splits(1).tolist(),
            lattice.arcs.shape().row_splits(2).tolist(),
            lattice.arcs.values().tolist(), lattice.aux_labels.tolist())


@pytest.mark.k2
@pytest.mark.parametrize("engine", ["numpy", "torch"])
@pytest.mark.parametrize("beam,max_states,max_contexts", [(20.0, 16, 4), (3.0, 8, 3),
                                                          (8.0, 64, 8)])
@pytest.mark.parametrize("seed", [0, 1])
def test_lg_lattice_with_tied_scores_equals_k2(real_k2, builtin_k2, monkeypatch, engine, seed,
                                               beam, max_states, max_contexts):
    monkeypatch.setattr(paths, "NUMPY_LOOPS", engine == "numpy")
    num_frames = [14, 9, 14, 5, 11, 14]

    def run(ns):
        graph = grid_lg(ns, 12, 40, 10, seed)
        return grid_search(ns, graph, 12, num_frames, beam, max_states, max_contexts, seed)

    assert run(real_k2) == run(builtin_k2)
