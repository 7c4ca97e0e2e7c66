"""Parity with real k2 on *graded* FsaVecs (every arc goes from one level to the next, as in
decoding lattices), the inputs that take the built-in's fast paths: levels by pointer
jumping, intersect_device's per-step pair tables, best-path tracing by pointer doubling and
the padded sampling of random_paths (k2 environment only).

Lattices are random (frames x states per frame, epsilon/blank arcs, dead ends, empty FSAs,
FSAs without a successful path), built from the same text with both backends; the n-best
inputs are many label sequences per lattice, most of them read off the lattice's own paths.
"""

from __future__ import annotations

import random

import pytest
import torch

from icefall_lite.fsa import intersection, paths
from tests.fsa.helpers import plain_fsa
from tests.fsa.lattices import lattice_text, random_lattice, sampled_sequences, wide_lattice

pytestmark = pytest.mark.k2


class Case:
    """A vec of lattices and, for each, some label sequences (n-best paths)."""

    def __init__(self, seed: int, num_lattices: int | None = None):
        rng = random.Random(seed)
        n = num_lattices or rng.randint(1, 5)
        self.lattices = [random_lattice(rng, empty=rng.random() < 0.1) for _ in range(n)]
        self.seqs, self.b_to_a = [], []
        for i, (arcs, ns) in enumerate(self.lattices):
            if ns == 0:
                continue
            k = rng.randint(1, 12)
            self.seqs += sampled_sequences(rng, arcs, ns, k)
            self.b_to_a += [i] * k
        # real k2's linear_fsa_with_self_loops crashes on a vec whose first FSA has 1 arc
        self.seqs = [[1, 2]] + self.seqs
        self.b_to_a = [0] + self.b_to_a

    def build(self, k2, requires_grad: bool = False):
        fsas = [k2.Fsa.from_str(lattice_text(a, n)) for a, n in self.lattices]
        vec = k2.create_fsa_vec(fsas)
        vec.aux_labels = torch.arange(vec.num_arcs, dtype=torch.int32) % 7
        return vec.requires_grad_(requires_grad)


CASES = [Case(seed) for seed in range(40)]


def test_the_cases_are_graded_and_cover_the_edge_cases(builtin_k2):
    for case in CASES:
        assert paths.graded_levels(case.build(builtin_k2)) is not None
    lattices = [lat for c in CASES for lat in c.lattices]
    assert any(n == 0 for _, n in lattices)  # empty FSAs
    assert any(n > 0 and not any(a[2] == -1 for a in arcs) for arcs, n in lattices)
    assert max(len(c.seqs) for c in CASES) >= 30  # many paths per vec


@pytest.mark.parametrize("sorted_match_a", [False, True])
@pytest.mark.parametrize("step_table", ["dense", "sorted"])
def test_nbest_intersection_of_lattices_matches_k2(on_both, sorted_match_a, step_table,
                                                   monkeypatch):
    """Lattices x linear FSAs with epsilon self-loops: output, arc maps, connected total
    scores and gradients; with the per-step scratch table and with its sort fallback."""
    if step_table == "sorted":
        monkeypatch.setattr(intersection, "_DENSE_LIMIT", -1)

    def check(k2):
        out = []
        for case in CASES:
            a = case.build(k2, requires_grad=True)
            a_in = k2.arc_sort(a) if sorted_match_a else a
            b = k2.linear_fsa_with_self_loops(k2.linear_fsa(case.seqs))
            b.requires_grad_(True)
            res, a_map, b_map = k2.intersect_device(
                a_in, b, torch.tensor(case.b_to_a, dtype=torch.int32),
                sorted_match_a=sorted_match_a, ret_arc_maps=True)
            conn = k2.connect(res)
            tot = conn.get_tot_scores(use_double_scores=True, log_semiring=True)
            tot[torch.isfinite(tot)].sum().backward()
            out.append({"res": plain_fsa(res), "a_map": a_map.clone(), "b_map": b_map.clone(),
                        "conn": plain_fsa(conn), "tot": tot.detach().clone(),
                        "grad_a": a.scores.grad.clone(), "grad_b": b.scores.grad.clone()})
        return out

    on_both(check, rtol=1e-4, atol=1e-4)


