"""k2's ``SymbolTable`` in the built-in backend: the lang tools' class
(:mod:`icefall_lite.lang.symbol_table`), one implementation for both."""

from icefall_lite.lang.symbol_table import SymbolTable

__all__ = ["SymbolTable"]
