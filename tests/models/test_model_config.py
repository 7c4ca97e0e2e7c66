"""Config -> CLI flags, and parameter counts against icefall's published numbers."""

from __future__ import annotations

import argparse

import pytest

from icefall_lite.models import ZipformerConfig, normal_config, tiny_config
from icefall_lite.models.param_count import ICEFALL_NORMAL_PARAMS, count_parameters, main


def test_flags_have_icefall_names_and_defaults():
    parser = ZipformerConfig.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args([])
    assert args.num_encoder_layers == (2, 2, 3, 4, 3, 2)
    assert args.encoder_dim == (192, 256, 384, 512, 384, 256)
    assert args.chunk_size == (16, 32, 64, -1)
    assert args.left_context_frames == (64, 128, 256, -1)
    assert args.causal is False
    flags = {a for action in parser._actions for a in action.option_strings}
    for flag in ("--num-encoder-layers", "--encoder-dim", "--feedforward-dim", "--num-heads",
                 "--encoder-unmasked-dim", "--downsampling-factor", "--cnn-module-kernel",
                 "--query-head-dim", "--value-head-dim", "--pos-head-dim", "--pos-dim",
                 "--decoder-dim", "--joiner-dim", "--context-size", "--causal", "--chunk-size",
                 "--left-context-frames"):
        assert flag in flags


def test_flags_parse_comma_lists_and_booleans():
    parser = ZipformerConfig.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--encoder-dim", "128", "--causal", "1", "--chunk-size", "32,-1"])
    config = ZipformerConfig.from_args(args)
    assert config.encoder_dim == (128,)
    assert config.causal is True
    assert config.chunk_size == (32, -1)


def test_bad_flag_values_are_rejected():
    parser = ZipformerConfig.add_arguments(argparse.ArgumentParser())
    with pytest.raises(SystemExit):
        parser.parse_args(["--encoder-dim", "12x"])
    with pytest.raises(ValueError, match="decoder_dim"):
        ZipformerConfig(decoder_dim=10)


def test_normal_parameter_count_matches_icefall_within_5_percent():
    # RESULTS.md: 65,549,011 (normal, V=500); the causal variant 66,110,931
    # (docs/design/zipformer.rst 11)
    count = count_parameters(normal_config(500))
    assert abs(count - ICEFALL_NORMAL_PARAMS) <= 0.05 * ICEFALL_NORMAL_PARAMS
    # the only known difference: icefall's unused per-layer `bypass_scale` (sum of layer dims)
    unused_bypass_scales = 2 * 192 + 2 * 256 + 3 * 384 + 4 * 512 + 3 * 384 + 2 * 256
    assert ICEFALL_NORMAL_PARAMS - count == unused_bypass_scales
    causal = count_parameters(normal_config(500, causal=True))
    assert 66_110_931 - causal == ICEFALL_NORMAL_PARAMS - count


def test_tiny_parameter_count_matches_the_design_estimate():
    # docs/design/zipformer.rst section 14: 2.81 M (analytic) for V = 100
    assert count_parameters(tiny_config(100)) == pytest.approx(2.81e6, rel=0.01)


def test_param_count_script_prints_both_configs(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "normal" in out
    assert "65,543,251" in out
