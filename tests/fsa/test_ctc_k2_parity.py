"""Parity of the built-in CTC pieces with real k2 1.23.4 (k2 environment only): CTC
topologies and graphs, linear FSTs, DenseFsaVec, intersect_dense, intersect_dense_pruned
(beam grid incl. min/max active states and sequences longer than k2's 30-frame pruning
window) and ctc_loss. Lattices are compared arc for arc (states, arcs, labels, aux_labels,
frame attributes), scores to 1e-5, gradients w.r.t. log-probs and graph scores to 1e-4.
"""

from __future__ import annotations

import importlib
import random

import pytest
import torch

from icefall_lite.fsa import paths
from tests.fsa.helpers import (
    arcs_to_text,
    force_pruned_steps,
    plain_fsa,
    random_acyclic_arcs,
    random_banded_arcs,
)

pytestmark = pytest.mark.k2


@pytest.mark.parametrize("modified", [False, True])
@pytest.mark.parametrize("max_token", [0, 1, 5])
def test_ctc_topo_matches_k2(on_both, modified, max_token):
    on_both(lambda k2: plain_fsa(k2.ctc_topo(max_token, modified=modified)))


@pytest.mark.parametrize("modified", [False, True])
def test_ctc_graph_matches_k2(on_both, modified):
    rng = random.Random(1)
    syms = [[rng.randint(1, 3) for _ in range(rng.randint(0, 6))] for _ in range(40)]
    syms[0] = [2, 2, 2]

    def check(k2):
        return [plain_fsa(k2.ctc_graph(syms, modified=modified)),
                plain_fsa(k2.ctc_graph(k2.RaggedTensor(syms), modified=modified))]

    on_both(check)


def test_linear_fst_and_self_loops_match_k2(on_both):
    labels = [[1, 0, 2, 0, 0], [3], [0, 4, 5]]
    aux = [[7, 8, 0, 9, 0], [0], [6, 0, 5]]

    def check(k2):
        fst = k2.linear_fst(labels, aux)
        fst.scores = torch.arange(fst.num_arcs, dtype=torch.float32).requires_grad_()
        loops = k2.linear_fst_with_self_loops(fst)
        loops.scores.sum().backward()
        single = k2.linear_fst_with_self_loops(k2.linear_fst([1, 0, 2], [4, 5, 0]))
        return [plain_fsa(fst), plain_fsa(loops), fst.scores.grad.clone(), plain_fsa(single)]

    on_both(check)


@pytest.mark.parametrize("allow_truncate", [0, 3])
def test_dense_fsa_vec_scores_and_gradient_match_k2(on_both, allow_truncate):
    torch.manual_seed(0)
    lp = torch.randn(3, 7, 5).log_softmax(-1)
    last = 7 + allow_truncate - 3
    segs = torch.tensor([[0, 0, 7], [2, 3, 4 if not allow_truncate else last], [1, 2, 1]],
                        dtype=torch.int32)

    def check(k2):
        x = lp.clone().requires_grad_()
        d = k2.DenseFsaVec(x, segs, allow_truncate=allow_truncate)
        (d.scores[torch.isfinite(d.scores)] * 1.5).sum().backward()
        return [d.scores.detach().clone(), d.duration.clone(), x.grad.clone()]

    on_both(check)


def _dense_case(seed: int, n: int, t_max: int, c: int):
    """Random log-probs and supervision segments sorted by decreasing duration."""
    g = torch.Generator().manual_seed(seed)
    lp = torch.randn(n, t_max, c, generator=g).mul(3).log_softmax(-1)
    rng = random.Random(seed)
    durs = sorted([rng.randint(1, t_max) for _ in range(n)], reverse=True)
    segs = [[i, rng.randint(0, t_max - d), d] for i, d in enumerate(durs)]
    return lp, torch.tensor(segs, dtype=torch.int32)


