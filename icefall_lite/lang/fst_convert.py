"""Conversion between OpenFst (kaldifst) graphs and k2's ``Fsa.as_dict()`` format.

An OpenFst graph holds costs (tropical weights) and final weights; k2 holds scores (= -cost) and a
single final state, entered only by arcs labelled -1. The dict written here is what
``k2.Fsa.as_dict()`` returns for a single FSA with ``aux_labels``:

- ``arcs``: int32 ``[num_arcs, 4]`` rows ``(src, dst, label, score)``, the float32 score stored
  bit for bit in the int32 column, sorted by ``src`` then label (with -1 last) then ``dst``;
  state 0 is the start state, the last state the final one.
- ``aux_labels``: int32 ``[num_arcs]`` (-1 on the arcs into the final state).

Example::

    >>> import kaldifst
    >>> fst = kaldifst.compile("0 1 3 7 0.5\\n1 0.25\\n", acceptor=False)
    >>> d = fst_to_k2_dict(fst)
    >>> d["arcs"][:, :3].tolist(), d["aux_labels"].tolist()
    ([[0, 1, 3], [1, 2, -1]], [7, -1])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class FstArrays:
    """The arcs and final weights of an OpenFst graph as arrays (states as in the graph)."""

    start: int
    num_states: int
    src: np.ndarray  # int64 [num_arcs]
    dst: np.ndarray
    ilabel: np.ndarray
    olabel: np.ndarray
    weight: np.ndarray  # float64 [num_arcs], costs
    final_state: np.ndarray  # int64 [num_final]
    final_weight: np.ndarray  # float64 [num_final]


def fst_to_arrays(fst) -> FstArrays:
    """Read every arc and final weight of a kaldifst ``StdVectorFst`` (weights exactly: the
    float32 costs widen to float64 without rounding), through kaldifst's arc iterators."""
    import kaldifst  # noqa: PLC0415

    if fst.start < 0:
        raise ValueError("the FST is empty (it has no start state)")
    num_states = fst.num_states
    columns: list[tuple[int, int, int, int, float]] = []
    finals: list[tuple[int, float]] = []
    for state in range(num_states):
        columns.extend(
            (state, arc.nextstate, arc.ilabel, arc.olabel, arc.weight.value)
            for arc in kaldifst.ArcIterator(fst, state)
        )
        final = fst.final(state).value
        if final != float("inf"):
            finals.append((state, final))
    arcs = np.array(columns, dtype=np.float64).reshape(-1, 5)
    final_array = np.array(finals, dtype=np.float64).reshape(-1, 2)
    ints = arcs[:, :4].astype(np.int64)
    return FstArrays(
        start=fst.start,
        num_states=num_states,
        src=ints[:, 0],
        dst=ints[:, 1],
        ilabel=ints[:, 2],
        olabel=ints[:, 3],
        weight=arcs[:, 4],
        final_state=final_array[:, 0].astype(np.int64),
        final_weight=final_array[:, 1],
    )


def arrays_to_fst(a: FstArrays):
    """Build a kaldifst ``StdVectorFst`` from arrays, keeping the state numbers (arcs of a state
    in their order in the arrays)."""
    import kaldifst  # noqa: PLC0415

    fst = kaldifst.StdVectorFst()
    fst.reserve_states(a.num_states)
    for _ in range(a.num_states):
        fst.add_state()
    fst.start = a.start
    order = np.argsort(a.src, kind="stable")
    weights = a.weight[order].astype(np.float32).tolist()
    for src, dst, ilabel, olabel, weight in zip(
        a.src[order].tolist(), a.dst[order].tolist(), a.ilabel[order].tolist(),
        a.olabel[order].tolist(), weights,
    ):
        fst.add_arc(src, kaldifst.StdArc(ilabel, olabel, weight, dst))
    for state, weight in zip(a.final_state.tolist(), a.final_weight.astype(np.float32).tolist()):
        fst.set_final(state, weight)
    return fst


def fst_to_k2_dict(fst) -> dict[str, torch.Tensor]:
    """Convert a kaldifst transducer into k2's ``Fsa.as_dict()`` format (see the module doc).

    The input labels become ``labels``, the output labels ``aux_labels``; states are renumbered
    so that the start state is 0 (others keep their order) and a new final state comes last.
    """
    a = fst_to_arrays(fst)
    final_state, final_weight = a.final_state, a.final_weight
    order = np.concatenate([[a.start], np.setdiff1d(np.arange(a.num_states), [a.start])])
    new_id = np.empty(a.num_states, dtype=np.int64)
    new_id[order] = np.arange(a.num_states)
    super_final = a.num_states
    src = np.concatenate([new_id[a.src], new_id[final_state]])
    dst = np.concatenate([new_id[a.dst], np.full(len(final_state), super_final)])
    labels = np.concatenate([a.ilabel, np.full(len(final_state), -1)])
    aux = np.concatenate([a.olabel, np.full(len(final_state), -1)])
    scores = np.concatenate([-a.weight, -final_weight]).astype(np.float32)
    # k2's arc order: by source state, then label with -1 (final) last, then destination.
    perm = np.lexsort((dst, labels.astype(np.uint32), src))
    arcs = np.stack(
        [src[perm], dst[perm], labels[perm], scores[perm].view(np.int32).astype(np.int64)], axis=1
    ).astype(np.int32)
    return {
        "arcs": torch.from_numpy(np.ascontiguousarray(arcs)),
        "aux_labels": torch.from_numpy(aux[perm].astype(np.int32)),
    }


def k2_dict_scores(fsa_dict: dict[str, torch.Tensor]) -> torch.Tensor:
    """The float32 scores stored bit for bit in column 3 of ``arcs``."""
    return fsa_dict["arcs"][:, 3].contiguous().view(torch.float32)
