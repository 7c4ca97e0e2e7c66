"""``compose`` against brute force: the weighted relation of the result (input string,
output string -> log-sum of path weights) equals joining every path of ``a`` with every
path of ``b`` on the middle string (epsilons removed), for random acyclic transducers with
output epsilons on ``a``, input epsilons on ``b``, or neither; and H o linear FST is the CTC
graph (same CTC loss)."""

from __future__ import annotations

import math
import random
from collections import defaultdict

import pytest
import torch

from icefall_lite.fsa import (
    DenseFsaVec,
    Fsa,
    arc_sort,
    create_fsa_vec,
    ctc_graph,
    ctc_loss,
    ctc_topo,
    linear_fst,
)
from icefall_lite.fsa.compose import compose
from tests.fsa.helpers import arcs_to_text, random_acyclic_arcs


def _paths(fsa: Fsa):
    """(labels, aux_labels, score) of every successful path of a single acyclic FSA."""
    v = fsa.arcs.values()
    src, dst, lab = v[:, 0].tolist(), v[:, 1].tolist(), v[:, 2].tolist()
    aux = fsa.aux_labels.tolist() if "aux_labels" in fsa._tensor_attr else lab
    sc = fsa.scores.tolist()
    final = fsa.shape[0] - 1
    out = []

    def walk(s, li, ao, w):
        if s == final:
            out.append((li, ao, w))
            return
        for i in range(len(src)):
            if src[i] == s:
                walk(dst[i], li + [lab[i]], ao + [aux[i]], w + sc[i])
    if fsa.shape[0]:
        walk(0, [], [], 0.0)
    return out


def _strip(seq):
    return tuple(x for x in seq if x > 0)


def _relation(triples):
    """(input string, output string), epsilons removed -> log-sum of the path weights."""
    rel = defaultdict(list)
    for li, ao, w in triples:
        rel[(_strip(li), _strip(ao))].append(w)
    return {k: torch.logsumexp(torch.tensor(v, dtype=torch.float64), 0).item()
            for k, v in rel.items()}


def _random_fst(rng, eps_in: bool, eps_out: bool):
    arcs, n = random_acyclic_arcs(rng, max_states=5, max_label=3)
    arcs = [(s, d, (rng.randint(1, 3) if lab == 0 and not eps_in else lab), w)
            for s, d, lab, w in arcs]
    fsa = Fsa.from_str(arcs_to_text(arcs, n))
    aux = [-1 if lab == -1 else rng.randint(0 if eps_out else 1, 3) for _, _, lab, _ in arcs]
    fsa.aux_labels = torch.tensor(aux, dtype=torch.int32)
    return fsa


@pytest.mark.parametrize("eps_side", ["a", "b", "none"])
def test_compose_relation_equals_brute_force_join(eps_side):
    rng = random.Random({"a": 1, "b": 2, "none": 3}[eps_side])
    for _ in range(12):
        a = _random_fst(rng, eps_in=True, eps_out=eps_side == "a")
        b = _random_fst(rng, eps_in=eps_side == "b", eps_out=True)
        out = compose(a, arc_sort(b), inner_labels="inner")
        join = []
        for ai, ao, aw in _paths(a):
            for bi, bo, bw in _paths(b):
                if _strip(ao) == _strip(bi):
                    join.append((ai, bo, aw + bw))
        # a move of b alone (its input epsilon) gives an input epsilon, as in k2
        want = _relation(join)
        got = _relation(_paths(out))
        assert set(got) == set(want)
        for k in want:
            assert math.isclose(got[k], want[k], abs_tol=1e-5)


def test_compose_of_ctc_topo_and_transcript_is_the_ctc_graph():
    torch.manual_seed(0)
    lp = torch.randn(2, 8, 4).log_softmax(-1)
    dense = DenseFsaVec(lp, torch.tensor([[0, 0, 8], [1, 0, 8]], dtype=torch.int32))
    for modified in (False, True):
        graphs = [compose(ctc_topo(3, modified=modified), arc_sort(linear_fst(t, t)),
                          inner_labels="tokens") for t in ([2, 2, 3], [1])]
        got = ctc_loss(create_fsa_vec(graphs), dense, reduction="none")
        want = ctc_loss(ctc_graph([[2, 2, 3], [1]], modified=modified), dense,
                        reduction="none")
        torch.testing.assert_close(got, want)


def test_compose_rejects_what_it_cannot_do():
    a = Fsa.from_str("0 1 1 0 0.5\n1 2 -1 -1 0\n2", num_aux_labels=1)
    b = Fsa.from_str("0 1 0 3 0.5\n1 2 -1 -1 0\n2", num_aux_labels=1)
    with pytest.raises(NotImplementedError, match="both"):
        compose(a, arc_sort(b))
    del a.aux_labels
    with pytest.raises(ValueError, match="aux_labels"):
        compose(a, b)
