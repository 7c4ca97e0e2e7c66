"""Pieces of the loop: loss warm-up schedule, batch preparation and filters, the option parser."""

from __future__ import annotations

import argparse
import logging
import re
from types import SimpleNamespace

import pytest
import torch
from training_helpers import StandInTransducer, encode_letters, identity_targets, make_batch

from icefall_lite.training.args import TrainingConfig, build_parser
from icefall_lite.training.batches import (
    ShortUtteranceFilter,
    prepare_batch,
    zipformer_output_frames,
)
from icefall_lite.training.diagnostics import register_inf_check_hooks
from icefall_lite.training.distributed import launched_by_torchrun
from icefall_lite.training.loop import compute_loss, loss_scales
from icefall_lite.training.train import CutSetData
from icefall_lite.utils.config import str_to_int_tuple


@pytest.mark.parametrize(
    "batch, expected",
    [(0, (1.0, 0.1)), (500, (0.875, 0.325)), (2000, (0.5, 1.0)), (10**6, (0.5, 1.0)),
     (1999, (1 - 0.5 * 1999 / 2000, 0.1 + 0.9 * 1999 / 2000))],
)
def test_loss_scales_ramp_linearly_over_warm_step(batch, expected):
    assert loss_scales(batch, 2000, 0.5) == pytest.approx(expected, rel=1e-12)


def test_compute_loss_is_the_scaled_sum_of_the_two_losses():
    model = StandInTransducer().eval()
    batch = prepare_batch(make_batch(5), torch.device("cpu"), encode_letters, identity_targets,
                          lambda t: t)
    args = SimpleNamespace(prune_range=5, am_scale=0.0, lm_scale=0.25, warm_step=100,
                           simple_loss_scale=0.5, delay_penalty=0.0)
    loss, info = compute_loss(model, batch, args, batch_idx_train=50, is_training=True)
    simple, pruned = model(batch.features, batch.feature_lens, batch.targets, 5, 0.0, 0.25,
                           0.0)
    expected = 0.75 * simple + 0.55 * pruned
    torch.testing.assert_close(loss, expected)
    assert loss.requires_grad
    assert info["frames"] == float(batch.feature_lens.sum())
    assert info["utterances"] == 3.0
    _, info_eval = compute_loss(model, batch, args, batch_idx_train=50, is_training=False)
    assert info_eval["loss"] == pytest.approx(expected.item())


def test_compute_loss_adds_the_scaled_ctc_loss_of_a_model_that_returns_one():
    class WithCtc(StandInTransducer):
        def forward(self, *args):
            simple, pruned = super().forward(*args)
            return simple, pruned, 3.0 * simple.detach() + self.gain

    model = WithCtc().eval()
    batch = prepare_batch(make_batch(5), torch.device("cpu"), encode_letters, identity_targets,
                          lambda t: t)
    args = SimpleNamespace(prune_range=5, am_scale=0.0, lm_scale=0.25, warm_step=100,
                           simple_loss_scale=0.5, delay_penalty=0.0, ctc_loss_scale=0.3,
                           ctc_only_batches=0)
    loss, info = compute_loss(model, batch, args, batch_idx_train=100, is_training=True)
    simple, pruned, ctc = model(batch.features, batch.feature_lens, batch.targets, 5, 0.0, 0.25,
                                0.0)
    torch.testing.assert_close(loss, 0.5 * simple + pruned + 0.3 * ctc)
    assert info["ctc_loss"] == pytest.approx(float(ctc))
    loss.backward()
    assert model.gain.grad is not None  # the CTC term reaches the parameters

    # CTC alone for the first ctc_only_batches; then the ramp starts from its beginning.
    args.ctc_only_batches = 40
    loss, _ = compute_loss(model, batch, args, batch_idx_train=39, is_training=True)
    torch.testing.assert_close(loss, 0.3 * ctc)
    loss, _ = compute_loss(model, batch, args, batch_idx_train=90, is_training=True)
    torch.testing.assert_close(loss, 0.75 * simple + 0.55 * pruned + 0.3 * ctc)


def test_prepare_batch_drops_too_short_utterances_and_names_them(caplog):
    raw = make_batch(4, short=True)
    with caplog.at_level(logging.WARNING):
        batch = prepare_batch(raw, torch.device("cpu"), encode_letters, identity_targets,
                              lambda t: t)
    assert batch.cut_ids == ["cut-4-0", "cut-4-2"]
    assert batch.features.shape[0] == 2 and batch.feature_lens.tolist() == [
        int(raw["supervisions"]["num_frames"][0]), int(raw["supervisions"]["num_frames"][2])]
    assert "cut-4-1 (2 frames < 5 tokens)" in caplog.text
    assert batch.num_output_frames == sum(batch.feature_lens.tolist())


def test_prepare_batch_returns_none_when_nothing_is_long_enough():
    raw = make_batch(4)
    raw["supervisions"]["num_frames"] = torch.tensor([1, 1, 1])
    assert prepare_batch(raw, torch.device("cpu"), encode_letters, identity_targets,
                         lambda t: t) is None


def test_zipformer_output_frames_formula():
    # Conv front end: T -> (T - 7) // 2; the output downsampling by 2 rounds up.
    for t in (7, 8, 9, 10, 11, 100, 1001):
        front = (t - 7) // 2
        assert zipformer_output_frames(t) == (front + 1) // 2


