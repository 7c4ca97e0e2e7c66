"""Parity of the built-in ragged functions, SymbolTable and k2.Nbest with real k2 1.23.4 (k2
environment only), on random ragged tensors and random lattices: equal lists, indexes and
shapes; scores to 1e-5."""

from __future__ import annotations

import random

import pytest
import torch

from tests.fsa.helpers import RandomVec, plain_fsa

pytestmark = pytest.mark.k2


def random_nested(rng: random.Random, axes: int, max_len: int = 4, max_val: int = 3) -> list:
    """A random nested list with ``axes`` axes (int values in [-1, max_val])."""
    if axes == 1:
        return [rng.randint(-1, max_val) for _ in range(rng.randint(0, max_len))]
    # k2 cannot tell the depth of an empty inner list: only the last axis has empty lists
    return [random_nested(rng, axes - 1, max_len, max_val) for _ in range(rng.randint(1, max_len))]


def cases(seed: int, axes: int, n: int = 30) -> list[list]:
    rng = random.Random(seed)
    out = [random_nested(rng, axes) for _ in range(n)]
    return [c for c in out if c]  # k2 needs dim0 > 0 for several ops


def shape_parts(shape) -> list:
    return [shape.row_splits(a).clone() for a in range(1, shape.num_axes)]


@pytest.mark.parametrize("axes", [2, 3, 4])
def test_construction_from_nested_lists_matches_k2(on_both, axes):
    """Shape, values and dtype of ``RaggedTensor(list)``: random ints, floats mixed with ints,
    empty rows, an explicit dtype, and a 20,000-row list (the n-best label lists' size)."""
    rng = random.Random(axes)
    data = cases(7, axes, n=12)
    floats = [[[rng.uniform(-2, 2) for _ in range(rng.randint(0, 3))], [1, 2]]
              for _ in range(3)]
    big = [[rng.randint(0, 500) for _ in range(rng.randint(0, 25))] for _ in range(20000)]

    def check(k2):
        out = []
        for d in data + floats + [big, [[]]]:
            r = k2.RaggedTensor(d)
            out.append((shape_parts(r.shape), r.values.clone(), str(r.dtype)))
        r = k2.RaggedTensor(big[:500], dtype=torch.float32)
        out.append((r.values.clone(), str(r.dtype)))
        return out

    on_both(check)


def test_construction_errors_match_k2(real_k2, builtin_k2):
    """Lists k2 refuses, the built-in refuses too (numbers and lists at one depth, one axis)."""
    for bad in ([1, 2], [[1], 2], [[1, [2]]], [[[1]], [2]]):
        for k2 in (real_k2, builtin_k2):
            with pytest.raises((ValueError, RuntimeError)):
                k2.RaggedTensor(bad)


@pytest.mark.parametrize("axes", [2, 3])
def test_unique_matches_k2(on_both, axes):
    data = cases(1, axes)
    rng = random.Random(5)  # long sequences of large ids: k2's int64 hash wraps around
    long_rows = [[rng.randint(0, 5000) for _ in range(rng.randint(8, 14))] for _ in range(6)]
    data.append(long_rows + long_rows[:2] if axes == 2 else [long_rows, long_rows[::-1]])

    def check(k2):
        out = []
        for d in data:
            u, reps, new2old = k2.RaggedTensor(d, dtype=torch.int32).unique(True, True)
            out.append([u.tolist(), reps.tolist(), new2old.clone()])
        return out

    on_both(check)


def test_index_axis0_axis1_and_by_ragged_match_k2(on_both):
    rng = random.Random(2)
    data = cases(2, 3)
    picks = []
    for d in data:
        n0 = len(d)
        idx0 = [rng.randint(-1, n0 - 1) for _ in range(rng.randint(0, 5))]
        # axis-1 indexes: any elements (repeats too) of each row, rows in order (k2 needs it)
        idx1, start = [], 0
        for row in d:
            idx1 += [start + rng.randrange(len(row)) for _ in range(rng.randint(0, 3))
                     if row]
            start += len(row)
        rag = [[rng.randrange(n0) for _ in range(rng.randint(0, 3))] for _ in range(3)]
        picks.append((idx0, idx1, rag))

    def check(k2):
        out = []
        for d, (idx0, idx1, rag) in zip(data, picks):
            r = k2.RaggedTensor(d, dtype=torch.int32)
            a, va = r.index(torch.tensor(idx0, dtype=torch.int32), axis=0,
                            need_value_indexes=True)
            b, vb = r.index(torch.tensor(idx1, dtype=torch.int32), axis=1,
                            need_value_indexes=True)
            c = r.index(k2.RaggedTensor(rag, dtype=torch.int32))
            out.append([a.tolist(), va.clone(), b.tolist(), vb.clone(), c.tolist()])
        return out

    on_both(check)


