"""k2's ``remove_epsilon`` and ``remove_epsilon_and_add_self_loops``: epsilon (label 0) arcs
removed, the weighted language kept in the tropical semiring (each label sequence keeps its
best score), aux_labels carried along as ragged lists.

Construction (per FSA; k2's host algorithm does the same on top-sorted input): the kept
states are the start state, the final state and every state entered by a non-epsilon arc,
in their old order. From a kept state ``s``, the best epsilon path to each state ``t``
reachable over epsilon arcs is found (relaxation, also through epsilon cycles of score
<= 0); every non-epsilon arc ``t -> u`` then gives an output arc ``s -> u`` whose ragged
arc map is that epsilon path followed by the arc, and whose score is their sum (so it is
differentiable). An epsilon cycle with a positive score has no best path: ValueError.

This is sequential graph work, done per FSA on Python lists (k2 runs it on the CPU too);
it is meant for graph building and small lattices.

Example::

    >>> from icefall_lite.fsa import Fsa
    >>> fsa = Fsa.from_str("0 1 0 0.5\\n1 2 3 0.25\\n2 3 -1 0\\n3")
    >>> out = remove_epsilon(fsa)
    >>> out.labels, out.scores
    (tensor([ 3, -1], dtype=torch.int32), tensor([0.7500, 0.0000]))
"""

from __future__ import annotations

from icefall_lite.fsa import properties as props
from icefall_lite.fsa.fsa import Fsa, make_fsa
from icefall_lite.fsa.ops import add_epsilon_self_loops
from icefall_lite.fsa.ragged import RaggedTensor
from icefall_lite.fsa.ragged_arc_map import map_each_fsa, propagate_ragged, sum_scores


def _best_epsilon_paths(s: int, eps_out: dict[int, list[tuple[int, int, float]]],
                        num_states: int, fsa_index: int) -> dict[int, tuple[float, list[int]]]:
    """Best (max-score) epsilon path from ``s`` to every state it reaches over epsilon arcs:
    state -> (score, arc indexes). Bellman-Ford rounds, at most ``num_states``."""
    best: dict[int, tuple[float, list[int]]] = {s: (0.0, [])}
    frontier = [s]
    for _ in range(num_states + 1):
        changed: list[int] = []
        for t in frontier:
            score_t, path_t = best[t]
            for arc, u, w in eps_out.get(t, ()):
                cand = score_t + w
                if u not in best or cand > best[u][0]:
                    best[u] = (cand, path_t + [arc])
                    changed.append(u)
        if not changed:
            return best
        frontier = sorted(set(changed))
    raise ValueError(f"remove_epsilon: FSA {fsa_index} has an epsilon cycle with a positive "
                     "score (through its state "
                     f"{frontier[0]}); k2 needs epsilon cycles of score <= 0")


def _remove_one(arcs: list[list[int]], scores: list[float], num_states: int, fsa_index: int):
    """Output arcs (src, dst, label, arc map, None; local states and arc indexes) and the
    number of output states of one FSA given its arcs ``(src, dst, label)``."""
    eps_out: dict[int, list[tuple[int, int, float]]] = {}
    out_arcs: dict[int, list[tuple[int, int, int]]] = {}
    kept = {0, num_states - 1}
    for i, (s, d, lab) in enumerate(arcs):
        if lab == 0:
            eps_out.setdefault(s, []).append((i, d, scores[i]))
        else:
            out_arcs.setdefault(s, []).append((i, d, lab))
            kept.add(d)
    order = sorted(kept)
    new_id = {s: k for k, s in enumerate(order)}
    result = []
    for s in order:
        best = _best_epsilon_paths(s, eps_out, num_states, fsa_index)
        for t in sorted(best):
            for arc, u, lab in out_arcs.get(t, ()):
                result.append((new_id[s], new_id[u], lab, best[t][1] + [arc], None))
    return result, len(order)


def remove_epsilon(fsa: Fsa) -> Fsa:
    """Remove the epsilon arcs of an Fsa or FsaVec, keeping its weighted language in the
    tropical semiring (see the module docstring). int32 tensor attributes (aux_labels)
    become ragged (the values of each output arc's input arcs, without 0s and without the
    -1 of final arcs); float attributes are summed; scores are differentiable."""
    out = _remove(fsa, remove_filler=True)
    if isinstance(out._tensor_attr.get("aux_labels"), RaggedTensor):
        out.aux_labels = out.aux_labels.remove_values_eq(0)
    return out


def _remove(fsa: Fsa, remove_filler: bool) -> Fsa:
    num_states, src, dst, labels, arc_map, _ = map_each_fsa(fsa, _remove_one)
    out = make_fsa(num_states, src, dst, labels, sum_scores(fsa.scores.detach(), arc_map),
                   single=fsa.arcs.num_axes() == 2)
    propagate_ragged(fsa, out, arc_map, remove_filler=remove_filler)
    out.scores = sum_scores(fsa.scores, arc_map)
    return out


def remove_epsilon_and_add_self_loops(fsa: Fsa, remove_filler: bool = True) -> Fsa:
    """:func:`remove_epsilon`, then an epsilon self-loop on every non-final state (ready for
    an intersection that treats epsilons as ordinary labels); an epsilon-free input only
    gets the self-loops."""
    if fsa.properties & props.EPSILON_FREE:
        return add_epsilon_self_loops(fsa)
    return add_epsilon_self_loops(_remove(fsa, remove_filler))


__all__ = ["remove_epsilon", "remove_epsilon_and_add_self_loops"]
