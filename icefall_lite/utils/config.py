"""Typed dataclass configs that generate their argparse flags (one source of truth per default).

A field ``base_lr: float = 0.045`` with ``metadata={"help": ...}`` becomes the flag ``--base-lr``
(type float, default 0.045, shown once in ``--help``); ``metadata["aliases"]`` adds more flag
names. Supported field types: ``int``, ``float``, ``str``, ``Path``, ``bool`` (takes
``1/0/true/false/yes/no``), ``tuple[int, ...]`` (takes ``"2,2,3"``) and ``Optional`` of these.

Example::

    >>> import argparse
    >>> from dataclasses import dataclass, field
    >>> @dataclass
    ... class Demo:
    ...     num_layers: tuple[int, ...] = field(default=(2, 2), metadata={"help": "per stack"})
    ...     use_fp16: bool = False
    >>> parser = argparse.ArgumentParser(formatter_class=HelpFormatter)
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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "HelpFormatter",
    "add_dataclass_arguments",
    "config_from_args",
    "given_options",
    "str2bool",
    "str_to_int_tuple",
]

T = TypeVar("T")

_TRUE = ("1", "true", "t", "yes", "y")
_FALSE = ("0", "false", "f", "no", "n")


def str2bool(value: str | bool) -> bool:
    """Parse icefall-style booleans: ``1/0``, ``true/false``, ``yes/no`` (any case).

    >>> str2bool("Yes"), str2bool("0")
    (True, False)
    """
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (1/0/true/false/yes/no), got {value!r}")


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
    """``X | None`` (or ``Optional[X]``) -> ``X``; anything else unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _argparse_type(tp: Any, name: str) -> Any:
    tp = _unwrap_optional(tp)
    if tp is bool:
        return str2bool
    if tp in (int, float, str, Path):
        return tp
    if typing.get_origin(tp) is tuple and typing.get_args(tp)[:1] == (int,):
        return str_to_int_tuple
    raise TypeError(f"config field {name!r}: unsupported type {tp!r} for a command-line option")


def _display_default(value: Any) -> Any:
    """Tuples as they are typed on the command line (``2,2,3``)."""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return value


def _field_default(config_cls: type, f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"config field {config_cls.__name__}.{f.name} needs a default")


def add_dataclass_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    config_cls: type,
    defaults: dict[str, Any] | None = None,
    title: str | None = None,
    only: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    unset: bool = False,
    hidden: bool = False,
) -> None:
    """Add one ``--flag-name`` per field of ``config_cls`` (a dataclass) to ``parser``.

    Args:
      parser: the parser (or argument group) to extend.
      config_cls: a dataclass whose fields all have defaults.
      defaults: overrides of the field defaults (by field name), e.g. a corpus's recipe values.
      title: put the flags in a new argument group with this title (default: into ``parser``).
      only, exclude: the fields to turn into flags (default: all), and fields to leave out
        (e.g. those another module defines already: every flag is defined once).
      unset: the flags default to ``None`` ("not given"), for values that come from elsewhere
        (a checkpoint) and that a flag only checks or overrides.
      hidden: leave the flags out of ``--help``.

    The help text is ``metadata["help"]`` followed by ``(default: %(default)s)``, so every
    formatter (argparse's own, :class:`HelpFormatter`) shows the parser's current default once.
    """
    if not dataclasses.is_dataclass(config_cls):
        raise TypeError(f"{config_cls!r} is not a dataclass")
    defaults = defaults or {}
    hints = typing.get_type_hints(config_cls)
    fields = [f for f in dataclasses.fields(config_cls)
              if (only is None or f.name in set(only)) and f.name not in set(exclude)]
    unknown = set(only or ()) - {f.name for f in dataclasses.fields(config_cls)}
    if unknown:
        raise ValueError(f"{config_cls.__name__} has no fields {sorted(unknown)}")
    group = parser.add_argument_group(title) if title else parser
    for f in fields:
        default = None if unset else defaults.get(f.name, _field_default(config_cls, f))
        help_text = f.metadata.get("help", f.name.replace("_", " "))
        group.add_argument(
            "--" + f.name.replace("_", "-"),
            *f.metadata.get("aliases", ()),
            dest=f.name,
            type=_argparse_type(hints[f.name], f.name),
            # argparse passes a string default through `type`, so "2,2,3" parses to a tuple.
            default=_display_default(default),
            help=argparse.SUPPRESS if hidden else
            help_text + ("" if unset else " (default: %(default)s)"),
        )


def given_options(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> set[str]:
    """The ``dest`` of every option that ``argv`` (``None``: ``sys.argv[1:]``) gives explicitly,
    as opposed to those left at a default (a recipe's included).

    >>> parser = argparse.ArgumentParser()
    >>> _ = parser.add_argument("--a", default=1); _ = parser.add_argument("--b", default=2)
    >>> sorted(given_options(parser, ["--b", "3"]))
    ['b']
    """
    unset = object()
    # argparse fills in a default only where the namespace lacks the attribute.
    namespace = argparse.Namespace(**{a.dest: unset for a in parser._actions
                                      if a.dest != argparse.SUPPRESS})
    parsed, _ = parser.parse_known_args(argv, namespace=namespace)
    return {dest for dest, value in vars(parsed).items() if value is not unset}


def config_from_args(
    config_cls: type[T],
    args: argparse.Namespace | dict[str, Any],
    allow_missing: bool = True,
) -> T:
    """Build ``config_cls`` from the attributes of ``args`` that name its fields.

    Other attributes are ignored. A field missing from ``args`` keeps its dataclass default when
    ``allow_missing``, else raises ``AttributeError``. String values of non-string fields are
    parsed as on the command line (``"2,2,3"`` -> ``(2, 2, 3)``).
    """
    values = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
    hints = typing.get_type_hints(config_cls)
    fields = dataclasses.fields(config_cls)
    missing = [f.name for f in fields if f.name not in values]
    if missing and not allow_missing:
        flags = ", ".join("--" + name.replace("_", "-") for name in missing)
        raise AttributeError(f"{config_cls.__name__}: the parsed arguments lack {flags}")
    kwargs = {}
    for f in fields:
        if f.name in values:
            value = values[f.name]
            if isinstance(value, str) and _unwrap_optional(hints[f.name]) is not str:
                value = _argparse_type(hints[f.name], f.name)(value)
            kwargs[f.name] = value
    return config_cls(**kwargs)


# A default written into a help text: "(default: 500)" or argparse's "(default: %(default)s)".
_WRITTEN_DEFAULT = re.compile(r"\s*\(default: (?:%\(default\)s|[^)]*)\)")


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` shows every option's current default once, a recipe's override included.

    A default written into an option's help text (``"... (default: 500)"``) is replaced by the
    actual one, so options added by other modules' ``add_arguments`` show recipe defaults too;
    tuples are shown as typed (``2,2,3``).
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or action.default in (None, argparse.SUPPRESS):
            return text
        shown = str(_display_default(action.default)).replace("%", "%%")
        return _WRITTEN_DEFAULT.sub("", text) + f" (default: {shown})"
