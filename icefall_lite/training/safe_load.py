"""Code-free loading of user-supplied ``.pt`` files, and the plain form of what goes into them.

Every checkpoint, ``pretrained.pt`` and ``LG.pt`` is read with ``torch.load(weights_only=True)``:
the unpickler then builds only tensors, numbers, strings, ``None`` and lists, tuples and dicts of
these, so a file whose pickle would call a function (``os.system``, ...) is refused instead of
run. A file that needs more gets a :class:`UnsafeFileError` naming the file and what it holds.

:func:`plain` turns the state that training saves (sampler, RNG, options) into that form.

Example::

    >>> plain({"epoch": 3, "dir": Path("exp"), "bins": (1, 2)})
    {'epoch': 3, 'dir': 'exp', 'bins': (1, 2)}
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from icefall_lite.fsa.fsa import torch_load_restricted

__all__ = ["UnsafeFileError", "load_weights_only", "plain"]

#: torch >= 2.0's weights-only unpickler reads every plain value; 1.13's lacks float opcodes.
_TORCH_WEIGHTS_ONLY_COMPLETE = int(torch.__version__.split(".")[0]) >= 2
#: What a tensor needs from the unpickler (torch resolves its storage classes itself).
_TENSOR_GLOBALS = {("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"),
                   ("collections", "OrderedDict"), ("torch", "Size")}

# torch's message names the refused global ("Unsupported global: GLOBAL posix.system", or in
# torch 1.13 "Unsupported class posix.system").
_REFUSED = re.compile(r"Unsupported (?:global|class|operand)[: ]*(?:GLOBAL )?([\w.<>]+)")


class UnsafeFileError(ValueError):
    """A file that ``torch.load(weights_only=True)`` refuses: loading it would run code."""


class _DataUnpickler(pickle.Unpickler):
    """For torch < 2.0: the standard unpickler restricted to the globals of tensors, so that it
    builds the same plain values as ``weights_only=True`` does on torch >= 2.0."""

    def find_class(self, module: str, name: str):
        if (module, name) in _TENSOR_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"Unsupported global: GLOBAL {module}.{name}")


def _torch_load_data(path: Path, map_location: str | torch.device) -> Any:
    if _TORCH_WEIGHTS_ONLY_COMPLETE:
        return torch.load(path, map_location=map_location, weights_only=True)
    return torch_load_restricted(path, _DataUnpickler, map_location)


def _refused_name(error: Exception) -> str:
    match = _REFUSED.search(str(error))
    return match.group(1) if match else str(error).strip().splitlines()[0][:200]


def load_weights_only(path: str | Path, what: str,
                      map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name ``what`` and the file (on
    torch 1.13, whose weights-only unpickler cannot read floats, an unpickler admitting only the
    same globals).

    Raises:
      FileNotFoundError: ``path`` does not exist.
      UnsafeFileError: the pickle needs a Python object beyond tensors and plain containers
        (e.g. a function to call); nothing of it was run.
      ValueError: the file is not a torch file at all (truncated, text, ...).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        return _torch_load_data(path, map_location)
    except pickle.UnpicklingError as e:
        raise UnsafeFileError(
            f"{what} {path} was not loaded: it holds {_refused_name(e)!r}, more than tensors, "
            f"numbers, strings, lists and dicts, and loading it could run code. icefall_lite "
            f"writes its files in that plain form; a checkpoint from an older icefall_lite "
            f"(numpy RNG state, no model configuration) must be re-created with the current "
            f"version (train, or export, again). See docs/safety.rst."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise ValueError(f"cannot read {what} {path} (truncated or not a torch file?): "
                         f"{str(e).strip().splitlines()[0][:300]}") from e


def plain(value: Any, where: str = "value") -> Any:
    """``value`` with paths as strings, numpy arrays as tensors and numpy scalars as Python
    numbers, recursively; tensors, numbers, strings, ``None``, lists, tuples and dicts (string or
    int keys) stay. Anything else is a ``TypeError`` naming ``where`` (e.g. ``params.foo``)."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        items = [plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} is neither a string nor an int")
            out[key] = plain(v, f"{where}.{key}")
        return out
    raise TypeError(f"{where}: {type(value).__name__} cannot be saved in a weights-only file")
