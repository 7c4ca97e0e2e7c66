"""SymbolTable: lookups both ways, epsilon handling, add/merge, a file round trip, and a clear
error naming FILE:LINE for every malformed file (hand-written inputs and expected values)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from icefall_lite import k2


def test_lookups_both_ways_and_epsilon():
    t = k2.builtin.SymbolTable.from_str("a 1\n\n  b\t\t2  \nc 5")
    assert t.eps == "<eps>" and t[0] == "<eps>" and t["<eps>"] == 0
    assert (t["a"], t["b"], t[5], t.get(2), t.get("c")) == (1, 2, "c", "b", 5)
    assert "a" in t and 5 in t and "z" not in t and 3 not in t
    assert t.ids == [0, 1, 2, 5] and t.symbols == ["<eps>", "a", "b", "c"] and len(t) == 4
    with pytest.raises(KeyError):
        t["z"]
    own_eps = k2.builtin.SymbolTable.from_str("<blk> 0\nx 1")
    assert own_eps.eps == "<blk>" and own_eps[0] == "<blk>"


def test_add_and_merge():
    t = k2.builtin.SymbolTable.from_str("<eps> 0\na 1\nb 4")
    assert t.add("c") == 5 and t.add("a") == 1 and t.add("d", 9) == 9 and t.add("e") == 10
    with pytest.raises(ValueError, match="Cannot assign id '9' to 'f' - already occupied by d"):
        t.add("f", 9)
    m = t.merge(k2.builtin.SymbolTable.from_str("<eps> 0\nz 20"))
    assert m["z"] == 20 and m["d"] == 9
    with pytest.raises(ValueError, match="ID conflict for id: 1"):
        t.merge(k2.builtin.SymbolTable.from_str("<eps> 0\ny 1"))


def test_file_round_trip(tmp_path: Path):
    t = k2.builtin.SymbolTable.from_str("<eps> 0\nhello 3\nwörld 1")
    path = tmp_path / "words.txt"
    t.to_file(path)
    assert path.read_text(encoding="utf-8") == "<eps> 0\nwörld 1\nhello 3\n"
    assert k2.builtin.SymbolTable.from_file(path) == t
    assert k2.builtin.SymbolTable.from_file(str(path))[3] == "hello"


@pytest.mark.parametrize("text, line, problem", [
    ("<eps> 0\na 1\nb\n", 3, r"expected 'SYMBOL ID' \(2 fields\), got 1: 'b'"),
    ("<eps> 0\na 1 2\n", 2, "expected 'SYMBOL ID' \\(2 fields\\), got 3"),
    ("<eps> 0\n\na one\n", 3, "the id 'one' of 'a' is not an integer"),
    ("<eps> 0\na -3\n", 2, "the id -3 of 'a' is negative"),
    ("<eps> 0\na 1\nb 2\na 3\n", 4, "duplicate symbol 'a' \\(already id 1\\)"),
    ("<eps> 0\na 1\nb 1\n", 3, "duplicate id 1 \\('b'; line 2 gave it to 'a'\\)"),
    ("a 1\n<eps> 2\n", 2, "'<eps>' is the epsilon symbol and must have id 0"),
])
def test_malformed_files_name_file_and_line(tmp_path: Path, text, line, problem):
    path = tmp_path / "tokens.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}:{line}: {problem}"):
        k2.builtin.SymbolTable.from_file(path)
    with pytest.raises(ValueError, match=f"^<string>:{line}: "):
        k2.builtin.SymbolTable.from_str(text)


def test_missing_and_non_utf8_files_are_named(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="symbol table not found: .*nope.txt"):
        k2.builtin.SymbolTable.from_file(tmp_path / "nope.txt")
    path = tmp_path / "words.txt"
    path.write_bytes(b"<eps> 0\nab\xff 1\n")
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}:2: not valid UTF-8"):
        k2.builtin.SymbolTable.from_file(path)


def test_a_file_is_only_read_as_text(tmp_path: Path):
    marker = tmp_path / "ran"
    path = tmp_path / "words.txt"
    path.write_text(f"__import__('pathlib').Path({str(marker)!r}).touch() 1\n", encoding="utf-8")
    t = k2.builtin.SymbolTable.from_file(path)
    assert not marker.exists() and t[1].startswith("__import__")
