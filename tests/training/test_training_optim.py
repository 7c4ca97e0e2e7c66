"""ScaledAdam, Eden and lr-scaled parameter groups against hand-written formulas.

The oracle is docs/design/zipformer.rst §10, transcribed independently below.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from icefall_lite.training.optim import Eden, ScaledAdam, get_parameter_groups_with_lrs

BETA1, BETA2, EPS, ETA = 0.9, 0.98, 1e-8, 0.1
MIN_RMS, MAX_RMS, SCALAR_MAX = 1e-5, 3.0, 10.0


class ReferenceScaledAdam:
    """A direct, unbatched transcription of the formulas in docs/design/zipformer.rst §10
    (float64 scalars)."""

    def __init__(self, params, lr, clipping_scale=None):
        self.params = [p.detach().clone() for p in params]
        self.lr = lr
        self.clipping_scale = clipping_scale
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.rms = [p.pow(2).mean().sqrt().item() for p in self.params]
        self.s = [[] for _ in self.params]
        self.w = [0.0 for _ in self.params]
        self.t = 0
        self.norms = []
        self.threshold = None
        self.factors = []
        self.capped = self.floored = self.clamped = False

    def clip_factor(self, grads):
        t = self.t
        if self.clipping_scale is None or t == 0:
            return 1.0
        total = 0.0
        for g, r, p in zip(grads, self.rms, self.params):
            scaled = ETA * g if p.numel() == 1 else g * r
            total += scaled.pow(2).sum().item()
        norm = math.sqrt(total)
        self.norms.append(norm)
        if t in (10, 20, 40) or t % 100 == 0:
            last = sorted(self.norms[-100:])
            if t % 100 == 0:  # the ring holds 100 slots, the one of step 0 never written
                last = sorted(([0.0] * 100 + self.norms)[-100:])
            median = last[(len(last) // 4) * 2]
            self.threshold = self.clipping_scale * median * (2.0 if t in (10, 20, 40) else 1.0)
        if self.threshold is None:
            return 1.0
        return min(1.0, self.threshold / norm)

    def step(self, grads):
        t, lr = self.t, self.lr
        factor = self.clip_factor(grads)
        self.factors.append(factor)
        for i, (p, g) in enumerate(zip(self.params, grads)):
            g = g * factor
            self.m[i] = BETA1 * self.m[i]
            self.v[i] = BETA2 * self.v[i] + (1 - BETA2) * g * g
            if p.numel() == 1:
                v_hat = self.v[i] / (1 - BETA2 ** (t + 1))
                self.m[i] = self.m[i] + (1 - BETA1) * (-lr * ETA * g / (v_hat.sqrt() + EPS))
                new_p = p + self.m[i]
                if new_p.abs().item() > SCALAR_MAX:
                    self.clamped = True
                self.params[i] = new_p.clamp(-SCALAR_MAX, SCALAR_MAX)
                continue
            self.s[i].append((p * g).sum().item())
            if t % 4 == 3:
                self.rms[i] = p.pow(2).mean().sqrt().item()
                last4 = self.s[i][-4:]
                b4 = BETA2**4
                self.w[i] = b4 * self.w[i] + (1 - b4) * sum(x * x for x in last4) / 4
                n = (t + 1) // 4
                delta = -lr * ETA * math.sqrt(1 - b4**n) * sum(last4) / (math.sqrt(self.w[i]) + EPS)
                delta = max(-0.1, min(0.1, delta))
                if self.rms[i] < MIN_RMS:
                    delta, self.floored = 0.0, True
                cap = (MAX_RMS - self.rms[i]) / self.rms[i]
                if delta > cap:
                    delta, self.capped = cap, True
                self.m[i] = self.m[i] + (1 - BETA1) * p * delta
            c = 1 - BETA2 ** (t + 1)
            v_hat = self.v[i] / c if c < 0.99 else self.v[i]
            step = -lr * g / (v_hat.sqrt() + EPS) * max(self.rms[i], MIN_RMS)
            self.m[i] = self.m[i] + (1 - BETA1) * step
            self.params[i] = p + self.m[i]
        self.t += 1


def _make_params():
    g = torch.Generator().manual_seed(1)
    return [
        torch.randn(3, 4, generator=g, dtype=torch.float64),  # ordinary matrix
        2.95 * torch.ones(5, dtype=torch.float64),  # near param_max_rms, pushed to grow
        1e-6 * torch.randn(6, generator=g, dtype=torch.float64),  # below param_min_rms
        torch.tensor([9.99], dtype=torch.float64),  # scalar pushed past scalar_max
    ]


def _gradients(params, t):
    """Deterministic gradients that depend on the current parameters (like a real loss)."""
    g = torch.Generator().manual_seed(100 + t)
    a, b, c, d = params
    return [
        a - 0.5 + 0.3 * torch.randn(a.shape, generator=g, dtype=a.dtype),
        -b,  # d(-|b|²/2): shrinking the loss means growing b
        c + 1e-6 * torch.randn(c.shape, generator=g, dtype=c.dtype),
        torch.full_like(d, -1.0),
    ]


def _run_both(num_steps, lr, clipping_scale=None, grad_hook=None, rtol=1e-9):
    init = _make_params()
    torch_params = [nn.Parameter(p.clone()) for p in init]
    opt = ScaledAdam(torch_params, lr=lr, clipping_scale=clipping_scale)
    ref = ReferenceScaledAdam(init, lr=lr, clipping_scale=clipping_scale)
    for t in range(num_steps):
        grads = _gradients([p.detach() for p in torch_params], t)
        if grad_hook is not None:
            grads = grad_hook(t, grads)
        for p, grad in zip(torch_params, grads):
            p.grad = None if grad is None else grad.clone()
        opt.step()
        ref.step([torch.zeros_like(p) if g is None else g for p, g in zip(init, grads)])
        for i, (p, q) in enumerate(zip(torch_params, ref.params)):
            atol = 1e-12 if rtol < 1e-8 else rtol
            torch.testing.assert_close(p.detach(), q, rtol=rtol, atol=atol,
                                       msg=lambda m, t=t, i=i: f"step {t}, param {i}: {m}")
    return opt, ref


def test_scaled_adam_matches_hand_written_formulas_for_240_steps():
    # 240 steps: past step 227, where the second-moment bias correction (1 - 0.98^(t+1) < 0.99)
    # switches off.
    _, ref = _run_both(num_steps=240, lr=0.05)
    # The scenario exercises every special rule, so a wrong rule cannot pass unnoticed.
    assert ref.capped and ref.floored and ref.clamped


def test_parameter_without_gradient_steps_with_a_zero_gradient():
    # E.g. a layer skipped in this batch: icefall treats the missing gradient as zeros, so the
    # momentum still moves the parameter.
    def drop_first(t, grads):
        return [None, *grads[1:]] if 5 <= t <= 7 else grads

    opt, _ = _run_both(num_steps=10, lr=0.05, clipping_scale=2.0, grad_hook=drop_first, rtol=1e-6)
    assert opt.state[opt.param_groups[0]["params"][0]]["step"] == 10


def test_scaled_adam_step_is_proportional_to_parameter_rms():
    small = nn.Parameter(torch.full((4, 4), 0.01))
    large = nn.Parameter(torch.full((4, 4), 1.0))
    opt = ScaledAdam([small, large], lr=0.1)
    small.grad = torch.ones(4, 4)
    large.grad = torch.ones(4, 4)
    opt.step()
    change_small = (0.01 - small.detach()).abs().mean().item()
    change_large = (1.0 - large.detach()).abs().mean().item()
    assert change_small / 0.01 == pytest.approx(change_large / 1.0, rel=1e-4)


def test_clipping_matches_median_rule_and_clips_a_gradient_spike():
    def spike(t, grads):
        return [g * 1000.0 for g in grads] if t == 11 else grads

    # The gradient norm is accumulated in float32, hence the looser tolerance.
    opt, ref = _run_both(num_steps=13, lr=0.05, clipping_scale=2.0, grad_hook=spike, rtol=1e-6)
    assert ref.factors[0] == 1.0  # step 0 is never clipped
    assert all(f == 1.0 for f in ref.factors[:11])
    assert ref.factors[11] < 0.01  # the spike is clipped down to the threshold
    first_state = opt.state[opt.param_groups[0]["params"][0]]
    # Threshold at step 10: 2 (clipping scale) * 2 (early estimate) * median of the 10 norms.
    norms_1_to_10 = sorted(ref.norms[:10])
    assert first_state["model_norm_threshold"] == pytest.approx(4.0 * norms_1_to_10[4], rel=1e-5)


def test_clipping_raises_when_the_median_gradient_norm_is_nan():
    p = nn.Parameter(torch.randn(3, 3))
    opt = ScaledAdam([p], lr=0.01, clipping_scale=2.0)
    with pytest.raises(RuntimeError, match="not finite"):
        for _ in range(11):
            p.grad = torch.full((3, 3), float("nan"))
            opt.step()


def test_state_dict_round_trip_continues_identically():
    a, b = nn.Parameter(torch.randn(3, 3)), nn.Parameter(torch.randn(()))
    opt = ScaledAdam([a, b], lr=0.05, clipping_scale=2.0)

    def steps(opt, params, ts):
        for t in ts:
            g = torch.Generator().manual_seed(t)
            for p in params:
                p.grad = torch.randn(p.shape, generator=g)
            opt.step()

    steps(opt, [a, b], range(15))
    state = copy.deepcopy(opt.state_dict())  # as torch.save + torch.load would
    a2, b2 = nn.Parameter(a.detach().clone()), nn.Parameter(b.detach().clone())
    opt2 = ScaledAdam([a2, b2], lr=0.05, clipping_scale=2.0)
    opt2.load_state_dict(state)
    steps(opt, [a, b], range(15, 25))
    steps(opt2, [a2, b2], range(15, 25))
    assert torch.equal(a, a2) and torch.equal(b, b2)


def test_parameter_groups_multiply_nested_lr_scales():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)))
    model[1].lr_scale = 0.5
    model[1][1].lr_scale = 0.2
    groups = get_parameter_groups_with_lrs(model, lr=2.0)
    lr_of = {name: g["lr"] for g in groups for name in g["names"]}
    assert lr_of["0.weight"] == 2.0
    assert lr_of["1.0.weight"] == 1.0
    assert lr_of["1.1.bias"] == pytest.approx(0.2)
    frozen = get_parameter_groups_with_lrs(model, lr=2.0, freeze_modules=["1"])
    assert [n for g in frozen for n in g["names"]] == ["0.weight", "0.bias"]


@pytest.mark.parametrize(
    "batch, epoch", [(0, 0), (1, 0), (250, 0), (499, 1), (500, 1), (7500, 3), (20000, 10)]
)
def test_eden_lr_follows_closed_form(batch, epoch):
    params = [nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))]
    opt = torch.optim.SGD(
        [{"params": params[:1], "lr": 0.045}, {"params": params[1:], "lr": 0.009}]
    )
    eden = Eden(opt, lr_batches=7500, lr_epochs=3.5, warmup_batches=500, warmup_start=0.1)
    eden.step_epoch(epoch)
    eden.step_batch(batch)
    warmup = 0.1 + 0.9 * batch / 500 if batch < 500 else 1.0
    factor = ((batch**2 + 7500**2) / 7500**2) ** -0.25 * ((epoch**2 + 3.5**2) / 3.5**2) ** -0.25
    expected = [0.045 * factor * warmup, 0.009 * factor * warmup]
    assert eden.get_last_lr() == pytest.approx(expected, rel=1e-12)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx(expected, rel=1e-12)


def test_eden_state_dict_restores_schedule_position():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.04)
    eden = Eden(opt, lr_batches=100, lr_epochs=2)
    eden.step_epoch(3)
    eden.step_batch(321)
    opt2 = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.04)
    eden2 = Eden(opt2, lr_batches=100, lr_epochs=2)
    eden2.load_state_dict(eden.state_dict())
    assert eden2.get_last_lr() == eden.get_last_lr()
    assert (eden2.batch, eden2.epoch) == (321, 3)
