"""A k2-compatible facade.

``from icefall_lite import k2`` and use k2's names (``k2.Fsa``, ``k2.intersect_device``,
``k2.rnnt_loss_pruned``, ``k2.RnntDecodingStreams``, ...). The backend is chosen once, at import,
by the environment variable ``ICEFALL_LITE_K2``:

- ``auto`` (default): real k2 when it can be imported, else the built-in code;
- ``k2``: real k2, and a clear ImportError when it is missing;
- ``builtin``: the built-in pure-PyTorch code even where k2 is installed.

``k2.backend`` is ``"k2"`` or ``"builtin"``. ``k2.builtin`` is always the built-in namespace, so one
process can hold real k2 and the built-in code side by side (the parity tests do).
:func:`namespace_of` names the backend an object (an Fsa, a lattice) belongs to: code that works
on a graph it was given follows the graph's backend, and this module is the only place that picks.

Example::

    >>> from icefall_lite import k2
    >>> k2.backend in ("k2", "builtin")
    True
"""

from __future__ import annotations

import os
from types import ModuleType

from icefall_lite import k2_builtin as builtin

ENV_VAR = "ICEFALL_LITE_K2"
_CHOICES = ("auto", "k2", "builtin")


def _load_real_k2():
    import k2 as real_k2  # noqa: PLC0415

    return real_k2


def _select_backend(choice: str):
    if choice not in _CHOICES:
        raise ValueError(f"{ENV_VAR}={choice!r}: expected one of {', '.join(_CHOICES)}")
    if choice == "builtin":
        return "builtin", builtin
    try:
        return "k2", _load_real_k2()
    except ImportError as e:
        if choice == "k2":
            raise ImportError(
                f"{ENV_VAR}=k2 asks for real k2, but it cannot be imported ({e}). k2 1.23.4 exists "
                "only for CPython 3.10 with torch 1.13.1: use the k2 environment (make .venv-k2), "
                f"or set {ENV_VAR}=builtin or auto."
            ) from e
        return "builtin", builtin


backend, implementation = _select_backend(os.environ.get(ENV_VAR, "auto"))

__all__ = ["backend", "builtin", "implementation", "namespace_of", *builtin.__all__]


def namespace_of(obj: object) -> ModuleType:
    """The k2 namespace (real ``k2`` or :mod:`icefall_lite.k2_builtin`) whose class made ``obj``
    (an ``Fsa``, ``RaggedTensor``, ...): decoding follows its graph, so one process can decode
    with either backend.

    Example::

        >>> namespace_of(builtin.trivial_graph(3)) is builtin
        True
    """
    if type(obj).__module__.split(".")[0] == "k2":
        return _load_real_k2()
    return builtin


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(implementation, name)
