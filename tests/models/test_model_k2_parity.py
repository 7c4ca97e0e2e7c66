"""Parity of the transducer losses computed through real k2 and through the built-in backend
(runs only in the k2 environment)."""

from __future__ import annotations

import pytest
import torch

from icefall_lite.models import build_model
from tests.models.model_helpers import random_batch, small_config

TOKENS = [[1, 2, 3, 4, 5], [2, 3, 4], [5, 6, 7, 8], [9, 1]]
LENGTHS = [80, 70, 60, 50]


@pytest.mark.k2
def test_losses_with_real_k2_equal_the_builtin_losses(real_k2, builtin_k2, monkeypatch):
    import icefall_lite.models.asr_model as asr_model

    model = build_model(small_config()).eval()
    x, x_lens = random_batch(LENGTHS)
    results = []
    for namespace in (real_k2, builtin_k2):
        monkeypatch.setattr(asr_model, "k2", namespace)
        with torch.no_grad():
            results.append(model(x, x_lens, TOKENS, prune_range=3, lm_scale=0.25))
    torch.testing.assert_close(results[0], results[1], rtol=1e-4, atol=1e-3)