def test_intersection_with_a_graded_b_side_matches_k2(on_both):
    """a = lattices with epsilon self-loops added (cyclic, so not graded), b = plain linear
    FSAs (graded): the per-step tables key pairs by b's levels."""

    def check(k2):
        out = []
        for case in CASES[:20]:
            a = k2.add_epsilon_self_loops(case.build(k2))
            b = k2.linear_fsa(case.seqs)
            res = k2.intersect_device(a, b, torch.tensor(case.b_to_a, dtype=torch.int32))
            out.append(plain_fsa(res))
        return out

    on_both(check)


@pytest.mark.parametrize("loops", ["numpy", "torch"])
def test_shortest_path_and_scores_of_lattices_match_k2(on_both, loops, monkeypatch):
    monkeypatch.setattr(paths, "NUMPY_LOOPS", loops == "numpy")

    def check(k2):
        out = []
        for case in CASES:
            vec = case.build(k2, requires_grad=True)
            best = k2.shortest_path(vec, use_double_scores=True)
            tot = vec.get_tot_scores(use_double_scores=True, log_semiring=True)
            tot[torch.isfinite(tot)].sum().backward()
            fwd = vec.get_forward_scores(use_double_scores=False, log_semiring=False)
            out.append({"best": plain_fsa(best), "tot": tot.detach().clone(),
                        "fwd": fwd.detach().clone(), "grad": vec.scores.grad.clone()})
        return out

    on_both(check)


@pytest.mark.parametrize("sampler", ["numpy padded", "numpy search", "torch padded",
                                     "torch compacting"])
@pytest.mark.parametrize("use_double", [True, False])
def test_random_paths_of_lattices_match_k2(on_both, sampler, use_double, monkeypatch):
    monkeypatch.setattr(paths, "NUMPY_LOOPS", sampler.startswith("numpy"))
    if sampler == "numpy search":  # the fallback for out-degrees too skewed to pad
        monkeypatch.setattr(paths.cpu_loops, "padded_width", lambda deg: 1 << 40)
    if sampler == "torch compacting":
        monkeypatch.setattr(paths, "_PAD_SLACK", -(1 << 40))

    def check(k2):
        return [k2.random_paths(case.build(k2), use_double_scores=use_double,
                                num_paths=7).tolist() for case in CASES]

    on_both(check)


@pytest.mark.parametrize("use_double", [True, False])
def test_random_paths_of_lattices_with_wide_states_match_k2(on_both, use_double):
    """Out-degrees of 9-20: the numpy sampler counts each state's cdf comparisons over more
    than one 8-lane word."""
    rng = random.Random(11)
    lattices = [wide_lattice(rng) for _ in range(3)]

    def check(k2):
        fsas = k2.create_fsa_vec([k2.Fsa.from_str(lattice_text(a, n)) for a, n in lattices])
        return k2.random_paths(fsas, use_double_scores=use_double, num_paths=40).tolist()

    on_both(check)


@pytest.mark.parametrize("loops", ["numpy", "torch"])
@pytest.mark.parametrize("num_lattices", [1, 5])
def test_best_paths_of_bench_sized_lattices_match_k2(on_both, num_lattices, loops,
                                                     monkeypatch):
    """Lattices of the bench's size (100 frames x 10 states): best paths identical to k2's,
    total scores close."""
    monkeypatch.setattr(paths, "NUMPY_LOOPS", loops == "numpy")
    rng = random.Random(num_lattices)
    lattices = [random_lattice(rng, frames=100, width=10) for _ in range(num_lattices)]

    def check(k2):
        vec = k2.create_fsa_vec([k2.Fsa.from_str(lattice_text(a, n)) for a, n in lattices])
        return {"best": plain_fsa(k2.shortest_path(vec, use_double_scores=True)),
                "tot": vec.get_tot_scores(use_double_scores=True, log_semiring=True)}

    on_both(check)
