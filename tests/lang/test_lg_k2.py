"""The saved LG.pt under real k2 (k2 environment): it loads, is valid, arc-sorted and
epsilon-free, and decoding token sequences with it gives the brute-force best word sequences,
the same as with the built-in backend."""

from __future__ import annotations

import pytest
import torch
from lang_helpers import FIXTURE_DIR, decode_token_sequences, fixture_best_paths


@pytest.mark.k2
def test_lg_loads_under_real_k2_with_valid_properties(real_k2):
    lg_dict = torch.load(FIXTURE_DIR / "LG.pt")
    LG = real_k2.Fsa.from_dict(lg_dict)
    props = real_k2.fsa_properties
    for name in ("VALID", "ARC_SORTED", "EPSILON_FREE", "NONEMPTY"):
        assert LG.properties & getattr(props, name), f"{name} missing: {LG.properties_str}"
    assert torch.equal(real_k2.arc_sort(LG).arcs.values(), LG.arcs.values())
    assert torch.equal(LG.aux_labels, lg_dict["aux_labels"])
    assert LG.labels.dtype == torch.int32 and LG.aux_labels.dtype == torch.int32


@pytest.mark.k2
def test_real_k2_decodes_token_sequences_through_lg_like_brute_force(real_k2):
    best = fixture_best_paths(max_tokens=4)
    token_seqs = sorted(best)[::7]
    assert len(token_seqs) > 40
    results = decode_token_sequences(real_k2, torch.load(FIXTURE_DIR / "LG.pt"), token_seqs)
    for tokens, (score, words) in zip(token_seqs, results):
        assert score == pytest.approx(best[tokens][0], abs=2e-4), tokens
        assert words == best[tokens][1], tokens


@pytest.mark.k2
def test_both_backends_decode_lg_identically(on_both):
    token_seqs = sorted(fixture_best_paths(max_tokens=4))[::37]
    lg_dict = torch.load(FIXTURE_DIR / "LG.pt")
    on_both(lambda k2: decode_token_sequences(k2, lg_dict, token_seqs), rtol=1e-6, atol=1e-5)
