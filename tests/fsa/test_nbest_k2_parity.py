"""Parity of ``k2.Nbest.intersect`` (built-in vs real k2 1.23.4, k2 environment only): n-best
lists sampled from random lattices (int and ragged word labels) intersected with the same
lattices; equal word sequences, arcs and shapes, scores to 1e-5.

Real k2 1.23.4's own ``Nbest.intersect`` cannot run (it calls ``RaggedShape.dim0``, an int, as
a method), so the real-k2 side runs the steps that method documents with real k2's functions:
arc_sort, add_epsilon_self_loops, intersect_device, shortest_path, remove_epsilon."""

from __future__ import annotations

import random

import pytest
import torch

from tests.fsa.helpers import RandomVec, plain_fsa

pytestmark = pytest.mark.k2


def word_sequences(fsa) -> list[list[int]]:
    """The positive aux labels of each FSA of an FsaVec, in arc order (plain lists)."""
    splits = fsa.arcs.shape().remove_axis(1).row_splits(1).tolist()
    aux = fsa.aux_labels
    per_arc = ([[int(w)] for w in aux.tolist()] if isinstance(aux, torch.Tensor)
               else aux.tolist())
    return [[w for arc in per_arc[b:e] for w in arc if w > 0]
            for b, e in zip(splits[:-1], splits[1:])]


def real_intersect(k2, nbest, lat):
    loops = k2.add_epsilon_self_loops(nbest.fsa)
    both = k2.intersect_device(a_fsas=k2.arc_sort(lat), b_fsas=loops,
                               b_to_a_map=nbest.shape.row_ids(1), sorted_match_a=True)
    best = k2.remove_epsilon(k2.shortest_path(both, use_double_scores=True))
    return k2.Nbest(fsa=best, shape=nbest.shape)


@pytest.mark.parametrize("ragged_aux", [False, True])
# seeds whose lattices real k2 handles (others crash it: empty stacks, strided one-arc labels)
@pytest.mark.parametrize("seed", [0, 2, 3, 5, 6, 10, 11])
def test_k2_nbest_intersect_matches_k2(on_both, builtin_k2, seed, ragged_aux):
    def check(k2):
        vec = RandomVec(random.Random(seed), num_fsas=3, max_states=7, max_label=4)
        lat = vec.build(k2, aux="ragged" if ragged_aux else "int")
        nbest = k2.Nbest.from_lattice(lat, num_paths=9, use_double_scores=True,
                                      nbest_scale=0.7)
        del nbest.fsa.aux_labels  # k2 refuses non-float attributes present in both inputs
        best = nbest.intersect(lat) if k2 is builtin_k2 else real_intersect(k2, nbest, lat)
        return [best.shape.row_splits(1).clone(), word_sequences(best.fsa),
                best.total_scores().tolist(), plain_fsa(best.fsa, with_attrs=False)]

    expected, _ = on_both(check)
    assert sum(len(w) for w in expected[1]) > 0  # the cases have words to compare
