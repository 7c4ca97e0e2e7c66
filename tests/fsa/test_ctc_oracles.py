"""Built-in CTC pieces against independent oracles (main environment): the CTC loss and its
gradient = log-sum-exp over every alignment, enumerated by the textbook CTC rule (and
``torch.nn.functional.ctc_loss`` for the values); lattice totals = max / log-sum-exp over
every path of the graph of the right length; the CTC topology's lattice, grouped by output
sequence, gives each target's CTC probability; hand-checked small cases; bad input errors.
"""

from __future__ import annotations

import importlib
import itertools
import math
import random

import pytest
import torch

from icefall_lite.fsa import (
    CtcLoss,
    DenseFsaVec,
    Fsa,
    create_fsa_vec,
    ctc_graph,
    ctc_loss,
    ctc_topo,
    intersect_dense,
    intersect_dense_pruned,
    linear_fst,
    linear_fst_with_self_loops,
)
from tests.fsa.helpers import (
    arcs_to_text,
    force_pruned_steps,
    random_acyclic_arcs,
    random_banded_arcs,
)


def brute_ctc_loss(lp: torch.Tensor, target: list[int], modified: bool) -> torch.Tensor:
    """-log sum over alignments: position sequences in [blank, y1, blank, ..., yU, blank]
    that start at one of the first two, end at one of the last two, and step by 0, 1 or 2
    (2 only onto a symbol that differs from the one skipped from, unless ``modified``)."""
    ext = [0]
    for y in target:
        ext += [y, 0]
    n = len(ext)
    terms = []
    for pos in itertools.product(range(n), repeat=lp.shape[0]):
        if pos[0] > 1 or pos[-1] < n - 2:
            continue
        ok = True
        for a, b in zip(pos, pos[1:]):
            step = b - a
            if step == 2 and (ext[b] == 0 or (not modified and ext[b] == ext[a])):
                ok = False
            elif step not in (0, 1, 2):
                ok = False
            if not ok:
                break
        if ok:
            terms.append(sum(lp[t, ext[p]] for t, p in enumerate(pos)))
    if not terms:
        return torch.tensor(math.inf, dtype=lp.dtype)
    return -torch.logsumexp(torch.stack(terms), 0)


@pytest.mark.parametrize("modified", [False, True])
def test_ctc_loss_and_gradient_equal_brute_force_over_alignments(modified):
    torch.manual_seed(0)
    targets = [[1, 2], [2, 2], [1], [], [3, 1, 3]]
    T, C = 4, 4
    lp = torch.randn(len(targets), T, C).mul(2).log_softmax(-1)
    x = lp.clone().requires_grad_()
    segs = torch.tensor([[i, 0, T] for i in range(len(targets))], dtype=torch.int32)
    loss = ctc_loss(ctc_graph(targets, modified=modified), DenseFsaVec(x, segs),
                    reduction="none")
    loss.sum().backward()
    ref_x = lp.double().clone().requires_grad_()
    ref = torch.stack([brute_ctc_loss(ref_x[i], y, modified) for i, y in enumerate(targets)])
    ref.sum().backward()
    torch.testing.assert_close(loss.double(), ref.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad.double(), ref_x.grad, rtol=1e-4, atol=1e-4)
    if not modified:  # a second, unrelated implementation of the standard loss
        flat = torch.tensor([s for y in targets for s in y], dtype=torch.long)
        torch_loss = torch.nn.functional.ctc_loss(
            lp.transpose(0, 1), flat, torch.full((len(targets),), T),
            torch.tensor([len(y) for y in targets]), reduction="none", zero_infinity=False)
        torch.testing.assert_close(loss, torch_loss, rtol=1e-5, atol=1e-5)


