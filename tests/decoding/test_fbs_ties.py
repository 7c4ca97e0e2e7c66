"""Ties at the ``max_states`` / ``max_contexts`` cut of the decoding streams' numpy pruning:
the cut may fall inside a run of equal scores, and the first of them in input order are kept,
as a stable ranking does (checked against a brute-force one). Lattices with such ties are
compared with real k2 in test_fbs_ties_k2.py."""

from __future__ import annotations

import numpy as np
import pytest

from icefall_lite.transducer.decode_stream import _np_prune


def brute_force_prune(stream, score, num_streams, beam, max_elems):
    """Per stream: sort by descending score, ties in input order; keep the first
    ``max_elems`` (all when ``max_elems <= 0``) that are within ``beam`` of the best."""
    keep = np.zeros(score.size, dtype=bool)
    for s in range(num_streams):
        members = [i for i in range(score.size) if stream[i] == s]
        if not members:
            continue
        best = max(score[i] for i in members)
        ranked = sorted(members, key=lambda i: -score[i])  # sorted() is stable
        for rank, i in enumerate(ranked):
            keep[i] = score[i] >= best - beam and (max_elems <= 0 or rank < max_elems)
    return keep


@pytest.mark.parametrize("seed", range(40))
def test_np_prune_breaks_ties_at_the_cut_like_a_stable_ranking(seed):
    rng = np.random.default_rng(seed)
    num_streams = int(rng.integers(1, 6))
    n = int(rng.integers(0, 80))
    stream = np.sort(rng.integers(0, num_streams, n))
    score = rng.integers(-6, 3, n).astype(np.float64)
    score[rng.random(n) < 0.1] = -np.inf  # masked contexts score -inf
    beam, max_elems = float(rng.integers(0, 8)), int(rng.integers(0, 10))
    expected = brute_force_prune(stream, score, num_streams, beam, max_elems)
    assert _np_prune(stream, score, num_streams, beam, max_elems).tolist() == expected.tolist()
