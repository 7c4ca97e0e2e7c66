"""``compose`` of a CTC topology with random epsilon-free LG-like transducers (and of
transducers with output epsilons with acceptors), built-in vs real k2: after ``connect``
and ``arc_sort`` (what compile_hlg does) the results are the same arc for arc, scores to
1e-5, attributes (``tokens``, ``aux_labels``) equal."""

from __future__ import annotations

import random

import pytest
import torch

from tests.fsa.helpers import arcs_to_text, plain_fsa, random_acyclic_arcs

pytestmark = pytest.mark.k2


def _lg(k2, seed: int):
    rng = random.Random(seed)
    arcs = []
    while len(arcs) < 2:  # real k2's compose fails a stride check on 0- and 1-arc inputs
        arcs, n = random_acyclic_arcs(rng, max_states=7, max_label=4)
    arcs = [(s, d, lab if lab != 0 else rng.randint(1, 4), w) for s, d, lab, w in arcs]
    fsa = k2.Fsa.from_str(arcs_to_text(arcs, n))
    fsa.aux_labels = torch.tensor([-1 if a[2] == -1 else rng.randint(0, 9) for a in arcs],
                                  dtype=torch.int32)
    return fsa


@pytest.mark.parametrize("modified", [False, True])
def test_compose_ctc_topo_with_lg_matches_k2(on_both, modified):
    def check(k2):
        out = []
        for seed in range(20):
            lg = _lg(k2, seed)
            hlg = k2.compose(k2.ctc_topo(4, modified=modified), k2.arc_sort(lg),
                             inner_labels="tokens")
            out.append(plain_fsa(k2.arc_sort(k2.connect(hlg))))
        return out

    on_both(check)
