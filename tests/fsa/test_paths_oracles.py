"""The path algorithms' CPU code paths against brute force (main environment): total
scores and arc posteriors against enumeration of all successful paths, in both semirings,
for the forward and backward passes in one numpy loop (merged or not) and in one loop
each; sampled paths of lattices whose start state is not a root against the FSAs'
successful paths; the levels of lattice vecs against longest-path depths; the arc cdf
against k2's recipe written out in plain Python."""

from __future__ import annotations

import math
import random

import pytest
import torch

from icefall_lite import fsa as F
from icefall_lite.fsa import cpu_loops, paths
from tests.fsa.lattices import lattice_text, longest_depths, random_lattice
from tests.fsa.path_cases import cdf_walks, mixed_lattices, start_not_root_lattice
from tests.fsa.test_fsa_oracles import enumerate_paths


def _vec(lattices):
    return F.create_fsa_vec([F.Fsa.from_str(lattice_text(a, n)) for a, n in lattices])


def _expected(arcs, num_states, scores, log_semiring):
    """(total score, per-arc posterior) over the successful paths, path sums left to right
    in Python floats; posteriors -inf for arcs on no successful path."""
    sums = {}
    for path in enumerate_paths(arcs, num_states):
        total = 0.0
        for a in path:
            total += scores[a]
        sums[tuple(path)] = total
    if not sums:
        return -math.inf, [-math.inf] * len(arcs)

    def combine(values):
        if not log_semiring:
            return max(values)
        top = max(values)
        return top + math.log(sum(math.exp(v - top) for v in values))

    tot = combine(list(sums.values()))
    post = []
    for a in range(len(arcs)):
        through = [v for p, v in sums.items() if a in p]
        post.append(combine(through) - tot if through else -math.inf)
    return tot, post


@pytest.mark.parametrize("loops", ["merged", "both unmerged", "single"])
@pytest.mark.parametrize("log_semiring", [True, False])
def test_tot_scores_and_arc_posteriors_equal_enumeration(loops, log_semiring, monkeypatch):
    if loops == "single":
        monkeypatch.setattr(paths, "_NUMPY_MAX_ARCS_PER_LEVEL_BOTH", -1)
    if loops == "both unmerged":  # forward_backward_push's two loops (big levels)
        monkeypatch.setattr(cpu_loops, "MERGED_MAX_ARCS_PER_LEVEL", -1)
    for seed in range(4):
        lattices = mixed_lattices(seed, start_not_root=True)
        vec = _vec(lattices)
        post = vec.get_arc_post(use_double_scores=True, log_semiring=log_semiring).tolist()
        tot = vec.get_tot_scores(use_double_scores=True, log_semiring=log_semiring).tolist()
        scores = vec.scores.to(torch.float64).tolist()
        offset = 0
        for i, (arcs, n) in enumerate(lattices):
            want_tot, want_post = _expected(arcs, n, scores[offset:offset + len(arcs)],
                                            log_semiring)
            if log_semiring:
                assert tot[i] == pytest.approx(want_tot, rel=1e-12, abs=1e-12)
            else:  # a max of left-to-right sums, as the forward pass adds them: exact
                assert tot[i] == want_tot
            assert post[offset:offset + len(arcs)] == pytest.approx(want_post, rel=1e-9,
                                                                    abs=1e-9)
            offset += len(arcs)


@pytest.mark.parametrize("merged", [True, False])
@pytest.mark.parametrize("log_semiring", [True, False])
def test_one_loop_for_both_passes_equals_the_two_passes_bit_for_bit(merged, log_semiring,
                                                                    monkeypatch):
    if not merged:
        monkeypatch.setattr(cpu_loops, "MERGED_MAX_ARCS_PER_LEVEL", -1)
    for seed in range(4):
        vec = _vec(mixed_lattices(seed, start_not_root=True))
        scores = paths._scores(vec, True)
        both = paths._numpy_both_passes(vec, scores, log_semiring)
        fwd = paths._numpy_pass(vec, scores, log_semiring, backward=False)
        bwd = paths._numpy_pass(vec, scores, log_semiring, backward=True)
        assert torch.equal(both[0], fwd) and torch.equal(both[1], bwd)


