"""k2's ``determinize`` (tropical semiring): at most one arc per label leaves each state, and
every label sequence keeps the best score it had.

Construction (per FSA, k2's scheme): a determinized state is a set of input states, each
with the *pending* arcs of its best path that no output arc has emitted yet. Following label
``x`` extends each input state's best path by its best ``x`` arc; the arcs common to the
start of all the new pending paths are emitted on the output arc (its ragged arc map), the
rest stays pending. The arc maps along an output path therefore spell out the best input
path with that label sequence: the output arc's score is the sum of its arc map's scores
(``kNoWeightPushing``), and ``aux_labels`` become the ragged lists of those arcs' values.
Weight pushing adds ``V(next) - V(this)`` to each arc, ``V`` being the max
(``kTropicalWeightPushing``) or log-sum (``kLogWeightPushing``) of the pending scores of a
state, so scores move towards the start and every path keeps its total.

Sequential graph work, done per FSA on Python lists (k2 runs it on the CPU only). Epsilon is
an ordinary label here; the input should be connected (k2 requires it).

Example::

    >>> from icefall_lite.fsa import Fsa
    >>> fsa = Fsa.from_str("0 1 1 0.5\\n0 2 1 0.25\\n1 3 -1 0\\n2 3 -1 0\\n3")
    >>> out = determinize(fsa)
    >>> out.labels, out.scores
    (tensor([ 1, -1], dtype=torch.int32), tensor([0.0000, 0.5000]))
"""

from __future__ import annotations

import enum
import math

import torch

from icefall_lite.fsa import properties as props
from icefall_lite.fsa.fsa import Fsa, make_fsa
from icefall_lite.fsa.ragged_arc_map import map_each_fsa, propagate_ragged, sum_scores

#: determinized states per FSA before giving up (a cyclic input may not be determinizable)
MAX_STATES = 1_000_000


class DeterminizeWeightPushingType(enum.IntEnum):
    """k2's ``DeterminizeWeightPushingType`` (same member names and values)."""

    kTropicalWeightPushing = 0
    kLogWeightPushing = 1
    kNoWeightPushing = 2


_Pending = tuple[int, ...]
_Key = frozenset


def _potential(pending: dict[int, _Pending], scores: list[float],
               push: DeterminizeWeightPushingType) -> float:
    if push == DeterminizeWeightPushingType.kNoWeightPushing:
        return 0.0
    vals = [sum(scores[a] for a in p) for p in pending.values()]
    m = max(vals)
    if push == DeterminizeWeightPushingType.kTropicalWeightPushing:
        return m
    return m + math.log(sum(math.exp(v - m) for v in vals))


def _determinize_one(arcs: list[list[int]], scores: list[float], num_states: int,
                     push: DeterminizeWeightPushingType, fsa_index: int):
    """(output arcs (src, dst, label, arc map, push offset), number of states) of one FSA;
    arc indexes are local to it."""
    leaving: dict[int, list[int]] = {}
    for i, (s, _, _) in enumerate(arcs):
        leaving.setdefault(s, []).append(i)
    final = num_states - 1
    start: dict[int, _Pending] = {0: ()}
    states: list[dict[int, _Pending]] = [start]
    ids: dict[_Key, int] = {frozenset(start.items()): 0}
    potentials = [0.0]
    out = []
    k = 0
    while k < len(states):
        cur = states[k]
        by_label: dict[int, dict[int, tuple[float, _Pending]]] = {}
        for q in sorted(cur):
            pend = cur[q]
            base = sum(scores[a] for a in pend)
            for a in leaving.get(q, ()):
                _, d, lab = arcs[a]
                cand = base + scores[a]
                targets = by_label.setdefault(lab, {})
                if d not in targets or cand > targets[d][0]:
                    targets[d] = (cand, pend + (a,))
        for lab in sorted(by_label, key=lambda x: x & 0xFFFFFFFF):
            paths = [p for _, p in by_label[lab].values()]
            common = 0
            while all(len(p) > common for p in paths) and \
                    len({p[common] for p in paths}) == 1:
                common += 1
            emitted = list(paths[0][:common])
            nxt = {d: p[common:] for d, (_, p) in by_label[lab].items()}
            key = frozenset(nxt.items())
            if key not in ids:
                if len(states) >= MAX_STATES:
                    raise ValueError(f"determinize: FSA {fsa_index} gives more than "
                                     f"{MAX_STATES} states (is it determinizable?)")
                ids[key] = len(states)
                states.append(nxt)
                potentials.append(_potential(nxt, scores, push))
            dst = ids[key]
            out.append((k, dst, lab, emitted, potentials[dst] - potentials[k]))
        k += 1
    # the state holding only the input's final state goes last, as k2 needs
    final_id = ids.get(frozenset({final: ()}.items()))
    if final_id is None:  # no successful path: empty, as connect would make it
        return [], 0
    last = len(states) - 1

    def renum(s: int) -> int:
        return last if s == final_id else s - (s > final_id)

    out = [(renum(s), renum(d), lab, m, off) for s, d, lab, m, off in out]
    out.sort(key=lambda arc: arc[0])  # stable: each state's arcs keep their order
    return out, len(states)


def determinize(fsa: Fsa, weight_pushing_type: DeterminizeWeightPushingType =
                DeterminizeWeightPushingType.kNoWeightPushing) -> Fsa:
    """Determinize an Fsa or FsaVec in the tropical semiring (see the module docstring).

    An input that is already arc-sorted and deterministic is returned as it is. int32 tensor
    attributes (aux_labels) become ragged; float attributes are summed over each arc's arc
    map; scores are differentiable (the derivative of the arc-map sum, as in k2, also where
    weights are pushed)."""
    if fsa.properties & props.ARC_SORTED_AND_DETERMINISTIC:
        return fsa
    push = DeterminizeWeightPushingType(int(weight_pushing_type))
    num_states, src, dst, labels, arc_map, offsets = map_each_fsa(
        fsa, lambda arcs, scores, n, i: _determinize_one(arcs, scores, n, push, i))
    offset = torch.tensor(offsets, dtype=torch.float64, device=fsa.device)
    total = (sum_scores(fsa.scores.detach().to(torch.float64), arc_map) + offset).float()
    out = make_fsa(num_states, src, dst, labels, total, single=fsa.arcs.num_axes() == 2)
    propagate_ragged(fsa, out, arc_map)
    summed = sum_scores(fsa.scores, arc_map)
    out.scores = summed + (total - summed).detach()
    return out


__all__ = ["DeterminizeWeightPushingType", "determinize"]
