"""Zipformer building blocks that replace LayerNorm, Swish and plain Linear initialisation.

- :class:`BiasNorm` - ``x * exp(log_scale) / rms(x - bias)`` over channels (no eps, no gain);
- :class:`SwooshL`, :class:`SwooshR` - ``softplus(x - k) - 0.08 x - c`` activations;
- :func:`scaled_linear`, :func:`scaled_conv1d`, :func:`scaled_conv2d` - ordinary layers with their
  default initialisation multiplied by ``initial_scale``;
- :class:`BypassModule` - ``x_orig + c * (x - x_orig)`` with a learned per-channel ``c``;
- :class:`Balancer`, :class:`Whiten` - identity in the forward pass; in training they add a
  small gradient that keeps activations in a healthy range (docs/design/zipformer.rst section 12);
- :func:`limit_param_value` - identity in the forward pass; in training it flips gradient signs that
  would push a parameter out of ``[min, max]``.

Example::

    >>> import torch
    >>> norm = BiasNorm(4)
    >>> norm(torch.randn(3, 2, 4)).shape
    torch.Size([3, 2, 4])
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "Balancer",
    "BiasNorm",
    "BypassModule",
    "SharedDropout",
    "SwooshL",
    "SwooshR",
    "Whiten",
    "limit_param_value",
    "scaled_conv1d",
    "scaled_conv2d",
    "scaled_linear",
]


def _scale_init(module: nn.Module, initial_scale: float) -> nn.Module:
    with torch.no_grad():
        module.weight.mul_(initial_scale)
        if getattr(module, "bias", None) is not None:
            nn.init.uniform_(module.bias, -0.1 * initial_scale, 0.1 * initial_scale)
    return module


def scaled_linear(in_dim: int, out_dim: int, bias: bool = True, initial_scale: float = 1.0):
    """``nn.Linear`` whose default init is multiplied by ``initial_scale`` (bias U(+-0.1 scale))."""
    return _scale_init(nn.Linear(in_dim, out_dim, bias=bias), initial_scale)


def scaled_conv1d(*args, initial_scale: float = 1.0, **kwargs) -> nn.Conv1d:
    """``nn.Conv1d`` with a scaled default initialisation (see :func:`scaled_linear`)."""
    return _scale_init(nn.Conv1d(*args, **kwargs), initial_scale)


def scaled_conv2d(*args, initial_scale: float = 1.0, **kwargs) -> nn.Conv2d:
    """``nn.Conv2d`` with a scaled default initialisation (see :func:`scaled_linear`)."""
    return _scale_init(nn.Conv2d(*args, **kwargs), initial_scale)


class SwooshL(nn.Module):
    """``SwooshL(x) = log(1 + exp(x - 4)) - 0.08 x - 0.035``, "normally off"; any shape."""

    def forward(self, x: Tensor) -> Tensor:
        # softplus (unlike logaddexp) exports to ONNX; its linear regime above 20 is exact to 2e-9
        return F.softplus(x - 4.0) - 0.08 * x - 0.035


class SwooshR(nn.Module):
    """``SwooshR(x) = log(1 + exp(x - 1)) - 0.08 x - 0.313261687`` (about 0 at x = 0)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x - 1.0) - 0.08 * x - 0.313261687


class SharedDropout(nn.Module):
    """Dropout whose mask is shared along ``shared_dim`` (icefall's Dropout3): with time as the
    shared dim, a dropped channel is dropped for the whole sequence.

    Args:
      p: drop probability. shared_dim: the dimension of size 1 in the mask.
    """

    def __init__(self, p: float, shared_dim: int):
        super().__init__()
        self.p = p
        self.shared_dim = shared_dim

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        shape = list(x.shape)
        shape[self.shared_dim] = 1
        keep = (torch.rand(shape, device=x.device) >= self.p).to(x.dtype)
        return x * keep / (1.0 - self.p)


