"""OpenFst <-> arrays <-> k2 dict conversion, checked against OpenFst's own text compiler and
printer (through kaldifst) and its binary files."""

from __future__ import annotations

import kaldifst
import numpy as np
import pytest
import torch

from icefall_lite.lang.fst_convert import (
    FstArrays,
    arrays_to_fst,
    fst_to_arrays,
    fst_to_k2_dict,
    k2_dict_scores,
)


def _iterate(fst) -> tuple[set, dict]:
    arcs = {(s, a.nextstate, a.ilabel, a.olabel, round(a.weight.value, 5))
            for s in kaldifst.StateIterator(fst) for a in kaldifst.ArcIterator(fst, s)}
    finals = {s: round(fst.final(s).value, 5) for s in kaldifst.StateIterator(fst)
              if fst.final(s).value != float("inf")}
    return arcs, finals


def _random_arrays(rng: np.random.Generator, num_states: int, num_arcs: int) -> FstArrays:
    finals = rng.choice(num_states, size=3, replace=False)
    return FstArrays(
        start=int(rng.integers(num_states)), num_states=num_states,
        src=rng.integers(num_states, size=num_arcs), dst=rng.integers(num_states, size=num_arcs),
        ilabel=rng.integers(0, 100000, size=num_arcs),
        olabel=rng.integers(0, 300, size=num_arcs),
        weight=np.round(rng.normal(size=num_arcs), 3), final_state=np.sort(finals),
        final_weight=np.round(rng.normal(size=3), 3),
    )


def test_arrays_round_trip_through_kaldifst():
    a = _random_arrays(np.random.default_rng(0), num_states=40, num_arcs=300)
    fst = arrays_to_fst(a)
    assert fst.start == a.start and fst.num_states == a.num_states
    arcs, finals = _iterate(fst)
    assert arcs == {(s, d, i, o, round(float(np.float32(w)), 5)) for s, d, i, o, w in
                    zip(a.src.tolist(), a.dst.tolist(), a.ilabel.tolist(), a.olabel.tolist(),
                        a.weight.tolist())}
    assert finals == {s: round(float(np.float32(w)), 5)
                      for s, w in zip(a.final_state.tolist(), a.final_weight.tolist())}
    b = fst_to_arrays(fst)
    assert b.start == a.start and b.num_states == a.num_states
    assert _iterate(arrays_to_fst(b)) == (arcs, finals)


def _att_lines(a: FstArrays) -> list[tuple[int, ...]]:
    """Arcs (src, dst, ilabel, olabel) in OpenFst's text order: grouped by source state, the
    start state first."""
    order = np.argsort(a.src, kind="stable")
    rows = list(zip(a.src[order].tolist(), a.dst[order].tolist(), a.ilabel[order].tolist(),
                    a.olabel[order].tolist(), a.weight[order].tolist()))
    return [r for r in rows if r[0] == a.start] + [r for r in rows if r[0] != a.start]


def test_built_graph_prints_as_openfst_compiles_the_same_arcs():
    a = _random_arrays(np.random.default_rng(1), num_states=30, num_arcs=200)
    rows = _att_lines(a)
    text = "".join(f"{s} {d} {i} {o} {w}\n" for s, d, i, o, w in rows)
    text += "".join(f"{s} {w}\n" for s, w in zip(a.final_state.tolist(), a.final_weight.tolist()))
    compiled = kaldifst.compile(text, acceptor=False)
    # the compiler numbers states in order of appearance in the text: number them so here too
    new_id: dict[int, int] = {}
    for state in [x for r in rows for x in r[:2]] + a.final_state.tolist():
        new_id.setdefault(state, len(new_id))
    assert len(new_id) == a.num_states == compiled.num_states
    remap = np.vectorize(new_id.__getitem__)
    renumbered = FstArrays(new_id[a.start], a.num_states, remap(a.src), remap(a.dst), a.ilabel,
                           a.olabel, a.weight, remap(a.final_state), a.final_weight)
    assert arrays_to_fst(renumbered).to_str() == compiled.to_str()


def test_arrays_survive_an_openfst_binary_file_bit_for_bit(tmp_path):
    a = _random_arrays(np.random.default_rng(2), num_states=25, num_arcs=150)
    path = str(tmp_path / "graph.fst")
    assert arrays_to_fst(a).write(path)
    b = fst_to_arrays(kaldifst.StdVectorFst.read(path))
    order = np.argsort(a.src, kind="stable")
    assert (b.start, b.num_states) == (a.start, a.num_states)
    for name in ("src", "dst", "ilabel", "olabel"):
        assert np.array_equal(getattr(b, name), getattr(a, name)[order]), name
    assert np.array_equal(b.weight, a.weight[order].astype(np.float32).astype(np.float64))
    assert np.array_equal(b.final_state, a.final_state)
    assert np.array_equal(b.final_weight, a.final_weight.astype(np.float32).astype(np.float64))


def test_an_empty_fst_is_rejected():
    with pytest.raises(ValueError, match="empty"):
        fst_to_arrays(kaldifst.StdVectorFst())


def test_reading_a_graph_written_by_openfst():
    fst = kaldifst.compile("3 1 5 6 0.5\n3 0 2 0 1.25\n1 0 7 8 0\n0 0.75\n1 2\n", acceptor=False)
    a = fst_to_arrays(fst)
    got = {(s, d, i, o, w) for s, d, i, o, w in zip(a.src.tolist(), a.dst.tolist(),
                                                     a.ilabel.tolist(), a.olabel.tolist(),
                                                     a.weight.tolist())}
    assert got == _iterate(fst)[0]
    assert dict(zip(a.final_state.tolist(), a.final_weight.tolist())) == _iterate(fst)[1]


def test_k2_dict_renumbers_start_to_zero_and_adds_the_final_state():
    # OpenFst states 0, 1, 2 with start 2; final weights become arcs labelled -1 into state 3
    a = FstArrays(start=2, num_states=3, src=np.array([2, 2, 0, 0]), dst=np.array([0, 2, 2, 1]),
                  ilabel=np.array([5, 2, 7, 4]), olabel=np.array([6, 0, 8, 0]),
                  weight=np.array([0.5, 1.25, 0.0, 3.0]), final_state=np.array([1, 2]),
                  final_weight=np.array([2.0, 0.75]))
    d = fst_to_k2_dict(arrays_to_fst(a))
    # new ids: start 2 -> 0, then 0 -> 1, 1 -> 2; final state 3
    assert d["arcs"][:, :3].tolist() == [[0, 0, 2], [0, 1, 5], [0, 3, -1],
                                         [1, 2, 4], [1, 0, 7], [2, 3, -1]]
    assert d["aux_labels"].tolist() == [0, 6, -1, 0, 8, -1]
    assert k2_dict_scores(d).tolist() == pytest.approx([-1.25, -0.5, -0.75, -3.0, 0.0, -2.0])
    assert d["arcs"].dtype == torch.int32 and d["aux_labels"].dtype == torch.int32
