"""Random-number state: seeding, and saving/restoring every generator so a resumed run draws the
same dropout masks and augmentations as an uninterrupted one.

Example::

    >>> fix_random_seed(7)
    >>> state = get_rng_state()
    >>> a = torch.rand(1)
    >>> set_rng_state(state)
    >>> bool(torch.rand(1) == a)
    True
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from icefall_lite.training.distributed import is_distributed


def fix_random_seed(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def get_rng_state() -> dict[str, Any]:
    """The Python, numpy, torch and CUDA RNG states of this process, in plain form (tuples of
    numbers and tensors: a checkpoint holding them loads with ``weights_only=True``)."""
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                  float(cached_gaussian)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss,
                         cached_gaussian))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def gather_rng_states() -> list[dict[str, Any]]:
    """The RNG state of every rank (all ranks must call this), so a resumed run continues each
    rank's random stream exactly."""
    state = get_rng_state()
    if not is_distributed():
        return [state]
    states: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(states, state)
    return states
