"""G, the word grammar: an ARPA n-gram LM as an OpenFst acceptor, through kaldilm.

Backoff arcs carry ``#0`` on their input side (epsilon on the output), ``<s>`` and ``</s>``
become the start state and final weights, weights are costs ``-ln p``. Words of the ARPA file
that ``words.txt`` lacks are skipped by kaldilm with a warning.

``max_order`` truncates the model properly: the n-grams above it are dropped and so are the
backoff weights of the new highest order (kaldilm's own ``max_order`` keeps those, so a
truncated G would pay them on every history of that order).

Example::

    text = arpa_to_g("lm/3gram.arpa", "lang/words.txt", "lang/G_3_gram.fst.txt")
    G = load_g("lang/G_3_gram.fst.txt")   # kaldifst.StdVectorFst
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

from icefall_lite.lang.files import require_file


def arpa_to_g(
    arpa: str | Path,
    words: str | Path,
    out: str | Path | None = None,
    max_order: int = -1,
    disambig_symbol: str = "#0",
) -> str:
    """Convert an ARPA file into G (OpenFst text, integer labels from ``words``).

    Args:
      arpa: the ARPA LM.
      words: ``words.txt``; must contain ``disambig_symbol``, ``<s>`` and ``</s>``.
      out: where to write the text form (skipped when None).
      max_order: use n-grams up to this order (-1: all).
    Returns:
      The text form of G.
    """
    import kaldilm  # noqa: PLC0415

    arpa = require_file(arpa, "ARPA LM")
    words = require_file(words, "words.txt (word table)")
    with open(words, encoding="utf-8") as f:
        symbols = {line.split()[0] for line in f if line.strip()}
    for needed in (disambig_symbol, "<s>", "</s>"):
        if needed not in symbols:
            raise ValueError(f"{words} lacks {needed!r}, which G needs")
    with tempfile.TemporaryDirectory() as tmp:
        if max_order > 0:
            truncated = Path(tmp) / "truncated.arpa"
            truncate_arpa(arpa, truncated, max_order)
            arpa = truncated
        text = kaldilm.arpa2fst(
            input_arpa=str(arpa),
            disambig_symbol=disambig_symbol,
            read_symbol_table=str(words),
        )
    if not text.strip():
        raise ValueError(f"kaldilm produced an empty G from {arpa} with {words}")
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
        logging.info(f"wrote {out}")
    return text


def truncate_arpa(arpa: str | Path, out: str | Path, max_order: int) -> None:
    """Write the n-grams of ``arpa`` up to ``max_order``, without backoff weights on the
    ``max_order``-grams (nothing backs off from the highest order)."""
    if max_order < 1:
        raise ValueError(f"max_order={max_order}: must be >= 1")
    section = 0
    with open(arpa, encoding="utf-8") as f, open(out, "w", encoding="utf-8") as g:
        for line in f:
            stripped = line.strip()
            header = re.fullmatch(r"ngram (\d+)=\d+", stripped)
            if header and int(header.group(1)) > max_order:
                continue
            match = re.fullmatch(r"\\(\d+)-grams:", stripped)
            if match:
                section = int(match.group(1))
            elif stripped == "\\end\\":
                section = 0
            if section > max_order:
                continue
            if section == max_order and stripped and not match:
                fields = stripped.split()
                line = " ".join(fields[: 1 + max_order]) + "\n"
            g.write(line)


def load_g(path: str | Path):
    """Read G's OpenFst text form (as written by :func:`arpa_to_g`) into a ``StdVectorFst``."""
    import kaldifst  # noqa: PLC0415

    path = require_file(path, "G (OpenFst text)")
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise ValueError(f"G file {path} is empty")
    return kaldifst.compile(text, acceptor=False)
