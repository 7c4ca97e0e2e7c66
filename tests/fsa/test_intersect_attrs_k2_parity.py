"""Parity with real k2 of the attribute rules of ``intersect_device`` and ``intersect`` when
both inputs carry an attribute of the same name (k2 environment only): float32 tensors are
summed; anything else is an error, the same error k2 raises."""

from __future__ import annotations

import pytest
import torch

from tests.fsa.helpers import plain_fsa

pytestmark = pytest.mark.k2

A_TEXT = "0 1 1 0.5\n0 1 2 0.25\n1 2 3 -0.5\n2 3 -1 0\n3"
B_TEXT = "0 1 2 0.125\n1 2 3 1\n2 3 -1 0\n3"


def _inputs(k2, a_attr, b_attr):
    """A two-path a and a linear b (no epsilons, so k2's epsilon-aware intersect and the
    built-in's agree), each with attribute ``word`` built by ``a_attr`` / ``b_attr``."""
    a, b = k2.Fsa.from_str(A_TEXT), k2.Fsa.from_str(B_TEXT)
    for fsa, make in ((a, a_attr), (b, b_attr)):
        if make is not None:
            fsa.word = make(k2, fsa.num_arcs)
    return a, b


def _int(k2, n):
    return torch.arange(n, dtype=torch.int32) + 7


def _float(k2, n):
    return torch.arange(n, dtype=torch.float32) * 0.5


def _ragged(k2, n):
    return k2.RaggedTensor([[i, i + 1] for i in range(n)], dtype=torch.int32)


def _not_a_tensor(k2, n):
    return "a string attribute"


def _run(k2, op, a, b):
    if op == "intersect":
        return k2.intersect(a, b)
    vec_a, vec_b = k2.create_fsa_vec([a]), k2.create_fsa_vec([b])
    return k2.intersect_device(vec_a, vec_b, torch.zeros(1, dtype=torch.int32))


@pytest.mark.parametrize("op", ["intersect_device", "intersect"])
@pytest.mark.parametrize("a_attr,b_attr", [(_int, _int), (_ragged, _int), (_int, _ragged),
                                           (_ragged, _ragged), (_int, _not_a_tensor)])
def test_same_named_non_float_attributes_raise_like_k2(real_k2, builtin_k2, op, a_attr,
                                                       b_attr):
    errors = []
    for k2 in (real_k2, builtin_k2):
        a, b = _inputs(k2, a_attr, b_attr)
        with pytest.raises(AttributeError) as info:
            _run(k2, op, a, b)
        errors.append(str(info.value))
    assert errors[0] == errors[1]
    assert errors[0].endswith(": word")


@pytest.mark.parametrize("op", ["intersect_device", "intersect"])
def test_float32_in_a_but_not_in_b_raises_in_both(real_k2, builtin_k2, op):
    # real k2 asserts on b's dtype; the built-in raises AttributeError naming the attribute
    a, b = _inputs(real_k2, _float, _int)
    with pytest.raises(AssertionError):
        _run(real_k2, op, a, b)
    a, b = _inputs(builtin_k2, _float, _int)
    with pytest.raises(AttributeError, match="'word'"):
        _run(builtin_k2, op, a, b)


@pytest.mark.parametrize("op", ["intersect_device", "intersect"])
@pytest.mark.parametrize("a_attr,b_attr", [(_float, _float), (_int, None), (None, _int),
                                           (_ragged, None), (None, _ragged)])
def test_attributes_that_can_be_combined_match_k2(on_both, op, a_attr, b_attr):
    def check(k2):
        out = _run(k2, op, *_inputs(k2, a_attr, b_attr))
        word = out.word
        if not isinstance(word, torch.Tensor):
            word = word.tolist()
        return {"fsa": plain_fsa(out), "word": word}

    on_both(check)
