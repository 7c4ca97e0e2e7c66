"""The built-in fast paths for graded FsaVecs (lattices) against brute force (main
environment): levels against longest-path depths, best paths and n-best intersection
scores against enumeration of all successful paths, sampled paths against the arcs."""

from __future__ import annotations

import random

import torch

from icefall_lite import fsa as F
from icefall_lite.fsa import paths
from tests.fsa.lattices import (
    lattice_text,
    longest_depths,
    random_lattice,
    sampled_sequences,
    wide_lattice,
)
from tests.fsa.test_fsa_oracles import enumerate_paths


def _lattices(seed: int, count: int = 30) -> list[tuple[list, int]]:
    rng = random.Random(seed)
    return [random_lattice(rng, empty=rng.random() < 0.1) for _ in range(count)]


def _vec(lattices):
    return F.create_fsa_vec([F.Fsa.from_str(lattice_text(a, n)) for a, n in lattices])


def test_graded_levels_are_longest_path_depths():
    lattices = _lattices(0)
    levels = paths.graded_levels(_vec(lattices))
    assert levels is not None
    expected = [d for arcs, n in lattices for d in longest_depths(arcs, n)]
    assert levels.tolist() == expected


def test_graded_levels_reject_ungraded_and_cyclic_fsas():
    skip = F.create_fsa_vec([F.Fsa.from_str("0 1 1 0\n0 2 2 0\n1 2 3 0\n2 3 -1 0\n3")])
    assert paths.graded_levels(skip) is None  # 0->2 skips level 1
    loop = F.add_epsilon_self_loops(_vec(_lattices(1, 3)))
    assert paths.graded_levels(loop) is None


def test_shortest_path_of_lattices_is_the_best_enumerated_path():
    lattices = _lattices(2)
    best = F.shortest_path(_vec(lattices), use_double_scores=True)
    for i, (arcs, n) in enumerate(lattices):
        found = enumerate_paths(arcs, n)
        got = best[i].scores.double().sum().item() if best[i].num_arcs else None
        if not found:
            assert got is None
            continue
        want = max(sum(arcs[a][3] for a in p) for p in found)
        assert abs(got - want) < 1e-6


def test_nbest_intersection_scores_equal_the_best_matching_lattice_path():
    rng = random.Random(3)
    lattices = [lat for lat in _lattices(3) if lat[1] > 0]
    seqs, b_to_a = [[1, 2]], [0]
    for i, (arcs, n) in enumerate(lattices):
        k = rng.randint(1, 8)
        seqs += sampled_sequences(rng, arcs, n, k)
        b_to_a += [i] * k
    a = F.arc_sort(_vec(lattices))
    b = F.linear_fsa_with_self_loops(F.linear_fsa(seqs))
    out = F.connect(F.intersect_device(a, b, torch.tensor(b_to_a), sorted_match_a=True))
    tot = out.get_tot_scores(use_double_scores=True, log_semiring=False)
    for j, (seq, i) in enumerate(zip(seqs, b_to_a)):
        arcs, n = lattices[i]
        matching = [sum(arcs[x][3] for x in p) for p in enumerate_paths(arcs, n)
                    if [arcs[x][2] for x in p if arcs[x][2] > 0] == seq]
        if matching:
            assert abs(tot[j].item() - max(matching)) < 1e-6
        else:
            assert tot[j].item() == float("-inf")


def test_random_paths_of_lattices_are_successful_paths():
    lattices = _lattices(4)
    vec = _vec(lattices)
    sampled = F.random_paths(vec, use_double_scores=True, num_paths=9).tolist()
    starts = vec.arcs.shape().row_splits(2)[vec.arcs.shape().row_splits(1)[:-1].long()]
    for i, (arcs, n) in enumerate(lattices):
        found = {tuple(p) for p in enumerate_paths(arcs, n)}
        assert len(sampled[i]) == (9 if found else 0)
        first = int(starts[i])
        for path in sampled[i]:
            assert tuple(a - first for a in path) in found


def test_random_paths_of_wide_lattices_follow_the_cdf():
    """States with 9-20 leaving arcs (more than one 8-lane word in the numpy sampler): each
    path takes at its state the arc ``first + max(count, 1) - 1``, where ``count`` is the
    number of the state's arcs with ``cdf <= p``, then ``p = (p - cdf) / width`` (0 for a
    zero width), stepped here one path at a time in plain Python floats."""
    rng = random.Random(3)
    lattices = [wide_lattice(rng) for _ in range(2)]
    vec = _vec(lattices)
    num_paths = 30
    sampled = F.random_paths(vec, use_double_scores=True, num_paths=num_paths).tolist()
    cdf = paths.get_arc_cdf(vec, True).tolist()
    info = vec.arc_info()
    src, dst = info["src"].tolist(), info["dst"].tolist()
    leaving: dict[int, list[int]] = {}
    for a, s in enumerate(src):
        leaving.setdefault(s, []).append(a)
    for i in range(len(lattices)):
        final = int(info["final"][i])
        for j in range(num_paths):
            p, s, path = (j + 0.5) / num_paths, int(info["start"][i]), []
            while s != final:
                arcs = leaving[s]
                a = arcs[max(sum(cdf[b] <= p for b in arcs), 1) - 1]
                width = (cdf[a + 1] if a + 1 in arcs else 1.0) - cdf[a]
                p = (p - cdf[a]) / width if width > 0 else 0.0
                path.append(a)
                s = dst[a]
            assert sampled[i][j] == path
