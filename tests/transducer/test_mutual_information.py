"""The vectorised mutual-information recursion against the cell-by-cell definition."""

from __future__ import annotations

import math

import pytest
import torch
from loss_helpers import naive_recursion

from icefall_lite.k2 import builtin as k2

BOUNDARIES = torch.tensor([[0, 0, 4, 6], [1, 2, 3, 5], [0, 1, 2, 4], [2, 0, 2, 3]])


def _inputs(modified: bool, S: int = 4, T: int = 6, B: int = 4, dtype=torch.float64):
    px = torch.randn(B, S, T if modified else T + 1, dtype=dtype, requires_grad=True)
    py = torch.randn(B, S + 1, T, dtype=dtype, requires_grad=True)
    return px, py


@pytest.mark.parametrize("modified", [False, True])
def test_total_and_occupation_grads_equal_cell_by_cell_definition(modified):
    px, py = _inputs(modified)
    total, (px_grad, py_grad) = k2.mutual_information_recursion(
        px, py, BOUNDARIES, return_grad=True
    )
    expected = naive_recursion(px, py, BOUNDARIES)
    torch.testing.assert_close(total, expected)
    expected_grads = torch.autograd.grad(expected.sum(), [px, py])
    torch.testing.assert_close(px_grad, expected_grads[0])
    torch.testing.assert_close(py_grad, expected_grads[1])


def test_all_zero_scores_count_the_paths():
    # regular grid with S symbols and T frames has C(S + T, S) monotonic paths
    px, py = torch.zeros(1, 3, 6), torch.zeros(1, 4, 5)
    total = k2.mutual_information_recursion(px, py)
    assert float(total.exp()) == pytest.approx(math.comb(8, 3), rel=1e-6)


@pytest.mark.parametrize("modified", [False, True])
def test_gradcheck_float64(modified):
    px, py = _inputs(modified, S=3, T=4, B=4)
    boundary = torch.tensor([[0, 0, 3, 4], [1, 1, 2, 4], [0, 0, 0, 2], [0, 0, 2, 3]])
    assert torch.autograd.gradcheck(
        lambda a, b: k2.mutual_information_recursion(a, b, boundary), (px, py)
    )


def test_backward_scales_occupations_by_upstream_gradient():
    px, py = _inputs(False)
    total, (px_grad, _) = k2.mutual_information_recursion(px, py, return_grad=True)
    weights = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    (total * weights).sum().backward()
    torch.testing.assert_close(px.grad, px_grad * weights.reshape(-1, 1, 1))


def test_float32_matches_float64():
    px, py = _inputs(False, S=20, T=60, B=3)
    total64 = k2.mutual_information_recursion(px.detach(), py.detach())
    total32 = k2.mutual_information_recursion(px.detach().float(), py.detach().float())
    torch.testing.assert_close(total32.double(), total64, rtol=1e-5, atol=1e-4)


def test_bad_shapes_and_boundaries_raise():
    px, py = _inputs(False)
    with pytest.raises(ValueError, match="py"):
        k2.mutual_information_recursion(px, py[:, :-1])
    with pytest.raises(ValueError, match="boundary"):
        k2.mutual_information_recursion(px, py, torch.tensor([[0, 0, 5, 6]] * 4))
    with pytest.raises(ValueError, match="boundary"):
        k2.mutual_information_recursion(px, py, torch.tensor([[0, 0, 4, 6]]))
