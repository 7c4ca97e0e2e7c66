"""The transducer model: losses wired as icefall's (checked against the full RNN-T loss), input
forms, and a loss that decreases when overfitting a small batch."""

from __future__ import annotations

import pytest
import torch

from icefall_lite import k2
from icefall_lite.models import build_model
from icefall_lite.models.asr_model import pad_token_ids
from tests.models.model_helpers import random_batch, small_config

TOKENS = [[1, 2, 3, 4, 5], [2, 3, 4], [5, 6, 7, 8], [9, 1]]
LENGTHS = [80, 70, 60, 50]


def _full_rnnt_loss(model, x, x_lens, tokens, delay_penalty=0.0):
    """Unpruned RNN-T loss on the full joiner output, built independently of AsrModel.forward."""
    encoder_out, encoder_out_lens = model.forward_encoder(x, x_lens)
    blank = model.decoder.blank_id
    decoder_out = model.decoder(pad_token_ids(tokens, blank, x.device, prepend=blank))
    logits = model.joiner(encoder_out.unsqueeze(2), decoder_out.unsqueeze(1))
    boundary = torch.zeros(len(tokens), 4, dtype=torch.int64)
    boundary[:, 2] = torch.tensor([len(t) for t in tokens])
    boundary[:, 3] = encoder_out_lens
    return k2.rnnt_loss(logits=logits, symbols=pad_token_ids(tokens, 0, x.device),
                        termination_symbol=blank, boundary=boundary, reduction="sum",
                        delay_penalty=delay_penalty)


@pytest.mark.parametrize("delay_penalty", [0.0, 0.3])
def test_pruned_loss_with_full_range_equals_full_rnnt_loss(delay_penalty):
    model = build_model(small_config()).eval()
    x, x_lens = random_batch(LENGTHS)
    with torch.no_grad():
        simple_loss, pruned_loss = model(x, x_lens, TOKENS, prune_range=6, lm_scale=0.25,
                                         delay_penalty=delay_penalty)
        full = _full_rnnt_loss(model, x, x_lens, TOKENS, delay_penalty)
        without = _full_rnnt_loss(model, x, x_lens, TOKENS) if delay_penalty else full
    torch.testing.assert_close(pruned_loss, full, rtol=1e-4, atol=1e-3)
    if delay_penalty:  # the penalty really reaches the loss
        assert abs(float(full) - float(without)) > 0.1
    assert simple_loss.dim() == 0 and torch.isfinite(simple_loss)


def test_ragged_tensor_and_list_inputs_give_the_same_losses():
    model = build_model(small_config()).eval()
    x, x_lens = random_batch(LENGTHS)
    with torch.no_grad():
        from_list = model(x, x_lens, TOKENS, prune_range=3)
        from_ragged = model(x, x_lens, k2.RaggedTensor(TOKENS), prune_range=3)
    torch.testing.assert_close(from_list, from_ragged)


def test_bad_inputs_are_rejected():
    model = build_model(small_config())
    x, x_lens = random_batch(LENGTHS)
    with pytest.raises(ValueError, match="transcripts"):
        model(x, x_lens, TOKENS[:2])
    with pytest.raises(ValueError, match="x_lens"):
        model.forward_encoder(x, x_lens[:2])


@pytest.mark.parametrize("causal", [False, True])
def test_simple_and_pruned_losses_decrease_when_overfitting_a_batch(causal):
    # 40 fbank bins halve the front end's cost; the property does not depend on them
    model = build_model(small_config(causal=causal, chunk_size=(16, -1),
                                     left_context_frames=(32, -1), feature_dim=40)).train()
    x, x_lens = random_batch([64, 56, 48, 40], feature_dim=40)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = []
    for _ in range(50):
        simple_loss, pruned_loss = model(x, x_lens, TOKENS, prune_range=3, lm_scale=0.25)
        history.append((simple_loss.item(), pruned_loss.item()))
        optimizer.zero_grad()
        (0.5 * simple_loss + pruned_loss).backward()
        optimizer.step()
    first_simple, first_pruned = history[0]
    last_simple = sum(h[0] for h in history[-5:]) / 5
    last_pruned = sum(h[1] for h in history[-5:]) / 5
    assert last_simple < 0.5 * first_simple
    assert last_pruned < 0.5 * first_pruned


def _brute_force_ctc(log_probs: torch.Tensor, target: list[int], blank: int) -> float:
    """-log of the summed probability of every frame-level path that collapses (merge repeats,
    drop blanks) to ``target``: enumerates all V^T paths."""
    import itertools

    num_frames, vocab = log_probs.shape
    total = []
    for path in itertools.product(range(vocab), repeat=num_frames):
        collapsed = [s for i, s in enumerate(path) if s != blank and (i == 0 or s != path[i - 1])]
        if collapsed == target:
            total.append(sum(log_probs[t, s] for t, s in enumerate(path)))
    return -float(torch.logsumexp(torch.stack(total), dim=0))


