"""Parity of the built-in RNN-T losses with real k2 on random batches (k2 environment only).

102 batches: random boundaries, S up to 50, T up to 300, C up to 500 (most batches small, one in
17 at the largest sizes), all three rnnt_types, float32 and float64, random delay penalty and
reduction. Loss values must agree to 1e-4 (relative), gradients to 1e-3, prune ranges exactly.
"""

from __future__ import annotations

import pytest
import torch
from loss_helpers import RNNT_TYPES, random_problem

NUM_BATCHES = 102
LOSS_TOL = dict(rtol=1e-4, atol=1e-4)
GRAD_TOL = dict(rtol=1e-3, atol=1e-3)
MAX_FULL_GRID = 8_000_000  # elements of [B, T, S+1, C] for the unpruned loss


def _close(actual, expected, tol, what):
    torch.testing.assert_close(
        actual.double(), expected.double(), **tol, msg=lambda m: f"{what}: {m}"
    )


def _settings(seed: int):
    gen = torch.Generator().manual_seed(seed)
    rnnt_type = RNNT_TYPES[seed % 3]
    big = seed % 17 == 16
    dtype = torch.float64 if seed % 4 == 3 else torch.float32
    if big and seed % 34 == 16:  # the largest sizes
        problem = random_problem(gen, 2, 50, 300, 500, rnnt_type, dtype, 50, 300, 500)
    elif big:
        problem = random_problem(gen, 3, 50, 300, 500, rnnt_type, dtype, min_s=30)
    else:
        problem = random_problem(gen, 4, 10, 40, 60, rnnt_type, dtype)
    delay_penalty = [0.0, 0.0, 0.05, 0.3][seed % 4]
    reduction = ["none", "mean", "sum"][(seed // 3) % 3]
    return gen, problem, delay_penalty, reduction


def _simple_losses(ns, p, delay_penalty, reduction, scales):
    lm = p.lm.clone().requires_grad_()
    am = p.am.clone().requires_grad_()
    common = dict(boundary=p.boundary, rnnt_type=p.rnnt_type, delay_penalty=delay_penalty,
                  reduction=reduction, return_grad=True)
    if scales is None:
        loss, (px_grad, py_grad) = ns.rnnt_loss_simple(lm, am, p.symbols, p.blank, **common)
    else:
        loss, (px_grad, py_grad) = ns.rnnt_loss_smoothed(
            lm, am, p.symbols, p.blank, *scales, **common
        )
    loss.sum().backward()
    return loss.detach(), px_grad, py_grad, lm.grad, am.grad


def _joint_loss(fn, logits, *args, **kwargs):
    logits = logits.clone().requires_grad_()
    loss = fn(logits, *args, **kwargs)
    loss.sum().backward()
    return loss.detach(), logits.grad


@pytest.mark.k2
@pytest.mark.parametrize("seed", range(NUM_BATCHES))
def test_losses_grads_and_ranges_match_k2(seed, real_k2, builtin_k2):
    gen, p, delay_penalty, reduction = _settings(seed)
    B, S, T, C = p.sizes
    what = f"seed {seed} {p.rnnt_type} B,S,T,C={p.sizes}"

    px, py = builtin_k2.get_rnnt_logprobs(p.lm, p.am, p.symbols, p.blank, p.rnnt_type, p.boundary)
    px_k2, py_k2 = real_k2.get_rnnt_logprobs(
        p.lm, p.am, p.symbols, p.blank, p.rnnt_type, p.boundary
    )
    _close(px, px_k2, LOSS_TOL, f"{what} get_rnnt_logprobs px")
    _close(py, py_k2, LOSS_TOL, f"{what} get_rnnt_logprobs py")

    scales = [(0.25, 0.0), (0.0, 0.1), (0.1, 0.2)][seed % 3]
    for name, sc in (("simple", None), ("smoothed", scales)):
        expected = _simple_losses(real_k2, p, delay_penalty, reduction, sc)
        actual = _simple_losses(builtin_k2, p, delay_penalty, reduction, sc)
        _close(actual[0], expected[0], LOSS_TOL, f"{what} {name} loss")
        for i, grad_name in enumerate(("px_grad", "py_grad", "lm.grad", "am.grad"), start=1):
            _close(actual[i], expected[i], GRAD_TOL, f"{what} {name} {grad_name}")
    px_grad, py_grad = expected[1], expected[2]

    # identical occupation grads in, identical windows out
    s_range = [2, 3, 4, 5, 8][seed % 5]
    ranges = real_k2.get_rnnt_prune_ranges(px_grad, py_grad, p.boundary, s_range)
    assert torch.equal(
        builtin_k2.get_rnnt_prune_ranges(px_grad, py_grad, p.boundary, s_range), ranges
    ), f"{what} prune ranges"

    D = 6
    enc, dec = torch.randn(B, T, D, generator=gen), torch.randn(B, S + 1, D, generator=gen)
    for a, b in zip(real_k2.do_rnnt_pruning(enc, dec, ranges),
                    builtin_k2.do_rnnt_pruning(enc, dec, ranges)):
        assert torch.equal(a, b), f"{what} do_rnnt_pruning"

    args = (p.symbols, ranges, p.blank, p.boundary, p.rnnt_type, delay_penalty, reduction)
    logits = torch.randn(B, T, ranges.shape[2], C, generator=gen).to(p.lm.dtype) * 2
    expected = _joint_loss(real_k2.rnnt_loss_pruned, logits, *args)
    actual = _joint_loss(builtin_k2.rnnt_loss_pruned, logits, *args)
    _close(actual[0], expected[0], LOSS_TOL, f"{what} pruned loss")
    _close(actual[1], expected[1], GRAD_TOL, f"{what} pruned logits grad")

    if B * T * (S + 1) * C <= MAX_FULL_GRID:
        args = (p.symbols, p.blank, p.boundary, p.rnnt_type, delay_penalty, reduction)
        logits = torch.randn(B, T, S + 1, C, generator=gen).to(p.lm.dtype) * 2
        expected = _joint_loss(real_k2.rnnt_loss, logits, *args)
        actual = _joint_loss(builtin_k2.rnnt_loss, logits, *args)
        _close(actual[0], expected[0], LOSS_TOL, f"{what} full loss")
        _close(actual[1], expected[1], GRAD_TOL, f"{what} full logits grad")


@pytest.mark.k2
@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("modified", [False, True])
def test_mutual_information_recursion_matches_k2(seed, modified, real_k2, builtin_k2):
    gen = torch.Generator().manual_seed(1000 + seed)
    B, S, T = 3, int(torch.randint(1, 20, (1,), generator=gen)), 40
    dtype = torch.float64 if seed % 2 else torch.float32
    px = torch.randn(B, S, T if modified else T + 1, generator=gen).to(dtype)
    py = torch.randn(B, S + 1, T, generator=gen).to(dtype)
    s_begin = torch.randint(0, S + 1, (B,), generator=gen)
    s_end = s_begin + (torch.rand(B, generator=gen) * (S + 1 - s_begin)).long()
    t_begin = torch.randint(0, 10, (B,), generator=gen)
    t_end = torch.maximum(t_begin + s_end - s_begin + torch.randint(0, 20, (B,), generator=gen),
                          t_begin)
    boundary = torch.stack([s_begin, t_begin, s_end, t_end.clamp(max=T)], dim=1)
    if modified:
        ok = (boundary[:, 3] - boundary[:, 1]) >= (boundary[:, 2] - boundary[:, 0])
        boundary[~ok, 2] = boundary[~ok, 0]
    expected, (ex, ey) = real_k2.mutual_information_recursion(px, py, boundary, return_grad=True)
    actual, (ax, ay) = builtin_k2.mutual_information_recursion(px, py, boundary, return_grad=True)
    _close(actual, expected, LOSS_TOL, "total")
    _close(ax, ex, GRAD_TOL, "px_grad")
    _close(ay, ey, GRAD_TOL, "py_grad")
