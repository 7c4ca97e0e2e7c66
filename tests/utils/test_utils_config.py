"""Dataclass -> argparse flags (icefall_lite.utils.config), checked against hand-written
expectations of argparse's behaviour."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

from icefall_lite.utils.config import (
    HelpFormatter,
    add_dataclass_arguments,
    config_from_args,
    str2bool,
)


@dataclass
class Opts:
    layers: tuple[int, ...] = field(default=(2, 2, 3), metadata={"help": "layers per stack"})
    use_fp16: bool = field(default=False, metadata={"help": "fp16", "aliases": ("--fp16",)})
    exp_dir: Path = field(default=Path("exp"), metadata={"help": "output folder"})
    rank: Optional[int] = field(default=None, metadata={"help": "DDP rank"})  # noqa: UP045
    world_size: int | None = None
    lr: float = 0.5
    name: str = "x"


def _parser(formatter=argparse.HelpFormatter, **kwargs) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(formatter_class=formatter)
    add_dataclass_arguments(parser, Opts, **kwargs)
    return parser


def _entry(parser: argparse.ArgumentParser, flag: str) -> str:
    """The help entry of ``flag`` (the text after its own option line), whitespace folded."""
    text = " ".join(parser.format_help().split())
    start = text.rindex(f"{flag} {flag[2:].upper().replace('-', '_')} ")
    end = text.find(" --", start + len(flag))
    return text[start:] if end < 0 else text[start:end]


@pytest.mark.parametrize("value, expected", [
    ("1", True), ("true", True), ("Yes", True), ("y", True), ("T", True),
    ("0", False), ("false", False), ("NO", False), ("n", False), ("f", False),
])
def test_bool_flags_accept_icefall_spellings(value, expected):
    assert str2bool(value) is expected
    assert _parser().parse_args(["--use-fp16", value]).use_fp16 is expected


def test_bad_values_are_rejected_with_an_error_exit():
    parser = _parser()
    for argv in (["--use-fp16", "maybe"], ["--layers", "2,x"], ["--lr", "fast"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)


def test_field_types_parse_as_on_the_command_line():
    args = _parser().parse_args(["--layers", "4,5", "--fp16", "1", "--exp-dir", "a/b",
                                 "--rank", "3", "--world-size", "8", "--lr", "0.25"])
    assert config_from_args(Opts, args) == Opts(
        layers=(4, 5), use_fp16=True, exp_dir=Path("a/b"), rank=3, world_size=8, lr=0.25
    )
    assert isinstance(args.exp_dir, Path)
    assert _parser().parse_args(["--layers", "7"]).layers == (7,)


def test_defaults_parse_to_the_dataclass_defaults_and_overrides_replace_them():
    assert config_from_args(Opts, _parser().parse_args([])) == Opts()
    parser = _parser(defaults={"layers": (1, 1), "exp_dir": "other"})
    assert config_from_args(Opts, parser.parse_args([])) == Opts(layers=(1, 1),
                                                                 exp_dir=Path("other"))


@pytest.mark.parametrize("formatter", [
    argparse.HelpFormatter, argparse.ArgumentDefaultsHelpFormatter, HelpFormatter,
])
def test_help_shows_the_current_default_once(formatter):
    parser = _parser(formatter)
    parser.set_defaults(lr=0.125)
    lr = _entry(parser, "--lr")
    assert lr.startswith("--lr LR lr (default: 0.125)")
    assert lr.count("(default:") == 1
    layers = _entry(parser, "--layers")
    assert layers.startswith("--layers LAYERS layers per stack (default: 2,2,3)")
    assert layers.count("(default:") == 1


def test_help_formatter_replaces_a_default_written_in_the_help_text():
    parser = argparse.ArgumentParser(formatter_class=HelpFormatter)
    parser.add_argument("--vocab-size", type=int, default=500, help="vocabulary (default: 500)")
    parser.set_defaults(vocab_size=100)
    assert _entry(parser, "--vocab-size") == "--vocab-size VOCAB_SIZE vocabulary (default: 100)"


def test_title_puts_the_flags_in_their_own_group():
    parser = _parser(title="my options")
    assert "my options:" in parser.format_help()
    group = next(g for g in parser._action_groups if g.title == "my options")
    assert {a.dest for a in group._group_actions} == set(Opts.__dataclass_fields__)


def test_config_from_args_ignores_extra_and_missing_attributes_unless_told():
    args = argparse.Namespace(lr=0.1, layers="3,4", unrelated=1)
    assert config_from_args(Opts, args) == Opts(lr=0.1, layers=(3, 4))
    assert config_from_args(Opts, {"use_fp16": "yes"}) == Opts(use_fp16=True)
    with pytest.raises(AttributeError, match="--use-fp16"):
        config_from_args(Opts, args, allow_missing=False)


def test_unsupported_configs_are_rejected():
    @dataclass
    class NoDefault:
        x: int

    @dataclass
    class ListField:
        x: list = field(default_factory=list)

    with pytest.raises(TypeError, match="needs a default"):
        add_dataclass_arguments(argparse.ArgumentParser(), NoDefault)
    with pytest.raises(TypeError, match="unsupported type"):
        add_dataclass_arguments(argparse.ArgumentParser(), ListField)
    with pytest.raises(TypeError, match="not a dataclass"):
        add_dataclass_arguments(argparse.ArgumentParser(), int)
