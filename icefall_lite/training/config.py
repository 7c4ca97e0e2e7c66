"""Typed dataclass configs that generate argparse options (one source of truth per default).

A field ``base_lr: float = 0.045`` becomes the flag ``--base-lr`` (type float, default 0.045, shown
in ``--help``); the help text is the field's ``metadata["help"]``. Booleans take icefall's
``true/false/1/0`` values, tuples of ints take ``"2,2,3"``.

Example::

    >>> from dataclasses import dataclass, field
    >>> @dataclass
    ... class Demo:
    ...     num_layers: tuple[int, ...] = field(default=(2, 2), metadata={"help": "per stack"})
    ...     use_fp16: bool = False
    >>> parser = argparse.ArgumentParser()
    >>> add_dataclass_arguments(parser, Demo)
    >>> args = parser.parse_args(["--num-layers", "2,2,3", "--use-fp16", "1"])
    >>> config_from_args(Demo, args)
    Demo(num_layers=(2, 2, 3), use_fp16=True)
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def str2bool(value: str | bool) -> bool:
    """Parse icefall-style booleans: ``true/false``, ``yes/no``, ``1/0`` (any case)."""
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in ("true", "t", "yes", "y", "1"):
        return True
    if lowered in ("false", "f", "no", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false/1/0), got {value!r}")


def str_to_int_tuple(value: str | int | tuple[int, ...]) -> tuple[int, ...]:
    """``"2,2,3"`` -> ``(2, 2, 3)``; a single ``"4"`` -> ``(4,)``.

    >>> str_to_int_tuple("192, 256,384")
    (192, 256, 384)
    """
    if isinstance(value, tuple):
        return value
    if isinstance(value, int):
        return (value,)
    try:
        return tuple(int(part) for part in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers like '2,2,3', got {value!r}"
        ) from None


def _unwrap_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    union_types = (typing.Union, types.UnionType)
    if origin in union_types:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _argparse_type(tp: Any, name: str):
    tp = _unwrap_optional(tp)
    if tp is bool:
        return str2bool
    if tp in (int, float, str):
        return tp
    if tp is Path:
        return Path
    if typing.get_origin(tp) is tuple and typing.get_args(tp)[:1] == (int,):
        return str_to_int_tuple
    raise TypeError(f"config field {name!r}: unsupported type {tp!r} for a command-line option")


def _display_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return value


def add_dataclass_arguments(
    parser: argparse.ArgumentParser,
    config_cls: type,
    defaults: dict[str, Any] | None = None,
    title: str | None = None,
) -> None:
    """Add one ``--flag-name`` per field of ``config_cls`` (a dataclass) to ``parser``.

    Args:
      parser: the parser to extend.
      config_cls: a dataclass whose fields all have defaults.
      defaults: overrides of the field defaults (by field name), e.g. a corpus's recipe values.
      title: the argument group's title in ``--help`` (default: the class name).
    """
    if not dataclasses.is_dataclass(config_cls):
        raise TypeError(f"{config_cls!r} is not a dataclass")
    defaults = defaults or {}
    hints = typing.get_type_hints(config_cls)
    group = parser.add_argument_group(title or config_cls.__name__)
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            raise TypeError(f"config field {config_cls.__name__}.{f.name} needs a default")
        default = defaults.get(f.name, default)
        group.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            type=_argparse_type(hints[f.name], f.name),
            default=_display_default(default),
            help=f.metadata.get("help", f.name.replace("_", " ")),
        )


def config_from_args(config_cls: type[T], args: argparse.Namespace | dict[str, Any]) -> T:
    """Build ``config_cls`` from the matching attributes of parsed ``args`` (others ignored)."""
    values = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
    hints = typing.get_type_hints(config_cls)
    kwargs = {}
    for f in dataclasses.fields(config_cls):
        if f.name in values:
            value = values[f.name]
            if isinstance(value, str) and _unwrap_optional(hints[f.name]) is not str:
                value = _argparse_type(hints[f.name], f.name)(value)
            kwargs[f.name] = value
    return config_cls(**kwargs)


_WRITTEN_DEFAULT = re.compile(r"\s*\(default: [^)]*\)")


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` shows every option's current default, a recipe's override included.

    A default written into an option's help text (``"... (default: 500)"``) is replaced by the
    actual one, so options added by other modules' ``add_arguments`` show recipe defaults too.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or action.default in (None, argparse.SUPPRESS):
            return text
        shown = str(_display_default(action.default)).replace("%", "%%")
        return _WRITTEN_DEFAULT.sub("", text) + f" (default: {shown})"
