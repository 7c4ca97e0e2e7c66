"""Parity with real k2 of the path algorithms' CPU code paths (k2 environment only): the
forward and backward passes in one numpy loop (merged, or as two loops where levels are
big), the single numpy passes and the torch passes, in both semirings and precisions,
random_paths' sampler with per-step word counts (graded vecs) and with all words (general
vecs), and the arc cdf it samples from against k2's own (``Fsa._get_arc_cdf``), to
rounding."""

from __future__ import annotations

import random

import pytest

from icefall_lite.fsa import cpu_loops, paths
from tests.fsa.helpers import RandomVec
from tests.fsa.lattices import lattice_text, random_lattice
from tests.fsa.path_cases import mixed_lattices

pytestmark = pytest.mark.k2

LOOPS = ["numpy both", "numpy both unmerged", "numpy single", "torch"]


def _set_loops(monkeypatch, loops: str) -> None:
    monkeypatch.setattr(paths, "NUMPY_LOOPS", loops != "torch")
    if loops == "numpy single":  # no merged loop: one numpy loop per pass
        monkeypatch.setattr(paths, "_NUMPY_MAX_ARCS_PER_LEVEL_BOTH", -1)
    if loops == "numpy both unmerged":  # forward_backward_push as two loops (big levels)
        monkeypatch.setattr(cpu_loops, "MERGED_MAX_ARCS_PER_LEVEL", -1)


def _lattice_vec(k2, lattices):
    return k2.create_fsa_vec([k2.Fsa.from_str(lattice_text(a, n)) for a, n in lattices])


def _inputs(k2):
    rng = random.Random(11)
    vecs = [_lattice_vec(k2, mixed_lattices(seed, start_not_root=False)) for seed in range(6)]
    return vecs + [RandomVec(rng).build(k2) for _ in range(12)]


@pytest.mark.parametrize("loops", LOOPS)
@pytest.mark.parametrize("log_semiring", [True, False])
@pytest.mark.parametrize("use_double", [True, False])
def test_arc_posteriors_and_pass_scores_match_k2(on_both, loops, log_semiring, use_double,
                                                 monkeypatch):
    _set_loops(monkeypatch, loops)

    def check(k2):
        out = []
        for vec in _inputs(k2):
            # arc posteriors first: they compute both passes on a fresh Fsa
            post = vec.get_arc_post(use_double_scores=use_double, log_semiring=log_semiring)
            out.append({
                "post": post.clone(),
                "fwd": vec.get_forward_scores(use_double, log_semiring).clone(),
                "bwd": vec.get_backward_scores(use_double, log_semiring).clone(),
                "tot": vec.get_tot_scores(use_double, log_semiring).clone()})
        return out

    on_both(check)


@pytest.mark.parametrize("loops", LOOPS)
@pytest.mark.parametrize("use_double", [True, False])
def test_random_paths_of_wide_lattices_and_general_vecs_match_k2(on_both, loops, use_double,
                                                                   monkeypatch):
    _set_loops(monkeypatch, loops)

    def check(k2):
        return [k2.random_paths(vec, use_double_scores=use_double, num_paths=num).tolist()
                for vec in _inputs(k2) for num in (1, 9, 40)]

    on_both(check)


@pytest.mark.parametrize("use_double", [True, False])
def test_arc_cdf_matches_k2s_to_rounding(on_both, use_double):
    """Per-state sums as k2 forms them, so the cdf agrees to a few ulps, also on long
    lattices (a global running sum would lose ~1e-13 at 5k arcs)."""
    rng = random.Random(4)
    long_lattices = [random_lattice(rng, frames=80, width=8) for _ in range(3)]

    def check(k2):
        vecs = _inputs(k2) + [_lattice_vec(k2, long_lattices)]
        if hasattr(vecs[0], "_get_arc_cdf"):  # real k2
            return [v._get_arc_cdf(use_double, True).clone() for v in vecs]
        return [paths.get_arc_cdf(v, use_double) for v in vecs]

    tol = 1e-13 if use_double else 1e-6
    on_both(check, rtol=tol, atol=tol)


def test_the_inputs_take_the_intended_code_paths(builtin_k2):
    vecs = _inputs(builtin_k2)
    for vec in vecs[:6]:
        assert paths.graded_levels(vec) is not None  # per-step word counts
        assert bool((vec.arc_info()["num_states"] == 0).any())
        scores = paths._scores(vec, True)
        assert paths._numpy_loops(vec, scores, True, paths._NUMPY_MAX_ARCS_PER_LEVEL_BOTH)
        assert paths._lanes_numpy(vec, scores)  # the cdf table and its sampler
    assert any(paths.graded_levels(v) is None for v in vecs[6:])  # Kahn's levels
