"""Typed dataclass configs that generate their argparse flags (one source of truth per default).

A field ``max_duration: float = 200.0`` with ``metadata={"help": ...}`` becomes
``--max-duration`` (type float, default 200.0, help shown in ``--help``); ``bool`` fields take
``0/1/true/false``; ``metadata["aliases"]`` adds more flag names.

Example::

    >>> import argparse
    >>> from dataclasses import dataclass, field
    >>> from icefall_lite.data.config import add_dataclass_arguments, dataclass_from_args
    >>> @dataclass
    ... class Opts:
    ...     num_buckets: int = field(default=30, metadata={"help": "buckets"})
    >>> parser = argparse.ArgumentParser()
    >>> add_dataclass_arguments(parser, Opts)
    >>> dataclass_from_args(Opts, parser.parse_args(["--num-buckets", "4"]))
    Opts(num_buckets=4)
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def str2bool(value: str | bool) -> bool:
    """Parse icefall-style boolean flags: ``1/0``, ``true/false``, ``yes/no``."""
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "y"):
        return True
    if lowered in ("0", "false", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (1/0/true/false), got {value!r}")


def _optional_inner(annotation: Any) -> tuple[Any, bool]:
    args = typing.get_args(annotation)
    if type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return inner[0], True
    return annotation, False


def _parser_type(annotation: Any) -> Any:
    if annotation is bool:
        return str2bool
    if annotation in (int, float, str, Path):
        return annotation
    raise TypeError(f"unsupported config field type {annotation!r}")


def add_dataclass_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, config_type: type
) -> None:
    """Add one ``--flag-name`` per field of the dataclass ``config_type``."""
    hints = typing.get_type_hints(config_type)
    for f in dataclasses.fields(config_type):
        annotation, optional = _optional_inner(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flags = ["--" + f.name.replace("_", "-"), *f.metadata.get("aliases", ())]
        help_text = f.metadata.get("help", "")
        parser.add_argument(
            *flags,
            dest=f.name,
            type=_parser_type(annotation),
            default=default,
            help=f"{help_text} (default: {default})" if help_text else f"default: {default}",
            **({"metavar": f.name.upper()} if optional else {}),
        )


def dataclass_from_args(config_type: type[T], args: argparse.Namespace) -> T:
    """Build ``config_type`` from the parsed flags that :func:`add_dataclass_arguments` added."""
    names = [f.name for f in dataclasses.fields(config_type)]
    return config_type(**{name: getattr(args, name) for name in names})