class _LimitParamValue(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, min_value: float, max_value: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.limits = (min_value, max_value)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        min_value, max_value = ctx.limits
        # a positive gradient lowers x in gradient descent: forbidden below min, likewise above max
        flip = ((x < min_value) & (grad > 0)) | ((x > max_value) & (grad < 0))
        return torch.where(flip, -grad, grad), None, None


def limit_param_value(x: Tensor, min_value: float, max_value: float, prob: float = 0.6) -> Tensor:
    """Identity; in training (with probability ``prob``) steers ``x`` back into the range."""
    if torch.jit.is_scripting() or torch.jit.is_tracing() or not x.requires_grad:
        return x
    if random.random() >= prob:
        return x
    return _LimitParamValue.apply(x, min_value, max_value)


class BiasNorm(nn.Module):
    """``x * exp(log_scale) / sqrt(mean_c((x - bias)^2))`` over the last (channel) dimension.

    The bias enters only the RMS; the output is not re-centred. ``log_scale`` is kept in
    [-1.5, 1.5] during training by :func:`limit_param_value`.

    Args:
      num_channels: C, the size of the last dimension.
    """

    def __init__(self, num_channels: int):
        super().__init__()
        self.num_channels = num_channels
        self.bias = nn.Parameter(torch.empty(num_channels).normal_(0.0, 1e-4))
        self.log_scale = nn.Parameter(torch.tensor(1.0))

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., C) -> (..., C)."""
        log_scale = self.log_scale
        if self.training:
            log_scale = limit_param_value(log_scale, -1.5, 1.5)
        scales = torch.mean((x - self.bias) ** 2, dim=-1, keepdim=True) ** -0.5
        return x * scales * log_scale.exp()


class BypassModule(nn.Module):
    """``out = x_orig + c * (x - x_orig)`` with a learned per-channel scale ``c`` (init 0.5).

    In training ``c`` is steered into ``[scale_min, scale_max]`` (a constant here; icefall's
    0.9 -> 0.2 schedule is simplified to its final value) and whole sequences may skip the module
    with probability ``skip_rate``.
    """

    def __init__(
        self, embed_dim: int, skip_rate: float = 0.0, scale_min: float = 0.2, scale_max: float = 1.0
    ):
        super().__init__()
        self.bypass_scale = nn.Parameter(torch.full((embed_dim,), 0.5))
        self.skip_rate = skip_rate
        self.scale_min = scale_min
        self.scale_max = scale_max

    def forward(self, src_orig: Tensor, src: Tensor) -> Tensor:
        """src_orig, src: (T, N, C) -> (T, N, C)."""
        scale = self.bypass_scale
        if self.training and not torch.jit.is_scripting():
            scale = limit_param_value(scale, self.scale_min, self.scale_max)
            if self.skip_rate > 0.0:
                keep = torch.rand(src.size(1), 1, device=src.device) > self.skip_rate
                scale = scale * keep.to(scale.dtype)
        return src_orig + (src - src_orig) * scale


class _BalancerFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, channel_dim: int, limits: tuple) -> Tensor:
        ctx.save_for_backward(x)
        ctx.channel_dim = channel_dim
        ctx.limits = limits
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        min_positive, max_positive, min_abs, max_abs, grad_scale = ctx.limits
        dims = [d for d in range(x.dim()) if d != ctx.channel_dim % x.dim()]
        xf = x.detach().float()
        shape = [1] * x.dim()
        shape[ctx.channel_dim] = x.size(ctx.channel_dim)
        prop_pos = (xf > 0).float().mean(dim=dims).view(shape)
        rms = xf.pow(2).mean(dim=dims).sqrt().view(shape)
        # direction in which gradient descent should move x: +1 raise, -1 lower, 0 leave alone
        sign_direction = (prop_pos < min_positive).float() - (prop_pos > max_positive).float()
        abs_direction = (rms < min_abs).float() - (rms > max_abs).float()
        direction = sign_direction + abs_direction * xf.sign()
        extra = -grad_scale * grad.detach().abs().float() * direction
        return (grad.float() + extra).to(grad.dtype), None, None


class Balancer(nn.Module):
    """Identity forward; in training, with probability ``prob``, a backward nudge per channel.

    Where a channel's proportion of positive values leaves ``[min_positive, max_positive]`` or its
    RMS leaves ``[min_abs, max_abs]``, a gradient of relative size ``grad_scale`` (scaled
    elementwise by ``|x_grad|``) pushes it back. No effect at inference or in TorchScript.
    """

    def __init__(
        self,
        num_channels: int,
        channel_dim: int = -1,
        min_positive: float = 0.05,
        max_positive: float = 0.95,
        min_abs: float = 0.2,
        max_abs: float = 100.0,
        grad_scale: float = 0.04,
        prob: float = 0.125,
    ):
        super().__init__()
        self.num_channels = num_channels
        self.channel_dim = channel_dim
        self.limits = (min_positive, max_positive, min_abs, max_abs, grad_scale)
        self.prob = prob

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_scripting() or torch.jit.is_tracing():
            return x
        if not self.training or not x.requires_grad or random.random() >= self.prob:
            return x
        return _BalancerFunction.apply(x, self.channel_dim, self.limits)


def _whitening_metric(x: Tensor, num_groups: int) -> Tensor:
    """``tr(C^2)/c / (tr(C)/c)^2`` averaged over channel groups; 1.0 when C is proportional to I."""
    x = x.reshape(-1, x.size(-1)).float()
    x = x - x.mean(dim=0)
    frames, channels = x.shape
    x = x.reshape(frames, num_groups, channels // num_groups).transpose(0, 1)
    covar = torch.matmul(x.transpose(1, 2), x)
    group_channels = channels // num_groups
    mean_diag = covar.diagonal(dim1=1, dim2=2).mean()
    mean_sq = (covar**2).sum() / (num_groups * group_channels)
    return mean_sq / (mean_diag**2 + 1e-20)


class _WhitenFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, num_groups: int, limit: float, grad_scale: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.params = (num_groups, limit, grad_scale)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        num_groups, limit, grad_scale = ctx.params
        with torch.enable_grad():
            x_detached = x.detach().requires_grad_(True)
            metric = _whitening_metric(x_detached, num_groups)
            if metric.item() <= limit:
                return grad, None, None, None
            (metric_grad,) = torch.autograd.grad(metric, x_detached)
        scale = grad_scale * grad.norm() / (metric_grad.norm() + 1e-20)
        return grad + (metric_grad * scale).to(grad.dtype), None, None, None


class Whiten(nn.Module):
    """Identity forward; in training, with probability ``prob``, a backward push towards white
    (isotropic) features when the whitening metric of any group exceeds ``whitening_limit``."""

    def __init__(
        self, num_groups: int, whitening_limit: float, prob: float = 0.025, grad_scale: float = 0.01
    ):
        super().__init__()
        self.num_groups = num_groups
        self.whitening_limit = whitening_limit
        self.prob = prob
        self.grad_scale = grad_scale

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., C); C divisible by ``num_groups``."""
        if torch.jit.is_scripting() or torch.jit.is_tracing():
            return x
        if not self.training or not x.requires_grad or random.random() >= self.prob:
            return x
        return _WhitenFunction.apply(x, self.num_groups, self.whitening_limit, self.grad_scale)

