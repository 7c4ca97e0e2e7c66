"""Model averaging: the running average kept during training, and averages of state dicts.

The running average ``model_avg`` is a float64 copy of the model updated every ``average_period``
batches as ``avg <- avg * (1 - p/b) + cur * p/b`` (``p`` the period, ``b`` the global batch index),
so at batch ``b`` it is the mean of the model over batches ``p, 2p, ..., b``. The mean over a range
``(b_start, b_end]`` is then ``(avg_end * b_end - avg_start * b_start) / (b_end - b_start)``.

Example::

    >>> import torch
    >>> a, b = {"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 6.0])}
    >>> average_state_dicts([a, b])["w"]
    tensor([2., 4.])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

StateDict = dict[str, Tensor]


def average_state_dicts(state_dicts: Sequence[StateDict]) -> StateDict:
    """Element-wise mean of state dicts with the same keys.

    Floating-point entries are averaged in float64 and cast back to their dtype; integer entries
    (e.g. BatchNorm's ``num_batches_tracked``) get the floor of their mean.
    """
    if not state_dicts:
        raise ValueError("average_state_dicts: no state dicts given")
    keys = list(state_dicts[0])
    for i, sd in enumerate(state_dicts[1:], start=1):
        if list(sd) != keys:
            raise ValueError(f"average_state_dicts: state dict {i} has different keys than dict 0")
    n = len(state_dicts)
    result = {}
    for key in keys:
        first = state_dicts[0][key]
        if first.is_floating_point():
            total = sum(sd[key].to(torch.float64) for sd in state_dicts)
            result[key] = (total / n).to(first.dtype)
        else:
            result[key] = sum(sd[key] for sd in state_dicts) // n
    return result


def weighted_state_dict_sum(
    state_dict_1: StateDict, weight_1: float, state_dict_2: StateDict, weight_2: float
) -> StateDict:
    """``weight_1 * state_dict_1 + weight_2 * state_dict_2`` on floating-point entries (in float64,
    cast back to the dtype of ``state_dict_1``); other entries are taken from ``state_dict_1``."""
    if set(state_dict_1) != set(state_dict_2):
        raise ValueError("weighted_state_dict_sum: the state dicts have different keys")
    result = {}
    for key, value in state_dict_1.items():
        if value.is_floating_point():
            mixed = weight_1 * value.to(torch.float64) + weight_2 * state_dict_2[key].to(
                device=value.device, dtype=torch.float64
            )
            result[key] = mixed.to(value.dtype)
        else:
            result[key] = value.clone()
    return result


def update_averaged_model(
    model_avg: nn.Module, model_cur: nn.Module, batch_idx_train: int, average_period: int
) -> None:
    """``avg <- avg * (1 - p/b) + cur * p/b`` in place, with ``p = average_period`` and
    ``b = batch_idx_train`` (call it when ``b % p == 0``)."""
    if batch_idx_train <= 0 or average_period <= 0:
        raise ValueError(
            f"update_averaged_model: need batch_idx_train > 0 and average_period > 0, got "
            f"{batch_idx_train}, {average_period}"
        )
    weight_cur = average_period / batch_idx_train
    cur = model_cur.state_dict()
    with torch.no_grad():
        for key, avg in model_avg.state_dict().items():
            if avg.is_floating_point():
                # model_avg may live on the CPU while the model trains on a GPU.
                cur_value = cur[key].to(device=avg.device, dtype=avg.dtype)
                avg.mul_(1 - weight_cur).add_(cur_value, alpha=weight_cur)
            else:
                avg.copy_(cur[key])


def range_average(
    avg_start: StateDict, batch_start: int, avg_end: StateDict, batch_end: int
) -> StateDict:
    """The mean of the model over batches ``(batch_start, batch_end]`` from two running averages:
    ``(avg_end * b_end - avg_start * b_start) / (b_end - b_start)``."""
    if not 0 <= batch_start < batch_end:
        raise ValueError(
            f"range_average: need 0 <= batch_start < batch_end, got {batch_start}, {batch_end}"
        )
    interval = batch_end - batch_start
    return weighted_state_dict_sum(
        avg_end, batch_end / interval, avg_start, -batch_start / interval
    )