def _graphs(k2, kind: str, seed: int, n: int, c: int):
    rng = random.Random(seed)
    if kind == "ctc_graph":
        syms = [[rng.randint(1, c - 1) for _ in range(rng.randint(0, 4))] for _ in range(n)]
        return k2.ctc_graph(syms, modified=seed % 2 == 1)
    if kind == "topo":
        return k2.create_fsa_vec([k2.ctc_topo(c - 1, modified=seed % 2 == 1)] * n)
    fsas = []
    for i in range(n):  # random acyclic graphs with self-loops: empty, no-path, epsilon arcs
        arcs, ns = random_acyclic_arcs(rng, max_states=6, max_label=c - 1,
                                       empty=(i == 1 and seed % 3 == 0))
        loops = [(s, s, rng.randint(0, c - 1), round(rng.uniform(-1, 1), 3))
                 for s in range(max(ns - 1, 0)) if rng.random() < 0.7]
        arcs = sorted(arcs + loops, key=lambda a: a[0])
        fsas.append(k2.arc_sort(k2.Fsa.from_str(arcs_to_text(arcs, ns))))
        fsas[-1].aux_labels = torch.tensor([a for a in range(len(arcs))], dtype=torch.int32)
    return k2.create_fsa_vec(fsas)


def _lattice_result(k2, lat, lp, graph, tot_double=True):
    tot = lat.get_tot_scores(use_double_scores=tot_double, log_semiring=True)
    tot[torch.isfinite(tot)].sum().backward()
    return {"lat": plain_fsa(lat), "tot": tot.detach().clone(), "grad_lp": lp.grad.clone(),
            "grad_graph": graph.scores.grad.clone()}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ctc_graph", "topo", "random"])
@pytest.mark.parametrize("beam", [1.0, 5.0, 100.0])
@pytest.mark.parametrize("loops", ["numpy", "torch"])
def test_intersect_dense_matches_k2(on_both, kind, beam, loops, monkeypatch):
    """Both frame loops of the built-in (numpy views on the CPU, torch ops elsewhere)."""
    monkeypatch.setattr(paths, "NUMPY_LOOPS", loops == "numpy")

    def check(k2):
        out = []
        for seed in range(6):
            lp, segs = _dense_case(seed, 4, [2, 6, 11][seed % 3], 4)
            lp.requires_grad_()
            graph = _graphs(k2, kind, seed, 4, 4).requires_grad_(True)
            lat = k2.intersect_dense(graph, k2.DenseFsaVec(lp, segs), beam,
                                     frame_idx_name="frame", seqframe_idx_name="seqframe")
            out.append(_lattice_result(k2, lat, lp, graph))
        return out

    on_both(check, rtol=1e-4, atol=1e-4)


def test_intersect_dense_with_a_to_b_map_matches_k2(on_both):
    def check(k2):
        lp, segs = _dense_case(3, 3, 6, 4)
        lp.requires_grad_()
        graph = _graphs(k2, "ctc_graph", 4, 5, 4).requires_grad_(True)
        a_to_b = torch.tensor([0, 0, 1, 2, 2], dtype=torch.int32)
        lat = k2.intersect_dense(graph, k2.DenseFsaVec(lp, segs), 10.0, a_to_b_map=a_to_b)
        return _lattice_result(k2, lat, lp, graph)

    on_both(check, rtol=1e-4, atol=1e-4)


def _banded_runs(monkeypatch) -> list:
    """Spy: one entry per ``intersect_dense`` call that took the banded frame loops."""
    module = importlib.import_module("icefall_lite.fsa.intersect_dense")
    runs: list = []
    run = module._BandedFrames.run

    def spy(self, *args):
        runs.append(self.D)
        return run(self, *args)

    monkeypatch.setattr(module._BandedFrames, "run", spy)
    return runs


@pytest.mark.parametrize("parallel", [False, True])
def test_intersect_dense_on_banded_graphs_matches_k2(on_both, parallel, monkeypatch):
    """Graphs shaped like ctc_graph's (arcs 0-3 states forward) with scores: the banded frame
    loops, or, with a parallel arc, the general ones; vecs with an empty FSA, FSAs without a
    path, sequences of different lengths and two graphs on one sequence."""
    runs = _banded_runs(monkeypatch)

    def check(k2):
        out = []
        for seed in range(8):
            rng = random.Random(seed)
            fsas = []
            for i in range(4):
                arcs, ns = random_banded_arcs(rng, max_states=7, parallel=parallel and i == 2)
                if seed % 4 == 1 and i == 3:
                    arcs, ns = [], 0
                fsas.append(k2.Fsa.from_str(arcs_to_text(arcs, ns)))
            graph = k2.create_fsa_vec(fsas).requires_grad_(True)
            lp, segs = _dense_case(seed, 3, [3, 7, 12][seed % 3], 4)
            lp.requires_grad_()
            a_to_b = torch.tensor([0, 1, 1, 2], dtype=torch.int32)
            lat = k2.intersect_dense(graph, k2.DenseFsaVec(lp, segs), [2.0, 100.0][seed % 2],
                                     a_to_b_map=a_to_b, frame_idx_name="frame")
            out.append(_lattice_result(k2, lat, lp, graph))
        return out

    on_both(check, rtol=1e-4, atol=1e-4)
    assert len(runs) == (0 if parallel else 8) and (parallel or max(runs) == 3)


