"""Symbol tables: the ``words.txt`` / ``tokens.txt`` files of a lang directory.

One ``symbol id`` pair per line, as k2/icefall write them (``<eps> 0`` first in ``words.txt``).

Example::

    >>> table = SymbolTable.from_symbols(["<eps>", "HELLO", "WORLD"])
    >>> table["WORLD"], table[2], "HELLO" in table
    (2, 'WORLD', True)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from icefall_lite.lang.files import read_text_lines, require_file


class SymbolTable:
    """A bijection between symbols (strings) and integer ids."""

    def __init__(self) -> None:
        self._sym2id: dict[str, int] = {}
        self._id2sym: dict[int, str] = {}

    @classmethod
    def from_symbols(cls, symbols: Iterable[str], start: int = 0) -> SymbolTable:
        """Number ``symbols`` consecutively from ``start`` in the given order."""
        table = cls()
        for i, sym in enumerate(symbols, start=start):
            table.add(sym, i)
        return table

    @classmethod
    def from_file(cls, path: str | Path) -> SymbolTable:
        """Read a ``symbol id`` file (ids >= 0).

        Raises:
            ValueError: naming file and line: a malformed line, a line that is not UTF-8, a
                symbol listed twice or an id given to two symbols.
        """
        path = require_file(path, "symbol table")
        table = cls()
        for lineno, line in read_text_lines(path):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not fields[1].isdigit():
                raise ValueError(f"{path}:{lineno}: expected 'symbol id', got {line.rstrip()!r}")
            if fields[0] in table:
                raise ValueError(f"{path}:{lineno}: symbol {fields[0]!r} listed twice (already "
                                 f"id {table[fields[0]]})")
            try:
                table.add(fields[0], int(fields[1]))
            except ValueError as e:
                raise ValueError(f"{path}:{lineno}: {e}") from e
        return table

    def add(self, symbol: str, index: int | None = None) -> int:
        """Add ``symbol`` (with the next free id unless ``index`` is given); return its id."""
        if symbol in self._sym2id:
            if index is not None and self._sym2id[symbol] != index:
                raise ValueError(f"symbol {symbol!r} already has id {self._sym2id[symbol]}")
            return self._sym2id[symbol]
        if index is None:
            index = max(self._id2sym, default=-1) + 1
        if index in self._id2sym:
            raise ValueError(f"id {index} already belongs to {self._id2sym[index]!r}")
        self._sym2id[symbol] = index
        self._id2sym[index] = symbol
        return index

    def to_file(self, path: str | Path) -> None:
        """Write ``symbol id`` lines sorted by id."""
        with open(path, "w", encoding="utf-8") as f:
            for index in sorted(self._id2sym):
                f.write(f"{self._id2sym[index]} {index}\n")

    def get(self, key: int | str) -> int | str:
        """Id of a symbol (str key) or symbol of an id (int key)."""
        return self._sym2id[key] if isinstance(key, str) else self._id2sym[key]

    def __getitem__(self, key: int | str) -> int | str:
        """Like k2's SymbolTable: the id of a symbol, or the symbol of an id."""
        try:
            return self._sym2id[key] if isinstance(key, str) else self._id2sym[key]
        except KeyError:
            raise KeyError(f"{key!r} is not in the symbol table") from None

    def __contains__(self, key: object) -> bool:
        return key in self._sym2id if isinstance(key, str) else key in self._id2sym

    def __len__(self) -> int:
        return len(self._sym2id)

    @property
    def symbols(self) -> list[str]:
        """Symbols in id order."""
        return [self._id2sym[i] for i in sorted(self._id2sym)]

    @property
    def ids(self) -> list[int]:
        return sorted(self._id2sym)

    def disambig_ids(self) -> list[int]:
        """Ids of the disambiguation symbols ``#0, #1, ...``."""
        return sorted(i for s, i in self._sym2id.items() if is_disambig_symbol(s))


def is_disambig_symbol(symbol: str) -> bool:
    """``#0``, ``#1``, ... are disambiguation symbols."""
    return symbol.startswith("#") and symbol[1:].isdigit()
