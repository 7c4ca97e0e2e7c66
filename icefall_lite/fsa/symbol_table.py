"""k2's ``SymbolTable`` in the built-in backend: the lang tools' class
:class:`icefall_lite.lang.symbol_table.SymbolTable`, one implementation for both (re-exported
here, documented there)."""

from icefall_lite.lang.symbol_table import SymbolTable  # noqa: F401
