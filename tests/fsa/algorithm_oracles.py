"""Brute-force path enumeration, the oracle of the FSA algorithm tests: every successful
path of every FSA (as plain lists, so it works on either backend's Fsa), and the weighted
language (label sequence -> best score, with the aux_labels of the best path)."""

from __future__ import annotations

import math
import random

import torch

from tests.fsa.helpers import random_acyclic_arcs


def _fsa_lists(fsa):
    """Per FSA of ``fsa`` (an Fsa or FsaVec): (num_states, arcs as (local src, dst, label,
    score, global arc index))."""
    values = fsa.arcs.values()[:, :3].tolist()
    scores = fsa.scores.detach().tolist()
    if fsa.arcs.num_axes() == 2:
        splits1 = [0, fsa.shape[0]]
    else:
        splits1 = fsa.arcs.row_splits(1).tolist()
    splits2 = fsa.arcs.row_splits(fsa.arcs.num_axes() - 1).tolist()
    out = []
    for i in range(len(splits1) - 1):
        a0, a1 = splits2[splits1[i]], splits2[splits1[i + 1]]
        arcs = [(*values[a], scores[a], a) for a in range(a0, a1)]
        out.append((splits1[i + 1] - splits1[i], arcs))
    return out


def _aux_lists(fsa):
    """Per arc, its aux_labels as a list ([] if the Fsa has none)."""
    if not hasattr(fsa, "aux_labels"):
        return None
    aux = fsa.aux_labels
    if isinstance(aux, torch.Tensor):
        return [[x] for x in aux.tolist()]
    return aux.tolist()


def paths(fsa) -> list[tuple[int, list[int], list[int], float, list[int]]]:
    """Every successful path without a repeated state, of every FSA: (fsa index, labels,
    aux values, score, arc indexes). On FSAs whose cycles are epsilon cycles of score <= 0,
    these paths hold the best score of every label sequence."""
    aux = _aux_lists(fsa)
    out = []
    for i, (n, arcs) in enumerate(_fsa_lists(fsa)):
        if n == 0:
            continue
        leaving: dict[int, list] = {}
        for arc in arcs:
            leaving.setdefault(arc[0], []).append(arc)

        def walk(s, seen, labels, auxs, score, used, i=i, n=n, leaving=leaving):
            if s == n - 1:
                out.append((i, labels, auxs, score, used))
                return
            for _, d, lab, w, a in leaving.get(s, ()):
                if d in seen:
                    continue
                walk(d, seen | {d}, labels + [lab], auxs + (aux[a] if aux else []),
                     score + w, used + [a])

        walk(0, {0}, [], [], 0.0, [])
    return out


def label_key(labels: list[int], drop_eps: bool = True) -> tuple[int, ...]:
    return tuple(x for x in labels if x != -1 and (x != 0 or not drop_eps))


def tropical_language(fsa, with_aux: bool = True, drop_eps: bool = True) -> dict:
    """``{(fsa index, label sequence): best score}``, or ``(best score, aux sequence of the
    best path)`` with ``with_aux`` (aux values 0 and -1 left out)."""
    best: dict = {}
    for i, labels, auxs, score, _ in paths(fsa):
        key = (i, label_key(labels, drop_eps))
        if key not in best or score > best[key][0]:
            best[key] = (score, tuple(x for x in auxs if x not in (0, -1)))
    return best if with_aux else {k: v[0] for k, v in best.items()}


def log_language(fsa, drop_eps: bool = True) -> dict:
    """``{(fsa index, label sequence): log-sum of the path scores}`` (acyclic input)."""
    sums: dict = {}
    for i, labels, _, score, _ in paths(fsa):
        sums.setdefault((i, label_key(labels, drop_eps)), []).append(score)
    return {k: max(v) + math.log(sum(math.exp(x - max(v)) for x in v)) for k, v in sums.items()}


def cyclic_epsilon_arcs(rng: random.Random) -> tuple[list, int]:
    """Arcs and state count of a random FSA whose only cycles are epsilon cycles of score
    < 0: an epsilon arc ``s -> s + 1`` with one back (the only arcs between the two), and an
    epsilon self-loop; arcs sorted by source state."""
    arcs, n = [], 0
    while n < 4:
        arcs, n = random_acyclic_arcs(rng, max_states=6)
    s = rng.randint(0, n - 3)
    w = round(rng.uniform(-1.0, 1.0), 4)
    arcs = [a for a in arcs if (a[0], a[1]) != (s, s + 1)]
    arcs += [(s, s + 1, 0, w), (s + 1, s, 0, round(-abs(w) - rng.uniform(0.05, 1.0), 4))]
    t = rng.randint(0, n - 2)
    arcs.append((t, t, 0, round(-rng.uniform(0.05, 1.0), 4)))
    arcs.sort(key=lambda a: a[0])
    return arcs, n