def test_ctc_loss_reductions_segments_and_no_path():
    torch.manual_seed(1)
    lp = torch.randn(2, 6, 3).log_softmax(-1)
    # segment 1 starts at frame 2 of sequence 0; segment 2 cannot fit its target: inf loss
    segs = torch.tensor([[1, 0, 6], [0, 2, 3], [0, 0, 2]], dtype=torch.int32)
    targets = [[1, 2, 1], [2], [1, 1, 1]]
    graph = ctc_graph(targets)
    per = ctc_loss(graph, DenseFsaVec(lp, segs), reduction="none")
    expect = [brute_ctc_loss(lp[1].double(), targets[0], False),
              brute_ctc_loss(lp[0, 2:5].double(), targets[1], False)]
    torch.testing.assert_close(per[:2].double(), torch.stack(expect), rtol=1e-5, atol=1e-5)
    assert per[2] == math.inf
    lengths = torch.tensor([3.0, 1.0, 3.0])
    finite = torch.tensor([True, True, False])
    m = CtcLoss(output_beam=10, reduction="mean")
    mean = m(ctc_graph([targets[0], targets[1]]), DenseFsaVec(lp, segs[:2]),
             target_lengths=lengths[:2])
    torch.testing.assert_close(mean, (per[finite] / lengths[finite]).mean())
    assert ctc_loss(graph, DenseFsaVec(lp, segs), reduction="sum") == math.inf
    single = ctc_loss(graph, DenseFsaVec(lp, segs), use_double_scores=False,
                      reduction="none")
    torch.testing.assert_close(single[:2], per[:2], rtol=1e-5, atol=1e-5)


def _graph_paths(arcs: list, num_states: int, length: int):
    """Every path from state 0 to the final state with exactly ``length`` arcs."""
    out = []

    def walk(state, used, labels, score_arcs):
        if used == length:
            if state == num_states - 1:
                out.append((labels, score_arcs))
            return
        for i, (s, d, lab, _) in enumerate(arcs):
            if s == state:
                walk(d, used + 1, labels + [lab], score_arcs + [i])
    walk(0, 0, [], [])
    return out