def test_short_utterance_filter_as_cut_predicate_counts_and_logs(caplog):
    def cut(cut_id, num_frames, text):
        return SimpleNamespace(id=cut_id, num_frames=num_frames, duration=num_frames / 100,
                               supervisions=[SimpleNamespace(text=text)])

    keep = ShortUtteranceFilter(encode_letters)
    # 100 input frames -> 23 encoder frames.
    cuts = [cut("ok", 100, "a" * 23), cut("too-short", 100, "a" * 24), cut("tiny", 9, "ab")]
    with caplog.at_level(logging.INFO):
        kept = [c.id for c in cuts if keep(c)]
        keep.log_summary()
    assert kept == ["ok"]
    assert keep.num_removed == 2
    assert "Excluding cut too-short: 23 encoder frames < 24 tokens" in caplog.text
    assert "Excluding cut tiny: 1 encoder frames < 2 tokens" in caplog.text
    assert "Excluded 2 of 3 cuts" in caplog.text


def test_help_lists_icefall_flags_with_defaults():
    text = " ".join(build_parser().format_help().split())
    for flag, default in [
        ("--world-size", "1"), ("--master-port", "12354"), ("--num-epochs", "30"),
        ("--start-epoch", "1"), ("--start-batch", "0"), ("--exp-dir", "zipformer/exp"),
        ("--base-lr", "0.045"), ("--lr-batches", "7500"), ("--lr-epochs", "3.5"),
        ("--ref-duration", "600"), ("--prune-range", "5"), ("--lm-scale", "0.25"),
        ("--am-scale", "0.0"), ("--simple-loss-scale", "0.5"), ("--warm-step", "2000"),
        ("--seed", "42"), ("--print-diag", "False"), ("--inf-check", "False"),
        ("--save-every-n", "4000"), ("--keep-last-k", "30"), ("--average-period", "200"),
        ("--use-fp16", "False"), ("--valid-interval", "3000"), ("--log-interval", "50"),
        ("--tensorboard", "True"),
    ]:
        metavar = flag[2:].upper().replace("-", "_")
        # The option's own entry (not the "[--flag X]" of the usage line) up to its default.
        start = re.search(rf"(?<!\[){flag} {metavar} ", text).end()
        value_start = text.index("(default: ", start) + len("(default: ")
        assert text[value_start:text.index(")", value_start)] == default, flag


def test_recipe_defaults_and_command_line_override():
    parser = build_parser({"num_epochs": 80, "base_lr": 0.04})
    args = parser.parse_args(["--base-lr", "0.03", "--use-fp16", "true"])
    assert (args.num_epochs, args.base_lr, args.use_fp16) == (80, 0.03, True)
    assert "(default: 80)" in parser.format_help()
    with pytest.raises(ValueError, match="no_such_option"):
        build_parser({"no_such_option": 1})
    assert set(vars(args)) == {f for f in TrainingConfig.__dataclass_fields__}


def test_str_to_int_tuple():
    assert str_to_int_tuple("2,2,3") == (2, 2, 3)
    assert str_to_int_tuple("192") == (192,)
    with pytest.raises(Exception, match="comma-separated integers"):
        str_to_int_tuple("2,x")


def test_an_option_defined_twice_is_an_error_not_a_silent_override():
    def data_arguments(parser):
        group = parser.add_argument_group("data")
        group.add_argument("--seed", type=int, default=1, help="data seed")

    with pytest.raises(argparse.ArgumentError, match="--seed: conflicting option string"):
        build_parser({}, add_arguments=[data_arguments])


def test_recipe_train_parser_defines_each_flag_once_and_shows_each_default_once():
    from icefall_lite.recipe.train import build_train_parser

    parser = build_train_parser({})
    flags = [s for a in parser._actions for s in a.option_strings]
    assert len(flags) == len(set(flags))
    assert {"--seed", "--world-size", "--feature-dim", "--max-duration"} <= set(flags)
    flat = " ".join(parser.format_help().split())
    assert not re.search(r"\(default: [^)]*\)\s*\(default", flat)


def test_cut_set_data_filters_training_cuts_only():
    class FakeCuts(list):
        def filter(self, predicate):
            return FakeCuts(c for c in self if predicate(c))

    class FakeDataModule:
        def train_dataloaders(self, cuts, sampler_state_dict=None):
            return ("train", list(cuts), sampler_state_dict)

        def valid_dataloaders(self, cuts):
            return ("valid", list(cuts))

    data = CutSetData(FakeDataModule(), FakeCuts([1, 2, 3, 4]), FakeCuts([5, 6]),
                      cut_filter=lambda c: c % 2 == 0)
    assert data.train_dataloader({"epoch": 3}) == ("train", [2, 4], {"epoch": 3})
    assert data.valid_dataloader() == ("valid", [5, 6])


def test_inf_check_names_the_first_module_with_a_non_finite_output():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    register_inf_check_hooks(model)
    model(torch.ones(1, 2))  # finite: no error
    with torch.no_grad():
        model[1].bias.fill_(float("inf"))
    with pytest.raises(RuntimeError, match="output 0 of module 1 is not finite"):
        model(torch.ones(1, 2))


def test_torchrun_environment_is_read_from_rank_variables():
    assert launched_by_torchrun({}) is None
    info = launched_by_torchrun({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1"})
    assert (info.rank, info.world_size, info.local_rank) == (5, 8, 1)


def test_help_shows_recipe_default_instead_of_one_written_in_the_help_text():
    def model_arguments(parser):
        parser.add_argument("--vocab-size", type=int, default=500,
                            help="output vocabulary (default: 500)")

    parser = build_parser({"vocab_size": 100}, add_arguments=[model_arguments])
    text = " ".join(parser.format_help().split())
    assert "output vocabulary (default: 100) training:" in text  # the written "500" is gone
    assert parser.parse_args([]).vocab_size == 100
