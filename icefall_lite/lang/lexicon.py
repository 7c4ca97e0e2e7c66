"""Lexicons: ``lexicon.txt`` files, pronunciation dictionaries and disambiguation symbols.

A lexicon is a list of ``(word, tokens)`` pairs; a word may appear more than once (alternative
pronunciations). Tokens are phones (from a CMU-style dictionary) or sentencepiece pieces.

Example::

    >>> lexicon = [("A", ["AH"]), ("A", ["EY"]), ("AND", ["AH", "N", "D"]), ("AN", ["AH", "N"])]
    >>> disambig, max_disambig = add_disambig_symbols(lexicon)
    >>> disambig[0], disambig[3], max_disambig
    (('A', ['AH', '#1']), ('AN', ['AH', 'N', '#1']), 1)
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from icefall_lite.lang.files import read_text_lines, require_file

Lexicon = list[tuple[str, list[str]]]

_ALTERNATIVE = re.compile(r"^(.+)\(\d+\)$")


def read_lexicon(path: str | Path) -> Lexicon:
    """Read ``lexicon.txt``: ``WORD TOKEN TOKEN ...`` per line (a word needs >= 1 token).

    Raises:
        ValueError: a word without tokens or a line that is not UTF-8 (file:line), or no entry.
    """
    path = require_file(path, "lexicon")
    lexicon: Lexicon = []
    for lineno, line in read_text_lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise ValueError(f"{path}:{lineno}: word {fields[0]!r} has no pronunciation")
        lexicon.append((fields[0], fields[1:]))
    if not lexicon:
        raise ValueError(f"lexicon {path} has no entries")
    return lexicon


def write_lexicon(path: str | Path, lexicon: Iterable[tuple[str, list[str]]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for word, tokens in lexicon:
            f.write(f"{word} {' '.join(tokens)}\n")


def read_pronunciation_dict(path: str | Path) -> Lexicon:
    """Read a CMU-style dictionary: ``WORD  PH PH ...``; ``WORD(2)`` is another pronunciation
    of ``WORD``. Lines starting with ``;;;`` are comments. Duplicate pronunciations are dropped.

    Raises:
        ValueError: a word without phones or a line that is not UTF-8 (file:line), or no entry.
    """
    path = require_file(path, "pronunciation dictionary")
    lexicon: Lexicon = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for lineno, line in read_text_lines(path):
        if line.startswith(";;;"):
            continue
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise ValueError(f"{path}:{lineno}: word {fields[0]!r} has no pronunciation")
        match = _ALTERNATIVE.match(fields[0])
        word = match.group(1) if match else fields[0]
        key = (word, tuple(fields[1:]))
        if key not in seen:
            seen.add(key)
            lexicon.append((word, fields[1:]))
    if not lexicon:
        raise ValueError(f"pronunciation dictionary {path} has no entries")
    return lexicon


def add_disambig_symbols(lexicon: Lexicon) -> tuple[Lexicon, int]:
    """Append ``#1, #2, ...`` to pronunciations that are ambiguous: shared by several words
    (homophones) or a proper prefix of another pronunciation. ``#0`` stays free for G's backoff.

    Returns the new lexicon (same order) and the largest disambiguation index used (0 if none).
    """
    count = Counter(tuple(tokens) for _, tokens in lexicon)
    prefixes = {tuple(t[:i]) for _, t in lexicon for i in range(1, len(t))}
    last_used: dict[tuple[str, ...], int] = defaultdict(int)
    result: Lexicon = []
    max_disambig = 0
    for word, tokens in lexicon:
        key = tuple(tokens)
        if key in prefixes or count[key] > 1:
            last_used[key] += 1
            max_disambig = max(max_disambig, last_used[key])
            tokens = [*tokens, f"#{last_used[key]}"]
        result.append((word, list(tokens)))
    return result, max_disambig


@dataclass
class TranscriptWords:
    """Words of a transcript: ``counts`` of in-vocabulary words and the out-of-vocabulary
    occurrences ``oov`` as ``(file, line, word)``."""

    counts: Counter = field(default_factory=Counter)
    oov: list[tuple[str, int, str]] = field(default_factory=list)


def read_transcript_words(
    path: str | Path, vocabulary: set[str] | None = None, max_logged: int = 20
) -> TranscriptWords:
    """Count the words of a transcript (one sentence per line, words only).

    With a ``vocabulary``, each word outside it is recorded in ``oov`` (callers map it to
    ``<unk>``) and the first ``max_logged`` are logged as ``file:line: word``, then a count; a
    transcript with no words raises ``ValueError``.
    """
    path = require_file(path, "transcript")
    result = TranscriptWords()
    for lineno, line in read_text_lines(path):
        for word in line.split():
            if vocabulary is not None and word not in vocabulary:
                result.oov.append((str(path), lineno, word))
                if len(result.oov) <= max_logged:
                    logging.warning(f"{path}:{lineno}: word {word!r} is not in the "
                                    "dictionary; mapped to <unk>")
            else:
                result.counts[word] += 1
    if not result.counts and not result.oov:
        raise ValueError(f"transcript {path} contains no words")
    if result.oov:
        logging.warning(f"{path}: {len(result.oov)} out-of-dictionary word occurrences "
                        f"({len({w for _, _, w in result.oov})} distinct) mapped to <unk>")
    return result
