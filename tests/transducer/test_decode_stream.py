"""Independent checks of the built-in RnntDecodingStreams (main environment), for both of its
engines (numpy on the CPU, torch elsewhere)."""

from __future__ import annotations

import itertools

import pytest
import torch
from stream_helpers import TableJoiner, decode_with, lattice_arrays, make_graph, random_lg_arcs

from icefall_lite.fsa import paths
from icefall_lite.k2 import builtin as k2


@pytest.fixture(autouse=True, params=["numpy", "torch"])
def engine(request, monkeypatch):
    monkeypatch.setattr(paths, "NUMPY_LOOPS", request.param == "numpy")


def best_path_by_dp(lattice, fsa_index: int):
    """Best (score, label sequence) of one FSA of the lattice by a plain DP (arcs go forward)."""
    rs1 = lattice.arcs.shape().row_splits(1).long()
    rs2 = lattice.arcs.shape().row_splits(2).long()
    values = lattice.arcs.values()
    scores = lattice.scores.double()
    first, last = int(rs1[fsa_index]), int(rs1[fsa_index + 1])
    n = last - first
    best = [(-float("inf"), [])] * n
    best[0] = (0.0, [])
    for s in range(n):
        if best[s][0] == -float("inf"):
            continue
        for a in range(int(rs2[first + s]), int(rs2[first + s + 1])):
            _, dst, label, _ = values[a].tolist()
            cand = best[s][0] + float(scores[a])
            if cand > best[dst][0]:
                best[dst] = (cand, best[s][1] + ([label] if label > 0 else []))
    return best[n - 1]


def brute_force_best(joiner: TableJoiner, stream: int, num_frames: int, vocab_size: int):
    """Max over all alignments (blank or one token per frame) of frames 0..n-2; the last
    frame only enters the final state (k2's lattice convention)."""
    best = (-float("inf"), None)
    H = joiner.H
    for choice in itertools.product(range(vocab_size), repeat=num_frames - 1):
        context, score, tokens = [0] * H, 0.0, []
        for t, c in enumerate(choice):
            lp = joiner(torch.tensor([stream]), torch.tensor([context]), torch.tensor(t))[0]
            score += float(lp[c])
            if c != 0:
                tokens.append(c)
                context = context[1:] + [c]
        if score > best[0]:
            best = (score, tokens)
    return best


def test_best_lattice_path_equals_brute_force_over_alignments():
    V, frames = 3, [5, 3, 4]
    joiner = TableJoiner(3, 5, vocab_size=V, context_size=2, seed=4)
    lattice = decode_with(k2, [k2.trivial_graph(V - 1)] * 3, joiner, frames, 1000.0, 10000, 10000)
    for i, n in enumerate(frames):
        score, tokens = best_path_by_dp(lattice, i)
        expected_score, expected_tokens = brute_force_best(joiner, i, n, V)
        assert tokens == expected_tokens
        assert score == pytest.approx(expected_score, abs=1e-4)


@pytest.mark.parametrize("chunks", [[3, 4, 2], [1] * 9, [5, 4]])
def test_chunked_decoding_gives_the_one_shot_lattice(chunks):
    arcs, aux = random_lg_arcs(6, 5, 10, seed=7)
    graph = make_graph(k2, arcs, aux)
    joiner = TableJoiner(3, 9, vocab_size=6, context_size=2, seed=5)
    frames = [9, 4, 7]
    one_shot = lattice_arrays(decode_with(k2, [graph] * 3, joiner, frames, 6.0, 16, 4, True))
    chunked = lattice_arrays(decode_with(k2, [graph] * 3, joiner, frames, 6.0, 16, 4, True,
                                         chunks=chunks))
    for key in ("arcs", "score_bits", "row_splits1", "row_splits2"):
        assert torch.equal(one_shot[key], chunked[key]), key
    assert one_shot["aux_labels"] == chunked["aux_labels"]


@pytest.mark.parametrize("beam,max_states,max_contexts", [(3.0, 6, 2), (8.0, 10, 4)])
def test_each_frame_respects_beam_limits_and_merges_equal_states(beam, max_states, max_contexts):
    V, H, N = 6, 2, 3
    arcs, aux = random_lg_arcs(V, 6, 10, seed=3)
    graph = make_graph(k2, arcs, aux)
    joiner = TableJoiner(N, 8, V, H, seed=2)
    config = k2.RnntDecodingConfig(V, H, beam, max_states, max_contexts)
    streams = k2.RnntDecodingStreams([k2.RnntDecodingStream(graph) for _ in range(N)], config)
    G = graph.arcs.dim0()
    for t in range(8):
        shape, contexts = streams.get_contexts()
        streams.advance(joiner(shape.row_ids(1).long(), contexts, torch.tensor(t)))
        for i in range(N):
            mine = streams._stream == i
            values, scores = streams._values[mine], streams._scores[mine]
            assert values.unique().numel() == values.numel(), "equal states were not merged"
            assert values.numel() <= max_states
            assert (values // G).unique().numel() <= max_contexts
            assert bool((scores >= scores.max() - beam).all())


def test_format_output_rejects_misuse():
    graph = k2.trivial_graph(3)
    config = k2.RnntDecodingConfig(4, 2, 4.0, 8, 4)
    streams = k2.RnntDecodingStreams([k2.RnntDecodingStream(graph)], config)
    shape, contexts = streams.get_contexts()
    with pytest.raises(ValueError, match="logprobs must have shape"):
        streams.advance(torch.zeros(contexts.shape[0], 3))
    streams.advance(torch.zeros(contexts.shape[0], 4).log_softmax(-1))
    with pytest.raises(RuntimeError, match="terminate_and_flush_to_streams"):
        streams.format_output([1])
    streams.terminate_and_flush_to_streams()
    with pytest.raises(ValueError, match="num_frames"):
        streams.format_output([2])
