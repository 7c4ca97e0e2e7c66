"""ScaledAdam, the Eden learning-rate schedule, and per-module learning-rate scales.

ScaledAdam (Zipformer paper; docs/design/zipformer.rst §10) is Adam without a first moment on the
gradient: each step is normalised by the second moment, then multiplied by the parameter's RMS,
so a tensor changes by a roughly constant *relative* amount per step. The overall scale of every
tensor is learned separately (every ``size_update_period`` steps), momentum acts on the combined
update, and the gradients can be clipped against a running median of recent gradient norms.

Example::

    >>> import torch
    >>> model = torch.nn.Linear(4, 2)
    >>> optimizer = ScaledAdam(get_parameter_groups_with_lrs(model, lr=0.045), lr=0.045,
    ...                        clipping_scale=2.0)
    >>> scheduler = Eden(optimizer, lr_batches=7500, lr_epochs=3.5, warmup_start=0.1)
    >>> model(torch.randn(3, 4)).sum().backward()
    >>> optimizer.step(); scheduler.step_batch(1)
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

# Early estimates of the clipping threshold (the threshold is doubled at these steps, since the
# gradient norm changes fast at the start of training).
_EARLY_CLIPPING_STEPS = (10, 20, 40)


class ScaledAdam(torch.optim.Optimizer):
    """The Zipformer optimiser (see the module docstring and docs/design/zipformer.rst §10).

    Args:
      params: parameters, or parameter groups (dicts with ``"params"`` and optionally ``"lr"``),
        e.g. from :func:`get_parameter_groups_with_lrs`.
      lr: learning rate (Eden rescales it every batch).
      clipping_scale: clip the (RMS-scaled) gradient norm at ``clipping_scale`` times the median of
        the last ``clipping_update_period`` norms; ``None`` disables clipping.
      betas: ``(beta1, beta2)``: momentum on the update, and decay of the second moment.
      scalar_lr_scale: ``eta``: the learning-rate factor of scalar parameters and of scale learning.
      eps: added to the square root of the second moment.
      param_min_rms: RMS floor: the step size uses at least this RMS, and a tensor whose RMS is
        below it is not shrunk further.
      param_max_rms: scale learning never grows a tensor's RMS above this.
      scalar_max: scalar parameters are clamped to ``[-scalar_max, scalar_max]``.
      size_update_period: steps between refreshes of the RMS and updates of the scale.
      clipping_update_period: steps between re-estimates of the clipping threshold.

    The clipping state of a parameter group is kept in the state of the group's first parameter
    (``model_norms``, ``model_norm_threshold``, ``num_clipped``), so ``state_dict()`` saves it.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 3e-2,
        clipping_scale: float | None = None,
        betas: tuple[float, float] = (0.9, 0.98),
        scalar_lr_scale: float = 0.1,
        eps: float = 1e-8,
        param_min_rms: float = 1e-5,
        param_max_rms: float = 3.0,
        scalar_max: float = 10.0,
        size_update_period: int = 4,
        clipping_update_period: int = 100,
    ) -> None:
        if lr < 0:
            raise ValueError(f"ScaledAdam: lr must be >= 0, got {lr}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"ScaledAdam: betas must lie in [0, 1), got {betas}")
        if clipping_scale is not None and clipping_scale <= 0:
            raise ValueError(
                f"ScaledAdam: clipping_scale must be > 0 or None, got {clipping_scale}"
            )
        defaults = dict(
            lr=lr,
            clipping_scale=clipping_scale,
            betas=betas,
            scalar_lr_scale=scalar_lr_scale,
            eps=eps,
            param_min_rms=param_min_rms,
            param_max_rms=param_max_rms,
            scalar_max=scalar_max,
            size_update_period=size_update_period,
            clipping_update_period=clipping_update_period,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        """One optimisation step over all parameter groups (gradients are clipped per group)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.requires_grad]
            if not params:
                continue
            # As in icefall, a parameter without a gradient this step (e.g. in a skipped layer)
            # takes a zero gradient: its momentum still moves it, and every step updates the
            # same set of parameters.
            grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
            if any(g.is_sparse for g in grads):
                raise RuntimeError("ScaledAdam does not support sparse gradients")
            grad_factor = self._clipping_factor(group, params, grads)
            for p, grad in zip(params, grads):
                state = self.state[p]
                if len(state) == 0:
                    self._init_state(group, p, state)
                self._step_one(group, p, grad, state, grad_factor)
        return loss

    def _init_state(self, group: dict, p: Tensor, state: dict) -> None:
        state["step"] = 0
        # "delta" is the momentum buffer of the *update* (not of the gradient).
        state["delta"] = torch.zeros_like(p)
        state["exp_avg_sq"] = torch.zeros_like(p)
        if p.numel() > 1:
            rms = _rms(p)
            state["param_rms"] = rms
            state["scale_exp_avg_sq"] = torch.zeros_like(rms)
            state["scale_grads"] = torch.zeros(
                group["size_update_period"], device=p.device, dtype=p.dtype
            )

    def _clipping_factor(self, group: dict, params: list[Tensor], grads: list[Tensor]) -> float:
        """The factor (<= 1) by which this step's gradients are multiplied."""
        clipping_scale = group["clipping_scale"]
        first_state = self.state[params[0]]
        if clipping_scale is None or len(first_state) == 0 or first_state["step"] == 0:
            # Step 0: the parameter RMS state does not exist yet, so no norm is recorded.
            return 1.0
        step = first_state["step"]
        period = group["clipping_update_period"]
        eta = group["scalar_lr_scale"]

        sumsq = torch.zeros((), device=params[0].device, dtype=torch.float32)
        for p, grad in zip(params, grads):
            if p.numel() == 1:
                sumsq += (grad.float() ** 2).sum() * eta**2
            else:
                sumsq += ((grad * self.state[p]["param_rms"]).float() ** 2).sum()
        norm = sumsq.sqrt()
        if "model_norms" not in first_state:
            first_state["model_norms"] = torch.zeros(period, device=norm.device)
            first_state["num_clipped"] = 0
        first_state["model_norms"][step % period] = norm

        early = [s for s in _EARLY_CLIPPING_STEPS if s < period]
        if step % period == 0 or step in early:
            norms = first_state["model_norms"].sort()[0].cpu()
            if step in early:
                norms = norms[-step:]  # only `step` slots have been written so far
            n = norms.numel()
            quartiles = [norms[min(n - 1, (n // 4) * i)].item() for i in range(5)]
            median = quartiles[2]
            if median != median:
                raise RuntimeError(
                    f"ScaledAdam: the median gradient norm is {median}: too many gradients "
                    "were not finite"
                )
            threshold = clipping_scale * median * (2.0 if step in early else 1.0)
            percent = first_state["num_clipped"] * 100.0 / n
            first_state["model_norm_threshold"] = threshold
            first_state["num_clipped"] = 0
            logger.info(
                "Clipping scale %s, grad-norm quartiles %s, threshold %.3e, percent clipped %.1f",
                clipping_scale, " ".join(f"{q:.3e}" for q in quartiles), threshold, percent,
            )
        if "model_norm_threshold" not in first_state:
            return 1.0
        threshold = first_state["model_norm_threshold"]
        factor = min(1.0, threshold / (norm.item() + 1e-20))
        if factor != factor:  # NaN norm: zero the step rather than corrupt the parameters
            factor = 0.0
        if factor < 1.0:
            first_state["num_clipped"] += 1
        if factor < 0.1:
            logger.warning("Scaling gradients by %.3g (threshold %.3e)", factor, threshold)
        return factor

    def _step_one(
        self, group: dict, p: Tensor, grad: Tensor, state: dict, grad_factor: float
    ) -> None:
        beta1 = group["betas"][0]
        if grad_factor != 1.0:
            grad = grad * grad_factor
        step = state["step"]
        delta = state["delta"]
        delta.mul_(beta1)
        if p.numel() == 1:
            self._scalar_step(group, p, grad, state)
        else:
            period = group["size_update_period"]
            state["scale_grads"][step % period] = (p * grad).sum()
            if step % period == period - 1:
                state["param_rms"].copy_(_rms(p))
                if step > 0:
                    self._scale_update(group, p, state)
            self._tensor_step(group, p, grad, state)
        state["step"] = step + 1

    def _scale_update(self, group: dict, p: Tensor, state: dict) -> None:
        """Learn the overall scale of ``p`` from the gradient w.r.t. its log-scale."""
        beta1, beta2 = group["betas"]
        scale_grads = state["scale_grads"]
        period = scale_grads.numel()
        beta2_period = beta2**period
        w = state["scale_exp_avg_sq"]
        w.mul_(beta2_period).add_((scale_grads**2).mean(), alpha=1 - beta2_period)
        num_updates = (state["step"] + 1) // period
        bias_correction = 1 - beta2_period**num_updates
        scale_lr = group["lr"] * group["scalar_lr_scale"]
        denom = w.sqrt() + group["eps"]
        scale_step = -scale_lr * bias_correction**0.5 * scale_grads.sum() / denom
        rms = state["param_rms"]
        scale_step = scale_step.clamp(min=-0.1, max=0.1)
        scale_step = torch.where(rms < group["param_min_rms"], torch.zeros_like(scale_step),
                                 scale_step)
        scale_step = torch.minimum(scale_step, (group["param_max_rms"] - rms) / rms)
        state["delta"].add_(p * scale_step, alpha=1 - beta1)

    def _tensor_step(self, group: dict, p: Tensor, grad: Tensor, state: dict) -> None:
        beta1, beta2 = group["betas"]
        exp_avg_sq = state["exp_avg_sq"]
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction = 1 - beta2 ** (state["step"] + 1)
        # Bias correction only while it matters; afterwards it is within 1% of one.
        second_moment = exp_avg_sq / bias_correction if bias_correction < 0.99 else exp_avg_sq
        alpha = -group["lr"] * (1 - beta1) * state["param_rms"].clamp(min=group["param_min_rms"])
        state["delta"].add_(grad / (second_moment.sqrt() + group["eps"]) * alpha)
        p.add_(state["delta"])

    def _scalar_step(self, group: dict, p: Tensor, grad: Tensor, state: dict) -> None:
        beta1, beta2 = group["betas"]
        exp_avg_sq = state["exp_avg_sq"]
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction = 1 - beta2 ** (state["step"] + 1)
        denom = (exp_avg_sq / bias_correction).sqrt() + group["eps"]
        lr = group["lr"] * group["scalar_lr_scale"]
        state["delta"].add_(grad / denom, alpha=-lr * (1 - beta1))
        p.add_(state["delta"])
        p.clamp_(min=-group["scalar_max"], max=group["scalar_max"])


def _rms(p: Tensor) -> Tensor:
    """Root mean square of a tensor, as a 0-dim tensor."""
    return (p.detach() ** 2).mean().sqrt()


def get_parameter_groups_with_lrs(
    model: nn.Module, lr: float, freeze_modules: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Parameter groups whose ``lr`` is ``lr`` times the ``lr_scale`` of every enclosing module.

    A module opts in by setting an attribute ``lr_scale`` (e.g. ``encoder.encoders[3].lr_scale =
    0.5``); scales of nested modules multiply. Parameters under a top-level module named in
    ``freeze_modules`` are left out. A DDP wrapper's ``module.`` prefix is looked through.

    Returns:
      a list of ``{"params": [...], "lr": float, "names": [...]}``, one per distinct lr.

    Example::

        >>> m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
        >>> m[1].lr_scale = 0.5
        >>> sorted(g["lr"] for g in get_parameter_groups_with_lrs(m, lr=1.0))
        [0.5, 1.0]
    """
    freeze = set(freeze_modules)
    scale_of = {
        name: float(m.lr_scale) for name, m in model.named_modules() if hasattr(m, "lr_scale")
    }
    groups: dict[float, dict[str, list]] = defaultdict(lambda: {"params": [], "names": []})
    for name, param in model.named_parameters():
        parts = name.split(".")
        top = parts[1] if parts[0] == "module" and len(parts) > 1 else parts[0]
        if top in freeze:
            continue
        cur_lr = lr * scale_of.get("", 1.0)
        for i in range(1, len(parts)):
            cur_lr *= scale_of.get(".".join(parts[:i]), 1.0)
        groups[cur_lr]["params"].append(param)
        groups[cur_lr]["names"].append(name)
    return [{"params": g["params"], "names": g["names"], "lr": group_lr}
            for group_lr, g in groups.items()]


class LRScheduler:
    """Base class of batch- and epoch-driven learning-rate schedules.

    Subclasses implement :meth:`get_lr` from ``self.batch``, ``self.epoch`` and ``self.base_lrs``
    (the lr of every parameter group when the scheduler was created, kept in ``group["base_lr"]``).
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a torch Optimizer")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("base_lr", group["lr"])
        self.base_lrs = [group["base_lr"] for group in optimizer.param_groups]
        self.epoch = 0
        self.batch = 0
        self._set_lrs()

    def state_dict(self) -> dict[str, Any]:
        return {"base_lrs": list(self.base_lrs), "epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.base_lrs = list(state_dict["base_lrs"])
        self.epoch = state_dict["epoch"]
        self.batch = state_dict["batch"]
        self._set_lrs()

    def get_last_lr(self) -> list[float]:
        """The lr of every parameter group as last set."""
        return list(self._last_lr)

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def step_batch(self, batch: int | None = None) -> None:
        """Set the batch count (the global batch index), or advance it by one."""
        self.batch = self.batch + 1 if batch is None else batch
        self._set_lrs()

    def step_epoch(self, epoch: int | None = None) -> None:
        """Set the number of completed epochs, or advance it by one."""
        self.epoch = self.epoch + 1 if epoch is None else epoch
        self._set_lrs()

    def _set_lrs(self) -> None:
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class Eden(LRScheduler):
    """``lr = base_lr * ((b² + B²)/B²)^(-1/4) * ((e² + E²)/E²)^(-1/4) * warmup(b)``.

    ``b`` is the global batch index (:meth:`step_batch`), ``e`` the number of completed epochs
    (:meth:`step_epoch`), ``B = lr_batches``, ``E = lr_epochs``; ``warmup(b)`` rises linearly from
    ``warmup_start`` to 1 over ``warmup_batches`` and then stays 1.

    Example::

        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.045)
        >>> eden = Eden(opt, lr_batches=7500, lr_epochs=3.5, warmup_start=0.1)
        >>> eden.step_batch(500); round(eden.get_last_lr()[0], 6)
        0.04495
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        lr_batches: float,
        lr_epochs: float,
        warmup_batches: float = 500.0,
        warmup_start: float = 0.5,
    ) -> None:
        if lr_batches <= 0 or lr_epochs <= 0:
            raise ValueError(
                f"Eden: lr_batches ({lr_batches}) and lr_epochs ({lr_epochs}) must be > 0"
            )
        if warmup_batches < 0 or not 0 <= warmup_start <= 1:
            raise ValueError(
                f"Eden: need warmup_batches >= 0 and 0 <= warmup_start <= 1, got "
                f"{warmup_batches}, {warmup_start}"
            )
        self.lr_batches = lr_batches
        self.lr_epochs = lr_epochs
        self.warmup_batches = warmup_batches
        self.warmup_start = warmup_start
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        factor = ((self.batch**2 + self.lr_batches**2) / self.lr_batches**2) ** -0.25 * (
            ((self.epoch**2 + self.lr_epochs**2) / self.lr_epochs**2) ** -0.25
        )
        if self.batch >= self.warmup_batches:
            warmup = 1.0
        else:
            rise = (1.0 - self.warmup_start) * self.batch / self.warmup_batches
            warmup = self.warmup_start + rise
        return [base_lr * factor * warmup for base_lr in self.base_lrs]
