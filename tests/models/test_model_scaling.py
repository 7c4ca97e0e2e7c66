"""BiasNorm, Swoosh, bypass and the gradient-only regularisers against hand-computed values."""

from __future__ import annotations

import math

import torch

from icefall_lite.models.scaling import (
    Balancer,
    BiasNorm,
    BypassModule,
    SharedDropout,
    SwooshL,
    SwooshR,
    Whiten,
    limit_param_value,
)


def test_biasnorm_matches_formula():
    norm = BiasNorm(3)
    with torch.no_grad():
        norm.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
        norm.log_scale.fill_(0.3)
    x = torch.tensor([[1.0, 2.0, 3.0]])
    rms = math.sqrt(((1 - 0.5) ** 2 + (2 + 1) ** 2 + (3 - 2) ** 2) / 3)
    expected = torch.tensor([[1.0, 2.0, 3.0]]) * math.exp(0.3) / rms
    torch.testing.assert_close(norm(x), expected)


def test_swoosh_values_and_gradient_range():
    x = torch.tensor([-3.0, 0.0, 2.0], dtype=torch.float64)
    r = [math.log1p(math.exp(v - 1)) - 0.08 * v - 0.313261687 for v in x.tolist()]
    left = [math.log1p(math.exp(v - 4)) - 0.08 * v - 0.035 for v in x.tolist()]
    torch.testing.assert_close(SwooshR()(x), torch.tensor(r, dtype=torch.float64))
    torch.testing.assert_close(SwooshL()(x), torch.tensor(left, dtype=torch.float64))
    assert abs(SwooshR()(torch.zeros(1)).item()) < 1e-6
    grid = torch.linspace(-30, 30, 601, requires_grad=True)
    (grad,) = torch.autograd.grad(SwooshR()(grid).sum(), grid)
    assert grad.min() > -0.0801 and grad.max() < 0.9201


def test_bypass_interpolates_between_input_and_module_output():
    bypass = BypassModule(2).eval()
    with torch.no_grad():
        bypass.bypass_scale.copy_(torch.tensor([0.0, 1.0]))
    x_orig, x = torch.ones(1, 1, 2), torch.full((1, 1, 2), 5.0)
    assert bypass(x_orig, x).tolist() == [[[1.0, 5.0]]]


def test_balancer_and_whiten_are_identity_forward_and_change_only_gradients():
    torch.manual_seed(0)
    x = (torch.randn(200, 8) * 50).requires_grad_(True)  # rms far above max_abs
    balancer = Balancer(8, max_abs=2.0, prob=1.0).train()
    y = balancer(x)
    assert torch.equal(y, x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    # gradient descent must shrink |x|: the extra gradient has the sign of x
    extra = grad - torch.ones_like(grad)
    assert (extra * x.sign() > 0).all()

    base = torch.randn(300, 1) @ torch.randn(1, 6)  # rank 1: far from white
    x = (base + 0.01 * torch.randn(300, 6)).requires_grad_(True)
    whiten = Whiten(num_groups=1, whitening_limit=1.5, prob=1.0, grad_scale=0.1).train()
    y = whiten(x)
    assert torch.equal(y, x)
    (grad,) = torch.autograd.grad((y * 0.0).sum() + y.sum(), x)
    assert not torch.allclose(grad, torch.ones_like(grad))
    whiten.eval()
    (grad,) = torch.autograd.grad(whiten(x).sum(), x)
    assert torch.equal(grad, torch.ones_like(grad))


def test_limit_param_value_flips_gradients_that_push_out_of_range():
    p = torch.tensor([-2.0, 0.0, 2.0], requires_grad=True)
    y = limit_param_value(p, -1.5, 1.5, prob=1.0)
    (grad,) = torch.autograd.grad((y * torch.tensor([1.0, 1.0, -1.0])).sum(), p)
    assert grad.tolist() == [-1.0, 1.0, 1.0]


def test_shared_dropout_drops_whole_channels_along_the_shared_dim():
    dropout = SharedDropout(0.5, shared_dim=0).train()
    x = torch.ones(7, 3, 40)
    y = dropout(x)
    assert torch.equal(y, y[:1].expand_as(y))  # same mask for every frame
    assert set(y.unique().tolist()) == {0.0, 2.0}  # dropped, or kept and scaled by 1/(1-p)
    assert torch.equal(dropout.eval()(x), x)


def test_bypass_skip_rate_one_returns_the_input_in_training_only():
    bypass = BypassModule(4, skip_rate=1.0).train()
    x_orig, x = torch.zeros(2, 3, 4), torch.ones(2, 3, 4)
    assert torch.equal(bypass(x_orig, x), x_orig)
    assert torch.equal(bypass.eval()(x_orig, x), torch.full((2, 3, 4), 0.5))
