r"""Structural checks of an ARPA n-gram file before kaldilm reads it.

kaldilm stops the whole interpreter (``abort()``, exit status 134) on a file it cannot parse,
after one log line. :func:`check_arpa` reads the file first and raises ``ValueError`` naming the
file, the line and the problem:

- a ``\data\`` header whose ``ngram N=COUNT`` lines number the orders 1, 2, ... in turn;
- one ``\N-grams:`` section per order, in order, with exactly COUNT entries;
- entries ``LOG10PROB W1 .. WN [BACKOFF]``: finite numbers, the probability at most 1, a back-off
  weight only below the highest order;
- ``<s>`` and ``</s>`` among the unigrams; ``\end\`` after the last section;
- every line valid UTF-8.

Lines before ``\data\`` are skipped, as the ARPA format allows (and kaldilm does).

Example::

    >>> import pathlib, tempfile
    >>> arpa = pathlib.Path(tempfile.mkdtemp()) / "G.arpa"
    >>> text = "\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0 <s>\n-0.5 </s>\n-0.3 A\n\n\\end\\\n"
    >>> _ = arpa.write_text(text)
    >>> check_arpa(arpa).counts
    [3]
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from icefall_lite.lang.files import read_text_lines, require_file

_NGRAM_COUNT = re.compile(r"ngram\s+(\d+)\s*=\s*(\d+)")
_SECTION = re.compile(r"\\(\d+)-grams:")
#: ``fail(line, problem)``: the error to raise for ``problem`` at ``line`` (None: whole file).
_Fail = Callable[[int | None, str], ValueError]


@dataclass
class ArpaInfo:
    """What :func:`check_arpa` found: ``counts[k-1]`` k-grams per order, the unigram words."""

    counts: list[int]
    unigrams: set[str] = field(default_factory=set)

    @property
    def order(self) -> int:
        return len(self.counts)


def check_arpa(path: str | Path) -> ArpaInfo:
    """Check the structure of an ARPA file (see the module doc); return its orders and words."""
    path = require_file(path, "ARPA LM")
    lines = (
        (line_no, text.strip())
        for line_no, text in read_text_lines(path)
        if text.strip()
    )

    def fail(line_no: int | None, problem: str) -> ValueError:
        where = f"{path}:{line_no}" if line_no is not None else str(path)
        return ValueError(f"{where}: {problem} (not a usable ARPA file)")

    line_no, text = next(((n, t) for n, t in lines if t == "\\data\\"), (None, ""))
    if line_no is None:
        raise fail(None, "no \\data\\ line")
    counts: list[int] = []
    info = ArpaInfo(counts)
    section: list[int] | None = None  # [order, entries so far] of the current section
    for line_no, text in lines:
        # Entries start with their log10 probability: the directives are tried on the others.
        match = _NGRAM_COUNT.fullmatch(text) if text[0] in "n\\" else None
        if match:
            if section is not None:
                raise fail(line_no, f"'{text}' after the \\data\\ header")
            if int(match[1]) != len(counts) + 1:
                raise fail(line_no, f"'{text}': expected the count of order {len(counts) + 1}")
            counts.append(int(match[2]))
            continue
        if not counts:
            raise fail(line_no, f"expected 'ngram 1=COUNT' after \\data\\, got {text!r}")
        if text[0] == "\\" and (text == "\\end\\" or _SECTION.fullmatch(text)):
            _end_section(section, counts, fail, line_no)
            if text == "\\end\\":
                if section is None or section[0] != len(counts):
                    raise fail(line_no, f"\\end\\ before the {len(counts)}-grams section")
                _require_sentence_symbols(info, fail)
                return info
            order = int(_SECTION.fullmatch(text)[1])
            expected = 1 if section is None else section[0] + 1
            if order != expected:
                raise fail(line_no, f"'{text}': expected the \\{expected}-grams: section")
            if order > len(counts):
                raise fail(line_no, f"'{text}': the \\data\\ header declares {len(counts)} orders")
            section = [order, 0]
            continue
        if section is None or text[0] == "\\":
            raise fail(line_no, f"unexpected line {text!r}")
        word = _check_entry(text, section[0], len(counts), fail, line_no)
        section[1] += 1
        if section[0] == 1:
            info.unigrams.add(word)
    raise fail(None, "no \\end\\ line")


def _end_section(section: list[int] | None, counts: list[int], fail: _Fail, line_no: int
                 ) -> None:
    if section is not None and section[1] != counts[section[0] - 1]:
        raise fail(line_no, f"the \\{section[0]}-grams: section has {section[1]} entries, the "
                            f"\\data\\ header declares {counts[section[0] - 1]}")


def _check_entry(text: str, order: int, max_order: int, fail: _Fail, line_no: int) -> str:
    """Check one ``LOG10PROB W1 .. WN [BACKOFF]`` line; return its last word."""
    fields = text.split()
    n = len(fields)
    if n != order + 1 and (n != order + 2 or order == max_order):
        allowed = (order + 1, order + 2) if order < max_order else (order + 1,)
        backoff = (" (no back-off weight at the highest order)"
                   if order == max_order and n == order + 2 else "")
        raise fail(line_no, f"{order}-gram entry with {n} fields, expected "
                            f"{' or '.join(map(str, allowed))}{backoff}: {text!r}")
    # -inf < x <= 0 also rejects nan (every comparison with it is false).
    if not -math.inf < _number(fields[0]) <= 0:
        problem = ("> 0 (a probability above 1)" if _number(fields[0]) > 0
                   else "is not a finite number")
        raise fail(line_no, f"log10 probability {fields[0]!r} {problem}")
    if n == order + 2 and not math.isfinite(_number(fields[-1])):
        raise fail(line_no, f"back-off weight {fields[-1]!r} is not a finite number")
    return fields[order]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _require_sentence_symbols(info: ArpaInfo, fail: _Fail) -> None:
    for symbol in ("<s>", "</s>"):
        if symbol not in info.unigrams:
            raise fail(None, f"no {symbol} among the unigrams")
