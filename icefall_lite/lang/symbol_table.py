"""Symbol tables (``words.txt``, ``tokens.txt``): the one implementation, with k2's API
(``k2.SymbolTable`` of the built-in backend is this class) and the lang tools' helpers
(:meth:`SymbolTable.from_symbols`, :meth:`SymbolTable.disambig_ids`,
:func:`is_disambig_symbol`).

The text form has one ``SYMBOL ID`` pair a line, the two fields separated by spaces and/or
tabs; empty lines are skipped. The epsilon symbol is the one with id 0 (``<eps>`` when the text
has no id 0, ``<blk>`` in a BPE ``tokens.txt``), and every table maps it to 0. A file is only
ever parsed as text; a malformed line, a duplicate symbol or a duplicate id is a ValueError
naming ``FILE:LINE``. As k2's, ``symbols`` are sorted by symbol and ``ids`` by id (id order:
``[table[i] for i in table.ids]``).

Example::

    >>> table = SymbolTable.from_str("<eps> 0\\na 1\\nb 2\\n")
    >>> table["a"], table[2], "b" in table, 3 in table
    (1, 'b', True, False)
    >>> table.add("c")
    3
    >>> table.symbols, table.ids
    (['<eps>', 'a', 'b', 'c'], [0, 1, 2, 3])
    >>> SymbolTable.from_symbols(["<blk>", "#0", "A"]).disambig_ids()
    [1]
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from icefall_lite.lang.files import read_text_lines, require_file

Symbol = TypeVar("Symbol", bound=Hashable)

__all__ = ["SymbolTable", "is_disambig_symbol", "max_token_id"]


# repr=False as k2: a large table's repr would flood a notebook
@dataclass(repr=False)
class SymbolTable(Generic[Symbol]):
    """Symbols <-> ids; id 0 is always ``eps``.

    ``table[k]`` / ``table.get(k)`` maps an int id to its symbol and any other key to its id
    (KeyError when absent); ``k in table`` tests either.
    """

    _id2sym: dict[int, Symbol] = field(default_factory=dict)
    _sym2id: dict[Symbol, int] = field(default_factory=dict)
    _next_available_id: int = 1
    eps: Symbol = "<eps>"

    def __post_init__(self) -> None:
        for idx, sym in self._id2sym.items():
            if idx < 0 or self._sym2id.get(sym) != idx:
                raise ValueError(f"SymbolTable: id {idx} -> {sym!r} is negative or not mirrored "
                                 "in the symbol -> id map")
        for sym, idx in self._sym2id.items():
            if self._id2sym.get(idx) != sym:
                raise ValueError(f"SymbolTable: symbol {sym!r} -> {idx} is not mirrored in the "
                                 "id -> symbol map")
        if 0 not in self._id2sym:
            if self.eps in self._sym2id:
                raise ValueError(f"SymbolTable: the epsilon {self.eps!r} must have id 0, not "
                                 f"{self._sym2id[self.eps]}")
            self._id2sym[0] = self.eps
            self._sym2id[self.eps] = 0
        elif self._id2sym[0] != self.eps:
            raise ValueError(f"SymbolTable: id 0 is {self._id2sym[0]!r}, but eps is {self.eps!r}")
        self._next_available_id = max(self._id2sym) + 1

    @classmethod
    def from_symbols(cls, symbols: Iterable[Symbol], start: int = 0) -> SymbolTable:
        """Number ``symbols`` consecutively from ``start`` in the given order; with
        ``start=0`` the first one is the epsilon (e.g. a BPE model's ``<blk>``)."""
        id2sym: dict[int, Symbol] = {}
        sym2id: dict[Symbol, int] = {}
        for idx, sym in enumerate(symbols, start=start):
            if sym in sym2id:
                raise ValueError(f"SymbolTable.from_symbols: {sym!r} listed twice")
            id2sym[idx], sym2id[sym] = sym, idx
        return cls(_id2sym=id2sym, _sym2id=sym2id, eps=id2sym.get(0, "<eps>"))

    # -- text ------------------------------------------------------------------------------
    @staticmethod
    def from_str(s: str, source: str = "<string>") -> SymbolTable:
        """Parse ``SYMBOL ID`` lines; ``source`` names the text in errors (``source:LINE``)."""
        return SymbolTable._from_lines(enumerate(s.split("\n"), start=1), source)

    @staticmethod
    def from_file(filename: str | Path) -> SymbolTable:
        """Read a ``SYMBOL ID`` text file (UTF-8; a missing file or a line that is not UTF-8
        is an error naming it)."""
        path = require_file(filename, "symbol table")
        return SymbolTable._from_lines(read_text_lines(path), str(filename))

    @staticmethod
    def _from_lines(lines: Iterable[tuple[int, str]], source: str) -> SymbolTable:
        id2sym: dict[int, str] = {}
        sym2id: dict[str, int] = {}
        line_of_id: dict[int, int] = {}
        for lineno, line in lines:
            fields = line.split()
            if not fields:
                continue
            where = f"{source}:{lineno}"
            if len(fields) != 2:
                raise ValueError(f"{where}: expected 'SYMBOL ID' (2 fields), got "
                                 f"{len(fields)}: {line.strip()!r}")
            sym, id_text = fields
            try:
                idx = int(id_text)
            except ValueError:
                raise ValueError(f"{where}: the id {id_text!r} of {sym!r} is not an "
                                 "integer") from None
            if idx < 0:
                raise ValueError(f"{where}: the id {idx} of {sym!r} is negative")
            if sym in sym2id:
                raise ValueError(f"{where}: duplicate symbol {sym!r} (already id {sym2id[sym]})")
            if idx in id2sym:
                raise ValueError(f"{where}: duplicate id {idx} ({sym!r}; line "
                                 f"{line_of_id[idx]} gave it to {id2sym[idx]!r})")
            id2sym[idx] = sym
            sym2id[sym] = idx
            line_of_id[idx] = lineno
        eps = id2sym.get(0, "<eps>")
        if 0 not in id2sym and eps in sym2id:
            raise ValueError(f"{source}:{line_of_id[sym2id[eps]]}: {eps!r} is the epsilon "
                             "symbol and must have id 0")
        return SymbolTable(_id2sym=id2sym, _sym2id=sym2id, eps=eps)

    def to_str(self) -> str:
        """``SYMBOL ID`` lines by increasing id (``from_str`` reads them back)."""
        return "".join(f"{sym} {idx}\n" for idx, sym in sorted(self._id2sym.items()))

    def to_file(self, filename: str | Path) -> None:
        Path(filename).write_text(self.to_str(), encoding="utf-8")

    # -- edits and lookups -----------------------------------------------------------------
    def add(self, symbol: Symbol, index: int | None = None) -> int:
        """Add ``symbol`` (at ``index``, default the next free id); returns its id. A symbol
        already present keeps its id; an ``index`` held by another symbol is a ValueError."""
        if symbol in self._sym2id:
            return self._sym2id[symbol]
        if index is None:
            index = self._next_available_id
        if index in self._id2sym:
            raise ValueError(f"Cannot assign id '{index}' to '{symbol}' - already occupied by "
                             f"{self._id2sym[index]}")
        self._sym2id[symbol] = index
        self._id2sym[index] = symbol
        self._next_available_id = max(self._next_available_id, index + 1)
        return index

    def get(self, k: int | Symbol) -> Symbol | int:
        """The symbol of an int id, the id of any other key; KeyError naming it if absent."""
        try:
            return self._id2sym[k] if isinstance(k, int) else self._sym2id[k]
        except KeyError:
            raise KeyError(f"{k!r} is not in the symbol table") from None

    def disambig_ids(self) -> list[int]:
        """Ids of the disambiguation symbols ``#0, #1, ...``, increasing."""
        return sorted(i for s, i in self._sym2id.items()
                      if isinstance(s, str) and is_disambig_symbol(s))

    def merge(self, other: SymbolTable) -> SymbolTable:
        """The union of two tables; a ValueError when they map an id or a symbol differently
        or have different epsilons."""
        if self.eps != other.eps:
            raise ValueError(f"Mismatched epsilon symbol: {self.eps} != {other.eps}")
        for idx in set(self._id2sym) & set(other._id2sym):
            if self[idx] != other[idx]:
                raise ValueError(f"ID conflict for id: {idx}, self[idx] = {self[idx]!r}, "
                                 f"other[idx] = {other[idx]!r}")
        for sym in set(self._sym2id) & set(other._sym2id):
            if self[sym] != other[sym]:
                raise ValueError(f"ID conflict for symbol: {sym!r}, self[sym] = {self[sym]}, "
                                 f"other[sym] = {other[sym]}")
        return SymbolTable(_id2sym={**self._id2sym, **other._id2sym},
                           _sym2id={**self._sym2id, **other._sym2id}, eps=self.eps)

    def __getitem__(self, item: int | Symbol) -> Symbol | int:
        return self.get(item)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, int):
            return item in self._id2sym
        return item in self._sym2id

    def __len__(self) -> int:
        return len(self._id2sym)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SymbolTable) or len(self) != len(other):
            return False
        return all(s in other._sym2id and self[s] == other[s] for s in self._sym2id)

    @property
    def ids(self) -> list[int]:
        """All ids, increasing."""
        return sorted(self._id2sym)

    @property
    def symbols(self) -> list[Symbol]:
        """All symbols, sorted."""
        return sorted(self._sym2id)


def is_disambig_symbol(symbol: str) -> bool:
    """``#0``, ``#1``, ... are disambiguation symbols."""
    return symbol.startswith("#") and symbol[1:].isdigit()


def max_token_id(tokens: SymbolTable) -> int:
    """The largest id of a real token (disambiguation symbols excluded)."""
    return max(tokens[s] for s in tokens.symbols if not is_disambig_symbol(s))