def test_tensor_indexed_by_ragged_matches_k2(on_both):
    src_f = torch.arange(6, dtype=torch.float32) * 0.5
    src_i = torch.arange(6, dtype=torch.int32) * 3
    data = [[[0, -1, 5], [], [2]], [[1, 1], [-1]]]

    def check(k2):
        out = []
        for d in data:
            idx = k2.RaggedTensor(d, dtype=torch.int32)
            out += [k2.ragged.index(src_f, idx).tolist(), k2.ragged.index(src_i, idx).tolist(),
                    k2.ragged.index(src_f, idx, default_value=7.5).tolist()]
        return out

    on_both(check)


def test_reductions_pad_remove_and_cat_match_k2(on_both):
    rng = random.Random(3)
    data = cases(3, 2)
    floats = [[[round(rng.uniform(-2, 2), 2) for _ in row] for row in d] for d in data]

    def check(k2):
        out = []
        for d, f in zip(data, floats):
            r = k2.RaggedTensor(d, dtype=torch.int32)
            x = k2.RaggedTensor(f, dtype=torch.float32)
            out += [x.sum().clone(), x.sum(1.5).clone(), x.max().clone(), x.argmax().clone(),
                    r.max().clone(), r.argmax().clone(), r.argmax(0).clone(),
                    r.pad("constant", -1).clone(), r.pad("replicate", -1).clone(),
                    r.remove_values_eq(0).tolist(), r.remove_values_leq(0).tolist(),
                    k2.ragged.cat([r, r], axis=0).tolist(), k2.ragged.cat([r, r], axis=1).tolist()]
        for d in cases(4, 3):
            r = k2.RaggedTensor(d, dtype=torch.int32)
            out += [r.remove_axis(0).tolist(), r.remove_axis(1).tolist(),
                    r.sum().clone(), shape_parts(r.shape.get_layer(0))]
        s = k2.ragged.create_ragged_shape2(row_splits=torch.tensor([0, 2, 2, 5],
                                                                    dtype=torch.int32))
        out += [shape_parts(s), shape_parts(k2.ragged.regular_ragged_shape(3, 2))]
        return out

    on_both(check)


def test_symbol_table_matches_k2(on_both, tmp_path):
    text = "<eps> 0\na 1\n\nb\t 3\nc 7\n"

    def check(k2):
        t = k2.SymbolTable.from_str(text)
        no_eps = k2.SymbolTable.from_str("x 1\ny 2")
        added = [t.add("d"), t.add("a"), t.add("e", 20), t.add("f")]
        path = tmp_path / f"{k2.__name__}.txt"
        t.to_file(path)
        back = k2.SymbolTable.from_file(path)
        merged = t.merge(k2.SymbolTable.from_str("<eps> 0\nz 30"))
        return [t.symbols, t.ids, added, t["b"], t[7], "a" in t, 7 in t, "q" in t, 99 in t,
                len(t), t.eps, no_eps.ids, no_eps[0], path.read_text(), back == t,
                merged.symbols, merged.ids, t.to_str()]

    on_both(check)


def lattice(k2, seed: int, ragged_aux: bool = False):
    # (k2 1.23.4 cannot index a one-arc lattice's labels: its stride stays 4)
    vec = RandomVec(random.Random(seed), num_fsas=3, max_states=7, max_label=4)
    return vec.build(k2, aux="ragged" if ragged_aux else "int")


@pytest.mark.parametrize("ragged_aux", [False, True])
@pytest.mark.parametrize("seed", [0, 2, 3, 4])
def test_k2_nbest_from_lattice_top_k_and_levenshtein_match_k2(on_both, seed, ragged_aux):
    def check(k2):
        lat = lattice(k2, seed, ragged_aux)
        nbest = k2.Nbest.from_lattice(lat, num_paths=9, use_double_scores=True,
                                      nbest_scale=0.7)
        out = [shape_parts(nbest.shape), plain_fsa(nbest.fsa, with_attrs=False),
               nbest.fsa.aux_labels.tolist() if ragged_aux else nbest.fsa.aux_labels.clone(),
               nbest.kept_path.tolist(), nbest.total_scores().tolist(),
               plain_fsa(lat)]  # the lattice's scores are restored
        if nbest.shape.tot_size(1) and min(nbest.shape.row_splits(1).diff()) > 0:
            top = nbest.top_k(1)
            out += [shape_parts(top.shape), plain_fsa(top.fsa)]
        if nbest.shape.tot_size(1):
            out.append(plain_fsa(nbest.build_levenshtein_graphs()))
        return out

    on_both(check)