def test_ctc_head_loss_equals_brute_force_sum_over_alignments():
    torch.manual_seed(0)
    model = build_model(small_config(vocab_size=4, use_ctc=True)).eval()
    # T = 98 fbank frames -> 24 encoder frames: too many for enumeration, so the brute force runs
    # on the first frames of the CTC head's output with a loss restricted to them.
    x, x_lens = random_batch([98, 98])
    tokens = [[1, 1, 2], [3, 2]]  # a repeat needs a blank between the two 1s
    with torch.no_grad():
        encoder_out, _ = model.forward_encoder(x, x_lens)
        short = encoder_out[:, :7]
        loss = model.ctc_loss(short, torch.tensor([7, 6]), tokens)
        log_probs = model.ctc_output(short)
    expected = (_brute_force_ctc(log_probs[0, :7], tokens[0], blank=0)
                + _brute_force_ctc(log_probs[1, :6], tokens[1], blank=0))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_model_with_ctc_head_returns_the_ctc_loss_third():
    torch.manual_seed(0)
    with_ctc = build_model(small_config(use_ctc=True)).eval()
    x, x_lens = random_batch(LENGTHS)
    with torch.no_grad():
        simple, pruned, ctc = with_ctc(x, x_lens, TOKENS, prune_range=6, lm_scale=0.25)
        encoder_out, encoder_out_lens = with_ctc.forward_encoder(x, x_lens)
        log_probs = with_ctc.ctc_output(encoder_out)
        # Each utterance's CTC loss, one at a time through the brute-force-checked ctc_loss.
        per_utt = [float(with_ctc.ctc_loss(encoder_out[i : i + 1], encoder_out_lens[i : i + 1],
                                           [TOKENS[i]])) for i in range(len(TOKENS))]
    assert float(ctc) == pytest.approx(sum(per_utt), rel=1e-5)
    assert log_probs.shape[-1] == 10 and torch.allclose(log_probs.exp().sum(-1),
                                                        torch.ones(()), atol=1e-5)
    torch.testing.assert_close(pruned, _full_rnnt_loss(with_ctc, x, x_lens, TOKENS),
                               rtol=1e-4, atol=1e-3)
    without = build_model(small_config()).eval()
    assert len(without(x, x_lens, TOKENS)) == 2
    with pytest.raises(RuntimeError, match="no CTC head"):
        without.ctc_loss(encoder_out, encoder_out_lens, TOKENS)


def test_ctc_blank_bias_shifts_only_the_initial_blank_bias_of_the_ctc_head():
    torch.manual_seed(0)
    plain = build_model(small_config(use_ctc=True))
    torch.manual_seed(0)
    biased = build_model(small_config(use_ctc=True, ctc_blank_bias=3.0))
    plain_params, biased_params = dict(plain.named_parameters()), dict(biased.named_parameters())
    assert plain_params.keys() == biased_params.keys()
    for name, value in plain_params.items():
        if name != "ctc_output.1.bias":
            torch.testing.assert_close(biased_params[name], value, rtol=0, atol=0)
    expected = plain_params["ctc_output.1.bias"].detach().clone()
    expected[0] += 3.0  # blank_id 0
    torch.testing.assert_close(biased_params["ctc_output.1.bias"].detach(), expected,
                               rtol=0, atol=0)
    # The head's log-odds of blank against everything else rise by exactly 3 on every frame.
    x, x_lens = random_batch(LENGTHS)
    with torch.no_grad():
        out = plain.eval().forward_encoder(x, x_lens)[0]
        lp_plain, lp_biased = plain.ctc_output(out), biased.eval().ctc_output(out)

    def blank_log_odds(lp):
        return lp[..., 0] - lp[..., 1:].logsumexp(-1)

    shift = blank_log_odds(lp_biased) - blank_log_odds(lp_plain)
    torch.testing.assert_close(shift, torch.full_like(shift, 3.0), rtol=0, atol=1e-4)


def test_ctc_blank_bias_is_a_command_line_option():
    import argparse

    from icefall_lite.models.config import ZipformerConfig

    parser = argparse.ArgumentParser()
    ZipformerConfig.add_arguments(parser)
    args = parser.parse_args(["--use-ctc", "1", "--ctc-blank-bias", "2.5"])
    config = ZipformerConfig.from_args(args)
    assert config.use_ctc and config.ctc_blank_bias == 2.5


def test_ctc_skip_token_is_left_out_of_the_ctc_targets_only():
    torch.manual_seed(0)
    model = build_model(small_config(use_ctc=True)).eval()
    x, x_lens = random_batch(LENGTHS)
    sil = 3
    words = [[1, 2, 4], [2, 4], [5, 6, 7], [8, 1]]
    with_sil = [[t for w in row for t in (w, sil)][:-1] for row in words]  # w sil w ... w
    with torch.no_grad():
        encoder_out, encoder_out_lens = model.forward_encoder(x, x_lens)
        simple, pruned, ctc_plain = model(x, x_lens, with_sil, prune_range=6, lm_scale=0.25)
        model.ctc_skip_token = sil
        simple2, pruned2, ctc_skipped = model(x, x_lens, with_sil, prune_range=6, lm_scale=0.25)
        # the brute-force-checked ctc_loss on the targets without the skipped token
        expected = model.ctc_loss(encoder_out, encoder_out_lens, words)
        unfiltered = model.ctc_loss(encoder_out, encoder_out_lens, with_sil)
    assert float(ctc_skipped) == pytest.approx(float(expected), rel=1e-5)
    assert float(ctc_plain) == pytest.approx(float(unfiltered), rel=1e-5)
    assert abs(float(ctc_plain) - float(ctc_skipped)) > 1.0
    # the transducer losses still see every token
    assert float(simple2) == pytest.approx(float(simple), rel=1e-6)
    assert float(pruned2) == pytest.approx(float(pruned), rel=1e-6)
