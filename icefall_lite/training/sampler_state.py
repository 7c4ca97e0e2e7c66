"""Sampler state as of the batches the loop has *consumed*, not those the DataLoader prefetched.

A DataLoader with worker processes draws ``prefetch_factor * num_workers`` batches from the
sampler ahead of the training loop, so a lhotse sampler's ``state_dict()`` taken at a checkpoint
counts batches that were never trained on; restoring it would skip them. lhotse restores a
sampler by replaying ``kept_batches + discarded_batches`` batches of the current epoch, so lowering
``kept_batches`` to what the loop consumed makes the restored sampler continue exactly after the
last trained batch.

Example::

    state = sampler_state_for_consumed(train_dl.sampler.state_dict(), consumed_batches=37)
"""

from __future__ import annotations

import copy
import logging
from typing import Any

logger = logging.getLogger(__name__)


def sampler_state_for_consumed(state: Any, consumed_batches: int) -> Any:
    """A copy of a lhotse sampler ``state`` rewound to ``consumed_batches`` batches of the current
    epoch. States of other samplers (without lhotse's ``diagnostics``) are returned unchanged."""
    try:
        diagnostics = state["diagnostics"]
        stats = diagnostics["stats_per_epoch"][diagnostics["current_epoch"]]
        kept = stats["kept_batches"]
    except (TypeError, KeyError):
        return state
    if kept <= consumed_batches:
        return state
    state = copy.deepcopy(state)
    stats = state["diagnostics"]["stats_per_epoch"][state["diagnostics"]["current_epoch"]]
    stats["kept_batches"] = consumed_batches
    logger.debug("Sampler state rewound from %d prefetched to %d consumed batches",
                 kept, consumed_batches)
    return state