_PRUNED_BEAMS = [(20.0, 8.0, 30, 10000), (4.0, 3.0, 2, 5), (8.0, 2.0, 1, 3), (1.0, 0.5, 0, 2)]


@pytest.mark.slow
@pytest.mark.parametrize("beams", _PRUNED_BEAMS)
@pytest.mark.parametrize("kind", ["topo", "ctc_graph", "random"])
def test_intersect_dense_pruned_matches_k2(on_both, beams, kind):
    def check(k2):
        out = []
        for seed in range(4):
            # 45 and 70 frames run through several of k2's overlapping pruning windows
            lp, segs = _dense_case(seed, 3, [3, 12, 45, 70][seed], 5)
            lp.requires_grad_()
            if kind == "topo":  # one graph shared by every sequence
                graph = k2.ctc_topo(4, modified=seed % 2 == 1).requires_grad_(True)
            else:
                graph = _graphs(k2, kind, seed, 3, 5).requires_grad_(True)
            lat = k2.intersect_dense_pruned(graph, k2.DenseFsaVec(lp, segs), *beams,
                                            frame_idx_name="frame")
            out.append(_lattice_result(k2, lat, lp, graph))
        return out

    on_both(check, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("steps", ["auto", "dense", "sparse"])
def test_intersect_dense_pruned_on_a_large_shared_topology_matches_k2(on_both, steps,
                                                                       monkeypatch):
    """40 classes, 3 sequences cut into 5 segments (two sequences twice), up to 50 frames
    (several pruning windows); icefall's beams, and beams that max_active_states=12 keeps
    shrinking; once with random graph scores on the topology."""
    force_pruned_steps(monkeypatch, steps)
    segs = torch.tensor([[0, 0, 50], [1, 0, 44], [2, 5, 40], [0, 10, 30], [1, 20, 24]],
                        dtype=torch.int32)

    def check(k2):
        out = []
        for case, (modified, beams) in enumerate([(False, (20.0, 8.0, 30, 10000)),
                                                  (True, (10.0, 6.0, 3, 12)),
                                                  (False, (12.0, 5.0, 2, 20))]):
            g = torch.Generator().manual_seed(11 + case)
            logits = torch.randn(3, 50, 40, generator=g)
            logits[..., 0] += 3.0  # blank-heavy, like a trained model
            lp = logits.log_softmax(-1).requires_grad_()
            graph = k2.ctc_topo(39, modified=modified)
            if case == 2:
                graph.scores = torch.randn(graph.num_arcs, generator=g)
            graph.requires_grad_(True)
            lat = k2.intersect_dense_pruned(graph, k2.DenseFsaVec(lp, segs), *beams,
                                            frame_idx_name="frame")
            out.append(_lattice_result(k2, lat, lp, graph))
        return out

    on_both(check, rtol=1e-4, atol=1e-4)


def _hlg_like(k2, seed: int, num_states: int, c: int):
    """A cyclic graph shaped like an HLG: a blank or token self-loop on every state, fan-outs
    of 1-40 arcs with random labels and scores into a few hub states (large fan-in), arcs
    back to earlier states, and final arcs from a third of the states."""
    rng = random.Random(seed)
    final = num_states - 1
    hubs = rng.sample(range(final), max(2, num_states // 8))
    arcs = []
    for s in range(final):
        arcs.append((s, s, rng.choice([0, rng.randint(1, c - 1)]), 0.0))
        for _ in range(rng.choice([1, 2, 3, 10, 25, 40])):
            d = rng.choice(hubs) if rng.random() < 0.6 else rng.randrange(final)
            arcs.append((s, d, rng.randint(0, c - 1), round(rng.uniform(-3.0, 0.0), 3)))
        if rng.random() < 0.3:
            arcs.append((s, final, -1, round(rng.uniform(-1.0, 0.0), 3)))
    arcs.sort(key=lambda a: a[0])
    graph = k2.arc_sort(k2.Fsa.from_str(arcs_to_text(arcs, num_states)))
    graph.aux_labels = torch.arange(graph.num_arcs, dtype=torch.int32)
    return graph


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["auto", "width 1", "width 8", "sorted keys", "torch ops"])
def test_intersect_dense_pruned_on_an_hlg_like_graph_matches_k2(on_both, layout,
                                                                monkeypatch):
    """Large fan-outs and fan-ins, as in an HLG: most arcs into surviving states are far
    below the best arc into them (the built-in does not store those); peaky and flat
    log-probs, icefall's beams and max_active_states that keeps shrinking the beam; the
    step's row layout forced to 1 or 8 slots per row, its state tables to sorted keys, or its
    numpy steps to torch ops."""
    import sys  # noqa: PLC0415

    mod = sys.modules["icefall_lite.fsa.intersect_dense"]
    if layout.startswith("width"):
        monkeypatch.setattr(mod, "_row_shift", lambda deg: {"1": 0, "8": 3}[layout[-1]])
    elif layout == "sorted keys":
        monkeypatch.setattr(mod, "_DENSE_KEYS", 0)
    elif layout == "torch ops":  # the steps other devices take, instead of numpy views
        monkeypatch.setattr(paths, "NUMPY_LOOPS", False)
    segs = torch.tensor([[0, 0, 70], [1, 0, 64], [2, 3, 45], [0, 10, 31]], dtype=torch.int32)

    def check(k2):
        out = []
        for case, beams in enumerate([(20.0, 8.0, 30, 10000), (10.0, 4.0, 3, 15),
                                      (6.0, 6.0, 1, 40)]):
            g = torch.Generator().manual_seed(case)
            logits = torch.randn(3, 70, 12, generator=g)
            if case != 2:
                logits[..., 0] += 4.0  # blank-heavy
            lp = logits.log_softmax(-1).requires_grad_()
            graph = _hlg_like(k2, case, 60, 12).requires_grad_(True)
            lat = k2.intersect_dense_pruned(graph, k2.DenseFsaVec(lp, segs), *beams,
                                            frame_idx_name="frame")
            out.append(_lattice_result(k2, lat, lp, graph))
        return out

    on_both(check, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("use_double", [True, False])
def test_ctc_loss_and_gradients_match_k2(on_both, reduction, use_double):
    def check(k2):
        lp, segs = _dense_case(5, 4, 9, 6)
        lp.requires_grad_()
        rng = random.Random(5)
        syms = [[rng.randint(1, 5) for _ in range(rng.randint(0, 4))] for _ in range(4)]
        syms[2] = [3, 3, 3, 3, 3, 3]  # longer than its frames allow: no path, loss inf
        graph = k2.ctc_graph(syms)
        lengths = torch.tensor([max(len(s), 1) for s in syms], dtype=torch.float32)
        loss = k2.ctc_loss(graph, k2.DenseFsaVec(lp, segs), output_beam=10,
                           reduction=reduction, use_double_scores=use_double,
                           target_lengths=lengths)
        fn = k2.CtcLoss(output_beam=10, reduction="none", use_double_scores=use_double)
        per_seq = fn(graph, k2.DenseFsaVec(lp, segs))
        finite = torch.isfinite(per_seq)
        per_seq[finite].sum().backward()
        return [loss.detach().clone(), per_seq.detach().clone(), lp.grad.clone()]

    on_both(check, rtol=1e-4, atol=1e-4)


def test_ctc_loss_with_delay_penalty_matches_k2(on_both):
    def check(k2):
        lp, segs = _dense_case(7, 3, 8, 5)
        lp.requires_grad_()
        graph = k2.ctc_graph([[1, 2], [3], [4, 4]])
        loss = k2.ctc_loss(graph, k2.DenseFsaVec(lp, segs), delay_penalty=0.3,
                           reduction="none")
        loss.sum().backward()
        return [loss.detach().clone(), lp.grad.clone()]

    on_both(check, rtol=1e-4, atol=1e-4)
