"""Stateless decoder and joiner against their definitions."""

from __future__ import annotations

import torch

from icefall_lite.models import Decoder, Joiner


def test_decoder_output_depends_on_the_last_context_size_tokens():
    decoder = Decoder(vocab_size=7, decoder_dim=8, blank_id=0, context_size=2).eval()
    y = torch.tensor([[0, 3, 5, 2]])
    padded = decoder(y)  # position u sees tokens u-1 and u (zero embedding before the start)
    assert padded.shape == (1, 4, 8)
    for u in range(1, 4):
        window = decoder(y[:, u - 1 : u + 1], need_pad=False)
        torch.testing.assert_close(padded[:, u], window[:, 0])
    first = decoder(torch.tensor([[-1, 0]]), need_pad=False)
    torch.testing.assert_close(padded[:, 0], first[:, 0])
    assert (padded >= 0).all()  # ReLU output


def test_decoder_gives_negative_ids_a_zero_embedding():
    decoder = Decoder(vocab_size=5, decoder_dim=4, blank_id=0, context_size=1)
    out = decoder(torch.tensor([[-1, 2]]))
    assert torch.equal(out[0, 0], torch.zeros(4))
    torch.testing.assert_close(out[0, 1], decoder.embedding.weight[2])
    assert decoder.context_size == 1 and decoder.blank_id == 0 and decoder.vocab_size == 5


def test_joiner_projects_adds_tanh_and_outputs():
    joiner = Joiner(encoder_dim=6, decoder_dim=4, joiner_dim=5, vocab_size=3)
    enc, dec = torch.randn(2, 6), torch.randn(2, 4)
    expected = joiner.output_linear(
        torch.tanh(joiner.encoder_proj(enc) + joiner.decoder_proj(dec))
    )
    torch.testing.assert_close(joiner(enc, dec), expected)
    projected = joiner(joiner.encoder_proj(enc), joiner.decoder_proj(dec), project_input=False)
    torch.testing.assert_close(projected, expected)
