"""``union``, ``cat``, ``closure``, ``reverse``, ``prune_on_arc_post``, ``index_add``,
``remove_epsilon``, ``remove_epsilon_and_add_self_loops`` and ``determinize`` against brute
force: every path of small random FSAs is enumerated (label sequence, aux_labels, score), and
the result's paths, weighted language (label sequence -> best score and the aux_labels of the
best path) or arc posteriors are computed from those. Gradients (backward scores, arc
posteriors, remove_epsilon, determinize) are checked by central finite differences."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
import torch

from icefall_lite.k2 import builtin as k2
from tests.fsa.algorithm_oracles import (
    cyclic_epsilon_arcs,
    label_key,
    paths,
    tropical_language,
)
from tests.fsa.helpers import RandomVec, arcs_to_text, random_acyclic_arcs


def _vecs(seed: int, count: int = 12, **kw) -> list[RandomVec]:
    rng = random.Random(seed)
    return [RandomVec(rng, **kw) for _ in range(count)]


def _path_set(fsa) -> Counter:
    """Multiset of (fsa index, labels, aux values, score to 1e-4) of every path."""
    return Counter((i, tuple(lab), tuple(aux), round(sc, 4)) for i, lab, aux, sc, _ in paths(fsa))


def _fd_grad(fsa, f, h: float = 1e-3) -> torch.Tensor:
    """Central finite differences of ``f(fsa)`` (a float) w.r.t. ``fsa.scores``."""
    base = fsa.scores.detach().clone()
    grad = torch.zeros(base.numel(), dtype=torch.float64)
    for i in range(base.numel()):
        vals = []
        for sign in (1, -1):
            s = base.clone()
            s[i] += sign * h
            fsa.scores = s
            vals.append(f(fsa))
        grad[i] = (vals[0] - vals[1]) / (2 * h)
    fsa.scores = base
    return grad


def _autograd(fsa, f) -> torch.Tensor:
    fsa.scores = fsa.scores.detach().clone().requires_grad_(True)
    f(fsa).backward()
    return fsa.scores.grad.to(torch.float64)


# --------------------------------------------------------------------------------------------
def test_union_paths_are_an_epsilon_then_each_fsas_paths():
    for v in _vecs(1):
        v.fsas = [f for f in v.fsas if f[1] > 0] or [([(0, 1, -1, 0.5)], 2, [-1], [[-1]])]
        v.num_fsas = len(v.fsas)
        vec = v.build(k2, aux="int")
        u = k2.union(vec)
        assert u.shape == (1 + sum(n - 1 for _, n, _, _ in v.fsas) + 1, None)
        want = Counter()
        for i in range(vec.shape[0]):
            for _, lab, aux, sc, _ in paths(vec[i]):
                want[(0, (0, *lab), (0, *aux), round(sc, 4))] += 1
        assert _path_set(u) == want


def test_union_rejects_an_empty_fsa():
    vec = k2.create_fsa_vec([k2.Fsa.from_str("0 1 -1 0\n1"), k2.Fsa.from_str("")])
    with pytest.raises(ValueError, match="FSA 1 .* empty"):
        k2.union(vec)


def test_reverse_paths_are_the_reversed_paths():
    for v in _vecs(2):
        vec = v.build(k2, aux="int")
        rev = k2.reverse(vec)
        want = Counter()
        for i, lab, aux, sc, _ in paths(vec):
            # the old final arc becomes the first (epsilon) arc, a new final arc ends it
            want[(i, (0, *lab[-2::-1], -1), (aux[-1], *aux[-2::-1], 0), round(sc, 4))] += 1
        assert _path_set(rev) == want
        twice = Counter((i, label_key(lab), round(sc, 4)) for i, lab, _, sc, _ in
                        paths(k2.reverse(rev)))
        assert twice == Counter((i, label_key(lab), round(sc, 4))
                                for i, lab, _, sc, _ in paths(vec))


def _cycles_at_start(fsa) -> Counter:
    """(labels, aux, score) of every walk leaving the start state and first coming back."""
    v = fsa.arcs.values()[:, :3].tolist()
    sc = fsa.scores.tolist()
    aux = fsa.aux_labels.tolist()
    out: Counter = Counter()

    def walk(s, lab, ax, w):
        for a, (src, d, label) in enumerate(v):
            if src != s:
                continue
            if d == 0:
                out[(tuple(lab + [label]), tuple(ax + [aux[a]]), round(w + sc[a], 4))] += 1
            else:
                walk(d, lab + [label], ax + [aux[a]], w + sc[a])

    walk(0, [], [], 0.0)
    return out


def test_closure_loops_back_through_every_path_and_accepts_the_empty_sequence():
    rng = random.Random(3)
    cases = [("0 1 1 0.5\n1 2 -1 0.25\n2", [7, -1])]  # first arc of state 1 is final
    for _ in range(20):
        arcs, n = random_acyclic_arcs(rng)
        cases.append((arcs_to_text(arcs, n), [-1 if a[2] == -1 else rng.randint(0, 9)
                                              for a in arcs]))
    for text, aux in cases:
        fsa = k2.Fsa.from_str(text)
        fsa.aux_labels = torch.tensor(aux, dtype=torch.int32)
        c = k2.closure(fsa)
        # the only path to the final state: start -> final, label -1, aux -1, score 0
        assert [(lab, ax, sc) for _, lab, ax, sc, _ in paths(c)] == [([-1], [-1], 0.0)]
        want = Counter((tuple(lab[:-1]) + (0,), tuple(ax[:-1]) + (0,), round(sc, 4))
                       for _, lab, ax, sc, _ in paths(fsa))
        assert _cycles_at_start(c) == want
    assert k2.closure(k2.Fsa.from_str("")).shape == (0, None)


def test_cat_is_create_fsa_vec_of_all_fsas_with_common_attributes():
    vecs = _vecs(4, count=3)
    parts = [vecs[0].build(k2, aux="int"), vecs[1].build(k2, aux="none"),
             vecs[2].build(k2, aux="ragged")]
    out = k2.cat(parts)
    singles = [p[i] for p in parts for i in range(p.shape[0])]
    for s in singles:
        if hasattr(s, "aux_labels"):
            del s.aux_labels
    want = k2.create_fsa_vec(singles)
    assert torch.equal(out.arcs.values(), want.arcs.values())
    assert torch.equal(out.arcs.row_splits(1), want.arcs.row_splits(1))
    assert torch.equal(out.arcs.row_splits(2), want.arcs.row_splits(2))
    assert not hasattr(out, "aux_labels")  # not on every input
    assert torch.equal(out.extra_float, want.extra_float)


def _brute_posteriors(fsa) -> dict[int, float]:
    """Arc index -> posterior probability, from the log-sum of all paths through it."""
    through: dict[int, list[float]] = {}
    tot: dict[int, list[float]] = {}
    for i, _, _, sc, used in paths(fsa):
        tot.setdefault(i, []).append(sc)
        for a in used:
            through.setdefault(a, []).append(sc)
    arc_fsa = fsa.arcs.shape().row_ids(1).long()[fsa.arcs.shape().row_ids(2).long()].tolist()
    lse = lambda xs: max(xs) + math.log(sum(math.exp(x - max(xs)) for x in xs))  # noqa: E731
    return {a: math.exp(lse(v) - lse(tot[arc_fsa[a]])) for a, v in through.items()}


@pytest.mark.parametrize("threshold", [0.05, 0.3, 0.7])
def test_prune_on_arc_post_keeps_the_arcs_of_posterior_at_least_threshold(threshold):
    for v in _vecs(5):
        vec = v.build(k2, aux="int")
        post = _brute_posteriors(vec)
        keep = [a for a in range(vec.num_arcs) if post.get(a, 0.0) >= threshold]
        out = k2.prune_on_arc_post(vec, threshold, True)
        assert torch.equal(out.arcs.row_splits(1), vec.arcs.row_splits(1))
        assert torch.equal(out.arcs.values(), vec.arcs.values()[keep])
        assert torch.equal(out.aux_labels, vec.aux_labels[keep])
    with pytest.raises(ValueError, match="threshold_prob"):
        k2.prune_on_arc_post(vec, 1.0, True)


def test_index_add_adds_rows_and_skips_minus_one():
    g = torch.Generator().manual_seed(6)
    index = torch.randint(-1, 5, (30,), generator=g).to(torch.int32)
    for value, in_out in [(torch.randn(30, generator=g), torch.zeros(5)),
                          (torch.randn(30, 2, generator=g).double(), torch.ones(5, 2).double()),
                          (torch.randint(-9, 9, (30,), generator=g).int(),
                           torch.zeros(5, dtype=torch.int32))]:
        want = in_out.clone()
        for i, j in enumerate(index.tolist()):
            if j >= 0:
                want[j] += value[i]
        k2.index_add(index, value, in_out)
        torch.testing.assert_close(in_out, want)
    with pytest.raises(ValueError, match="int32"):
        k2.index_add(index.long(), torch.zeros(30), torch.zeros(5))
    with pytest.raises(ValueError, match=r"\[-1, 5\)"):
        k2.index_add(index + 1, torch.zeros(30), torch.zeros(5))
    with pytest.raises(ValueError, match="dtype|share"):
        k2.index_add(index, torch.zeros(30), torch.zeros(5, dtype=torch.float64))


# --------------------------------------------------------------------------------------------
def _assert_same_language(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, (score, aux) in want.items():
        assert abs(got[key][0] - score) < 1e-4, key
        assert got[key][1] == aux, key


@pytest.mark.parametrize("aux", ["int", "ragged"])
def test_remove_epsilon_keeps_the_tropical_language_and_best_aux_labels(aux):
    for v in _vecs(7, count=15, max_label=2):  # many epsilons
        vec = v.build(k2, aux=aux)
        out = k2.remove_epsilon(vec)
        assert not bool((out.labels == 0).any())
        assert out.shape[0] == vec.shape[0]
        _assert_same_language(tropical_language(out), tropical_language(vec))


def test_remove_epsilon_through_epsilon_cycles_and_rejects_positive_ones():
    rng = random.Random(8)
    for _ in range(20):
        arcs, n = cyclic_epsilon_arcs(rng)
        fsa = k2.Fsa.from_str(arcs_to_text(arcs, n))
        fsa.aux_labels = torch.tensor([-1 if a[2] == -1 else rng.randint(1, 9) for a in arcs],
                                      dtype=torch.int32)
        out = k2.remove_epsilon(fsa)
        assert not bool((out.labels == 0).any())
        _assert_same_language(tropical_language(out), tropical_language(fsa))
    # the longer epsilon path to state 2 is the better one (hand-computed: 0.5 + 0.5)
    two = k2.remove_epsilon(k2.Fsa.from_str(
        "0 2 0 -1\n0 1 0 0.5\n1 2 0 0.5\n2 3 5 0\n3 4 -1 0\n4"))
    assert tropical_language(two, with_aux=False) == {(0, (5,)): 1.0}
    bad = k2.Fsa.from_str("0 1 0 0.5\n1 0 0 -0.25\n1 2 -1 0\n2")
    with pytest.raises(ValueError, match="positive"):
        k2.remove_epsilon(bad)


def test_remove_epsilon_of_empty_and_pathless_fsas():
    vec = k2.create_fsa_vec([k2.Fsa.from_str(""), k2.Fsa.from_str("0 1 0 0.5\n1 2 3 0\n3")])
    out = k2.remove_epsilon(vec)
    assert out.arcs.row_splits(1).tolist() == [0, 0, 3]  # start, state 2, final
    assert tropical_language(out) == {}
    assert out.labels.tolist() == [3]


def test_remove_epsilon_and_add_self_loops_leaves_only_epsilon_self_loops():
    for v in _vecs(9, count=8):
        vec = v.build(k2, aux="int")
        out = k2.remove_epsilon_and_add_self_loops(vec)
        info = out.arc_info()
        eps = out.labels == 0
        assert bool((info["src"][eps] == info["dst"][eps]).all())
        non_final = out.arcs.shape().tot_size(1) - int((info["num_states"] > 0).sum())
        assert int(eps.sum()) == non_final
        _assert_same_language(tropical_language(k2.remove_epsilon_self_loops(out)),
                              tropical_language(vec))


@pytest.mark.parametrize("push", list(k2.DeterminizeWeightPushingType))
@pytest.mark.parametrize("aux", ["int", "ragged"])
def test_determinize_is_deterministic_with_the_same_tropical_language(push, aux):
    for v in _vecs(10, count=15):
        vec = k2.connect(v.build(k2, aux=aux))
        out = k2.determinize(vec, push)
        info = out.arc_info()
        pairs = list(zip(info["src"].tolist(), out.labels.tolist()))
        assert len(pairs) == len(set(pairs))  # one arc per (state, label)
        # epsilon is an ordinary label for determinize
        _assert_same_language(tropical_language(out, drop_eps=False),
                              tropical_language(vec, drop_eps=False))


def test_determinize_of_fsas_without_a_path_gives_empty_fsas():
    vec = k2.create_fsa_vec([k2.Fsa.from_str("0 1 2 0.5\n0 1 2 0.25\n2"),
                             k2.Fsa.from_str(""),
                             k2.Fsa.from_str("0 1 2 0.5\n0 1 2 0.25\n1 2 -1 0\n2")])
    out = k2.determinize(vec)
    assert out.arcs.row_splits(1).tolist() == [0, 0, 0, 3]
    # both label-2 arcs reach state 1: the better one is emitted at once
    assert out.labels.tolist() == [2, -1] and out.scores.tolist() == [0.5, 0.0]


def test_determinize_of_a_deterministic_input_is_the_input():
    fsa = k2.arc_sort(k2.Fsa.from_str("0 1 1 0.5\n0 1 2 0.5\n1 2 -1 0\n2"))
    assert k2.determinize(fsa) is fsa


def test_label_key_ignores_the_final_label():
    assert label_key([3, 0, -1]) == (3,)
    assert label_key([3, 0, -1], drop_eps=False) == (3, 0)


# --------------------------------------------------------------------------------------------
def _small_vec(seed: int):
    rng = random.Random(seed)
    while True:
        v = RandomVec(rng, num_fsas=3, max_states=5)
        if sum(len(f[0]) for f in v.fsas) >= 4:
            return v.build(k2)


@pytest.mark.parametrize("log_semiring", [True, False])
def test_backward_scores_and_arc_post_gradients_equal_finite_differences(log_semiring):
    for seed in range(3):
        vec = _small_vec(seed)
        w_b = torch.arange(1, vec.arcs.shape().tot_size(1) + 1, dtype=torch.float64)
        w_p = torch.arange(1, vec.num_arcs + 1, dtype=torch.float64).flip(0)

        def finite_sum(x, w):
            return (torch.where(torch.isfinite(x), x, torch.zeros_like(x)) * w).sum()

        def f_bwd(fsa, w=w_b):
            return finite_sum(fsa.get_backward_scores(True, log_semiring), w)

        def f_post(fsa, w=w_p):
            return finite_sum(fsa.get_arc_post(True, log_semiring), w)

        for f in (f_bwd, f_post):
            torch.testing.assert_close(_autograd(vec, f),
                                       _fd_grad(vec, lambda x, f=f: float(f(x))),
                                       rtol=1e-3, atol=1e-3)


def test_remove_epsilon_and_determinize_gradients_equal_finite_differences():
    for seed in range(3):
        vec = k2.connect(_small_vec(seed + 10))
        for op in (k2.remove_epsilon, k2.determinize):
            def tot(fsa, op=op):
                t = op(fsa).get_tot_scores(True, False)
                return t[torch.isfinite(t)].sum()

            torch.testing.assert_close(_autograd(vec, tot),
                                       _fd_grad(vec, lambda x, t=tot: float(t(x))),
                                       rtol=1e-3, atol=1e-3)
