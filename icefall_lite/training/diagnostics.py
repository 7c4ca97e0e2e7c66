"""Debugging aids behind ``--inf-check`` and ``--print-diag``.

Example::

    handles = register_inf_check_hooks(model)   # raises, naming the module, on inf/nan
    ...
    for h in handles: h.remove()
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)


def _check(name: str, what: str, t: Tensor) -> None:
    if t.is_floating_point() and not torch.isfinite(t).all():
        raise RuntimeError(f"--inf-check: {what} of module {name or '<model>'} is not finite")


def register_inf_check_hooks(model: nn.Module) -> list:
    """Forward hooks that raise a RuntimeError naming the first module whose output (or, during
    backward, the gradient of that output) contains inf/nan. Returns the hook handles."""

    def hook(name: str, output) -> None:
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        for i, t in enumerate(outputs):
            if not isinstance(t, Tensor):
                continue
            _check(name, f"output {i}", t)
            if t.requires_grad:
                t.register_hook(lambda g, i=i: _check(name, f"gradient of output {i}", g))

    return [module.register_forward_hook(lambda m, inp, out, name=name: hook(name, out))
            for name, module in model.named_modules()]


def log_parameter_stats(model: nn.Module) -> None:
    """Log RMS and max-abs of every parameter and of its gradient (``--print-diag``)."""
    for name, p in model.named_parameters():
        grad = p.grad
        grad_text = (
            f"grad rms {grad.pow(2).mean().sqrt().item():.3e} max {grad.abs().max().item():.3e}"
            if grad is not None else "no grad"
        )
        logger.info("diag %s %s: value rms %.3e max %.3e, %s", name, tuple(p.shape),
                    p.detach().pow(2).mean().sqrt().item(), p.detach().abs().max().item(),
                    grad_text)