def test_random_paths_of_start_not_root_lattices_follow_the_cdf():
    """The start state in level 1 and a 12-arc state after it: the sampler must compare
    both of that state's 8-lane words at step 1 (per-level word counts would give one);
    every path equals the plain-Python walk, and is a successful path."""
    alone = [[start_not_root_lattice(random.Random(seed))] for seed in range(4)]
    for lattices in alone + [mixed_lattices(seed, start_not_root=True) for seed in range(4)]:
        vec = _vec(lattices)
        sampled = F.random_paths(vec, use_double_scores=True, num_paths=20).tolist()
        info = vec.arc_info()
        src, dst = info["src"].tolist(), info["dst"].tolist()
        cdf = paths.get_arc_cdf(vec, True).tolist()
        tot = vec.get_tot_scores(use_double_scores=True, log_semiring=True)
        offset = 0
        for i, (arcs, n) in enumerate(lattices):
            found = {tuple(p) for p in enumerate_paths(arcs, n)}
            assert len(sampled[i]) == (20 if found else 0)
            assert bool(torch.isfinite(tot[i])) == bool(found)
            if found:
                assert sampled[i] == cdf_walks(src, dst, cdf, int(info["start"][i]),
                                               int(info["final"][i]), 20)
            for path in sampled[i]:
                assert tuple(a - offset for a in path) in found
            offset += len(arcs)


def _global_arcs(lattices):
    """(source state, destination state) of every arc of the vec, global state numbers."""
    src, dst, offset = [], [], 0
    for arcs, n in lattices:
        src += [a[0] + offset for a in arcs]
        dst += [a[1] + offset for a in arcs]
        offset += n
    return src, dst


def test_levels_of_lattice_vecs_group_states_and_arcs_by_longest_path_depth():
    """Vecs of several lattices (states numbered level by level within each): the states,
    and the arcs by their source's level, grouped level by level, index order within a
    level (the block permutation of the numpy grouping; one lattice alone: the identity;
    a lattice with a state that nothing enters, a level-0 root among later levels, takes
    the general grouping)."""
    rng = random.Random(5)
    vecs = [mixed_lattices(seed, start_not_root=False) for seed in range(6)]
    vecs += [[random_lattice(rng, frames=7, width=3)]]
    numpy_grouped = 0
    for lattices in vecs:
        vec = _vec(lattices)
        lv = paths.state_levels(vec)
        numpy_grouped += "sorted_states" in lv
        depth = [d for arcs, n in lattices for d in longest_depths(arcs, n)]
        src, dst = _global_arcs(lattices)
        num_levels = max(depth) + 1
        states = sorted(range(len(depth)), key=lambda s: (depth[s], s))
        arcs = sorted(range(len(src)), key=lambda a: (depth[src[a]], a))
        assert lv["num_levels"] == num_levels
        assert lv["level"].tolist() == depth
        assert lv["state_order"].tolist() == states
        assert lv["out_order"].tolist() == arcs
        assert lv["out_src"].tolist() == [src[a] for a in arcs]
        assert lv["out_dst"].tolist() == [dst[a] for a in arcs]
        assert lv["state_splits"] == [sum(d < lev for d in depth)
                                      for lev in range(num_levels + 1)]
        assert lv["out_splits"] == [sum(depth[s] < lev for s in src)
                                    for lev in range(num_levels + 1)]
        assert lv["out_identity"] == (arcs == list(range(len(src))))
    assert numpy_grouped >= 4


def _k2_cdf(src: list, post: list, num_states: int) -> list:
    """k2's GetArcCdf in Python floats: per state the log-sum of its arcs' posteriors (one
    by one), probabilities exp(post - sum), their exclusive sum times 1 / the total (if
    > 0), each value lowered to the smallest later one of its state and to 1."""
    arcs_of: dict[int, list[int]] = {}
    for arc, state in enumerate(src):
        arcs_of.setdefault(state, []).append(arc)
    cdf = [0.0] * len(src)
    for state in range(num_states):
        own = arcs_of.get(state, [])
        total = -math.inf
        for a in own:
            x, y = max(total, post[a]), min(total, post[a])
            total = x if y == -math.inf else x + math.log1p(math.exp(y - x))
        norm = 0.0 if total == -math.inf else total
        run, values = 0.0, []
        for a in own:
            values.append(run)
            run += math.exp(post[a] - norm)
        inv = 1.0 / run if run > 0 else 1.0
        values = [v * inv for v in values]
        for k, a in enumerate(own):
            cdf[a] = min(values[k:] + [1.0])
    return cdf


def test_arc_cdf_follows_k2s_recipe():
    rng = random.Random(3)
    vecs = [mixed_lattices(seed, start_not_root=True) for seed in range(3)]
    vecs += [[random_lattice(rng, frames=40, width=6) for _ in range(2)]]
    for lattices in vecs:
        vec = _vec(lattices)
        assert paths._lanes_numpy(vec, paths._scores(vec, True))
        post = vec.get_arc_post(use_double_scores=True, log_semiring=True).tolist()
        src, _ = _global_arcs(lattices)
        want = _k2_cdf(src, post, sum(n for _, n in lattices))
        got = paths.get_arc_cdf(vec, True).tolist()
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