@pytest.mark.parametrize("pruned", [False, "dense", "sparse"])
def test_lattice_totals_and_gradients_equal_all_paths_of_the_graph(pruned, monkeypatch):
    if pruned:  # intersect_dense_pruned, every frame stepped one way
        force_pruned_steps(monkeypatch, pruned)
    rng = random.Random(3)
    C, T = 3, 3
    for case in range(12):
        arcs, n = random_acyclic_arcs(rng, max_states=5, max_label=C - 1)
        arcs = sorted(arcs + [(s, s, rng.randint(0, C - 1), round(rng.uniform(-1, 1), 3))
                              for s in range(n - 1)], key=lambda a: a[0])
        graph = Fsa.from_str(arcs_to_text(arcs, n))
        a_scores = torch.tensor([a[3] for a in arcs], dtype=torch.float32)
        graph.scores = a_scores.clone().requires_grad_()
        lp = torch.randn(1, T, C, generator=torch.Generator().manual_seed(case)).log_softmax(-1)
        x = lp.clone().requires_grad_()
        dense = DenseFsaVec(x, torch.tensor([[0, 0, T]], dtype=torch.int32))
        lat = intersect_dense_pruned(graph, dense, 1e3, 1e3, 0, 10 ** 6) if pruned else \
            intersect_dense(create_fsa_vec([graph]), dense, 1e3)
        tot_log = lat.get_tot_scores(use_double_scores=True, log_semiring=True)
        tot_max = lat.get_tot_scores(use_double_scores=True, log_semiring=False)
        paths = _graph_paths(arcs, n, T + 1)
        ref_a = a_scores.double().clone().requires_grad_()
        ref_x = lp.double().clone().requires_grad_()
        dense_ref = torch.cat([ref_x[0], torch.zeros(1, C, dtype=torch.float64)])
        if not paths:
            assert tot_log.item() == -math.inf and tot_max.item() == -math.inf
            continue
        terms = torch.stack([sum(ref_a[i] for i in p) + sum(
            dense_ref[t, lab] if lab >= 0 else dense_ref[T, 0] * 0 for t, lab in enumerate(labs))
            for labs, p in paths])
        ref_log = torch.logsumexp(terms, 0)
        torch.testing.assert_close(tot_log[0], ref_log.detach(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(tot_max[0], terms.max().detach(), rtol=1e-5, atol=1e-5)
        tot_log.sum().backward()
        ref_log.backward()
        torch.testing.assert_close(graph.scores.grad.double(), ref_a.grad, rtol=1e-4,
                                   atol=1e-4)
        torch.testing.assert_close(x.grad.double(), ref_x.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("max_offset", [1, 2, 3])
def test_banded_graph_vecs_totals_and_gradients_equal_all_paths(max_offset, monkeypatch):
    """Vecs of graphs whose arcs go 0..max_offset states forward (ctc_graph's shape, which
    takes intersect_dense's banded frame loops), on sequences of different lengths: each
    lattice's log-sum and max total = those over every path of its graph with one arc per
    frame and the final arc; gradients w.r.t. graph scores and log-probs = the enumeration's."""
    module = importlib.import_module("icefall_lite.fsa.intersect_dense")
    runs: list = []
    run = module._BandedFrames.run
    monkeypatch.setattr(module._BandedFrames, "run",
                        lambda self, *a: (runs.append(self.D), run(self, *a))[1])
    rng = random.Random(max_offset)
    C, N, T = 3, 3, 4
    for case in range(6):
        specs = [random_banded_arcs(rng, max_states=5, max_offset=max_offset, max_label=C - 1)
                 for _ in range(N)]
        graphs = [Fsa.from_str(arcs_to_text(arcs, n)) for arcs, n in specs]
        a_scores = [torch.tensor([a[3] for a in arcs], dtype=torch.float32)
                    for arcs, _ in specs]
        for g, sc in zip(graphs, a_scores):
            g.scores = sc.clone().requires_grad_()
        vec = create_fsa_vec(graphs)
        durs = sorted((rng.randint(1, T) for _ in range(N)), reverse=True)
        lp = torch.randn(N, T, C, generator=torch.Generator().manual_seed(case)).log_softmax(-1)
        x = lp.clone().requires_grad_()
        segs = torch.tensor([[i, 0, d] for i, d in enumerate(durs)], dtype=torch.int32)
        lat = intersect_dense(vec, DenseFsaVec(x, segs), 1e3)
        tot_log = lat.get_tot_scores(use_double_scores=True, log_semiring=True)
        tot_max = lat.get_tot_scores(use_double_scores=True, log_semiring=False)
        ref_x = lp.double().clone().requires_grad_()
        refs = []
        for i, ((arcs, n), sc) in enumerate(zip(specs, a_scores)):
            ref_a = sc.double().clone().requires_grad_()
            found = _graph_paths(arcs, n, durs[i] + 1)
            if not found:
                assert tot_log[i].item() == -math.inf and tot_max[i].item() == -math.inf
                continue
            terms = torch.stack([sum(ref_a[j] for j in p) + sum(
                ref_x[i, t, lab] for t, lab in enumerate(labs) if lab >= 0)
                for labs, p in found])
            torch.testing.assert_close(tot_log[i], torch.logsumexp(terms, 0).detach(),
                                       rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(tot_max[i], terms.max().detach(), rtol=1e-5, atol=1e-5)
            refs.append((i, torch.logsumexp(terms, 0), ref_a))
        if not refs:
            continue
        tot_log[[i for i, _, _ in refs]].sum().backward()
        sum(r for _, r, _ in refs).backward()
        torch.testing.assert_close(x.grad.double(), ref_x.grad, rtol=1e-4, atol=1e-4)
        for i, _, ref_a in refs:
            torch.testing.assert_close(graphs[i].scores.grad.double(), ref_a.grad,
                                       rtol=1e-4, atol=1e-4)
    assert len(runs) == 6 and max(runs) == max_offset


def test_output_beam_keeps_exactly_the_arcs_of_paths_within_the_beam():
    torch.manual_seed(4)
    T, C = 4, 3
    lp = torch.randn(1, T, C).mul(2).log_softmax(-1)
    dense = DenseFsaVec(lp, torch.tensor([[0, 0, T]], dtype=torch.int32))
    graph = create_fsa_vec([ctc_topo(C - 1)])
    full = intersect_dense(graph, dense, 1e3, frame_idx_name="frame")
    beam = 2.0
    lat = intersect_dense(graph, dense, beam, frame_idx_name="frame")
    # an arc survives iff the best path through it is within the beam of the best path
    # (tropical arc posterior = best path through the arc minus the best path)
    post = full.get_arc_post(use_double_scores=True, log_semiring=False)
    within = post > -beam
    assert lat.num_arcs == int(within.sum()) < full.num_arcs
    assert sorted(zip(lat.frame.tolist(), lat.labels.tolist())) == sorted(
        zip(full.frame[within].tolist(), full.labels[within].tolist()))


def _lattice_paths(lat: Fsa):
    """(aux labels without 0/-1, score) of every path of a single-FSA lattice vec."""
    f = lat[0]
    src = f.arcs.values()[:, 0].tolist()
    dst = f.arcs.values()[:, 1].tolist()
    aux = f.aux_labels.tolist()
    sc = f.scores.tolist()
    final = f.shape[0] - 1
    out = []

    def walk(state, words, score):
        if state == final:
            out.append((tuple(words), score))
            return
        for i, s in enumerate(src):
            if s == state:
                walk(dst[i], words + ([aux[i]] if aux[i] > 0 else []), score + sc[i])
    walk(0, [], 0.0)
    return out


@pytest.mark.parametrize("modified", [False, True])
def test_ctc_topo_lattice_groups_into_each_targets_ctc_probability(modified):
    torch.manual_seed(5)
    T, C = 3, 3
    lp = torch.randn(1, T, C).log_softmax(-1)
    dense = DenseFsaVec(lp, torch.tensor([[0, 0, T]], dtype=torch.int32))
    lat = intersect_dense_pruned(ctc_topo(C - 1, modified=modified), dense, 1e3, 1e3, 0,
                                 10 ** 6)
    by_target: dict = {}
    for words, score in _lattice_paths(lat):
        by_target.setdefault(words, []).append(score)
    targets = [y for u in range(T + 1) for y in itertools.product(range(1, C), repeat=u)]
    for y in targets:
        expect = brute_ctc_loss(lp[0].double(), list(y), modified)
        if expect == math.inf:
            assert y not in by_target
            continue
        got = -torch.logsumexp(torch.tensor(by_target[y], dtype=torch.float64), 0)
        assert abs(got.item() - expect.item()) < 1e-5, (y, got, expect)
    total = torch.logsumexp(torch.tensor([s for v in by_target.values() for s in v]), 0)
    if not modified:  # standard CTC: the alignments of all targets are all label sequences
        assert abs(total.item()) < 1e-5


def test_ctc_topo_and_graph_by_hand():
    topo = ctc_topo(1)
    assert topo.arcs.values()[:, :3].tolist() == [
        [0, 0, 0], [0, 1, 1], [0, 2, -1], [1, 0, 0], [1, 1, 1], [1, 2, -1]]
    assert topo.aux_labels.tolist() == [0, 1, -1, 0, 0, -1]
    mod = ctc_topo(1, modified=True)
    assert mod.arcs.values()[:, :3].tolist() == [
        [0, 0, 0], [0, 0, 1], [0, 1, 1], [0, 2, -1], [1, 1, 1], [1, 0, 1]]
    assert mod.aux_labels.tolist() == [0, 1, 1, -1, 0, 0]
    g = ctc_graph([[2, 2]])
    assert g.arcs.values()[:, :3].tolist() == [
        [0, 0, 0], [0, 1, 2], [1, 2, 0], [1, 1, 2], [2, 2, 0], [2, 3, 2],
        [3, 4, 0], [3, 3, 2], [3, 5, -1], [4, 4, 0], [4, 5, -1]]
    assert g.aux_labels.tolist() == [0, 2, 0, 0, 0, 2, 0, 0, -1, 0, -1]
    assert ctc_graph([[2, 2]], modified=True).num_arcs == 12


def test_linear_fst_with_self_loops_by_hand():
    fst = linear_fst([1, 2, 0, 0, 3], [5, 0, 6, 7, 8])
    fst.scores = torch.tensor([0.5, 1.0, 0.25, 0.125, 2.0, 0.0]).requires_grad_()
    out = linear_fst_with_self_loops(fst)
    assert out.labels.tolist() == [0, 1, 0, 2, 0, 3, 0, -1]
    assert out.aux_labels.tolist() == [[], [5], [], [], [], [6, 7, 8], [], []]
    assert out.scores.tolist() == [0, 0.5, 0, 1.0, 0, 2.375, 0, 0]
    out.scores.sum().backward()
    assert fst.scores.grad.tolist() == [1, 1, 1, 1, 1, 1]


def test_frame_attributes_and_pruned_by_hand():
    lp = torch.log(torch.tensor([[[0.6, 0.4], [0.3, 0.7]]]))
    dense = DenseFsaVec(lp, torch.tensor([[0, 0, 2]], dtype=torch.int32))
    lat = intersect_dense(create_fsa_vec([ctc_topo(1)]), dense, 100.0,
                          frame_idx_name="frame", seqframe_idx_name="seqframe")
    assert lat.frame.tolist() == sorted(lat.frame.tolist())
    assert set(lat.frame.tolist()) == {0, 1, 2}
    assert lat.seqframe.tolist() == lat.frame.tolist()
    # P(blank blank) + P(1 blank) + P(blank 1) + P(1 1) = 1: the topology covers everything
    tot = lat.get_tot_scores(use_double_scores=True, log_semiring=True)
    assert abs(tot.item()) < 1e-6
    best = intersect_dense_pruned(ctc_topo(1), dense, 20.0, 8.0, 1, 100)
    assert best.get_tot_scores(True, False).item() == pytest.approx(math.log(0.6 * 0.7))


def test_bad_input_gives_clear_errors():
    lp = torch.randn(2, 5, 3).log_softmax(-1)
    with pytest.raises(ValueError, match="segment 1 .*sequence_index"):
        DenseFsaVec(lp, torch.tensor([[0, 0, 5], [2, 0, 3]], dtype=torch.int32))
    with pytest.raises(ValueError, match="start_frame \\+ duration"):
        DenseFsaVec(lp, torch.tensor([[0, 3, 4]], dtype=torch.int32))
    with pytest.raises(ValueError, match="start_frame outside"):
        DenseFsaVec(lp, torch.tensor([[0, 5, 1]], dtype=torch.int32))
    bad = lp.clone()
    bad[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN .*segment 1"):
        DenseFsaVec(bad, torch.tensor([[0, 0, 5], [1, 0, 5]], dtype=torch.int32))
    dense = DenseFsaVec(lp, torch.tensor([[0, 0, 2], [1, 0, 5]], dtype=torch.int32))
    with pytest.raises(ValueError, match="decreasing duration"):
        intersect_dense(ctc_graph([[1], [2]]), dense, 10.0)
    ok = DenseFsaVec(lp, torch.tensor([[0, 0, 5], [1, 0, 2]], dtype=torch.int32))
    with pytest.raises(ValueError, match="labels must be in \\[-1, 2\\]"):
        ctc_loss(ctc_graph([[1], [3]]), ok)
    with pytest.raises(ValueError, match="labels must be in"):
        intersect_dense_pruned(ctc_topo(4), ok, 20.0, 8.0, 30, 1000)
    with pytest.raises(ValueError, match="reduction"):
        CtcLoss(10, reduction="avg")
