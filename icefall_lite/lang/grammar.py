"""G, the word grammar: an ARPA n-gram LM as an OpenFst acceptor, through kaldilm.

Backoff arcs carry ``#0`` on their input side (epsilon on the output), ``<s>`` and ``</s>``
become the start state and final weights, weights are costs ``-ln p``. Words of the ARPA file
that ``words.txt`` lacks are skipped by kaldilm (a warning says how many). The inputs are
checked before kaldilm sees them and kaldilm runs in a child process: a malformed ARPA file is
an error naming file and line, never an abort (kaldilm's own reaction, exit status 134).

``max_order`` truncates the model properly: the n-grams above it are dropped and so are the
backoff weights of the new highest order (kaldilm's own ``max_order`` keeps those, so a
truncated G would pay them on every history of that order).

Example::

    text = arpa_to_g("lm/3gram.arpa", "lang/words.txt", "lang/G_3_gram.fst.txt")
    G = load_g("lang/G_3_gram.fst.txt")   # kaldifst.StdVectorFst
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from icefall_lite.lang.arpa import check_arpa
from icefall_lite.lang.files import require_file
from icefall_lite.lang.symbol_table import SymbolTable


def arpa_to_g(
    arpa: str | Path,
    words: str | Path,
    out: str | Path | None = None,
    max_order: int = -1,
    disambig_symbol: str = "#0",
) -> str:
    """Convert an ARPA file into G (OpenFst text, integer labels from ``words``).

    Both inputs are checked first (:func:`~icefall_lite.lang.arpa.check_arpa`,
    :func:`check_word_table`) and kaldilm runs in a child process, so a file it cannot parse
    is a ``ValueError`` naming it, never an abort of this process. A G that accepts no word
    (the ARPA and ``words`` share none) is an error too.

    Args:
      arpa: the ARPA LM.
      words: ``words.txt``; ``<eps>`` must be id 0 and ``disambig_symbol``, ``<s>``, ``</s>``
        must be there.
      out: where to write the text form (skipped when None; written to a temporary name and
        renamed, so a failure leaves no partial file).
      max_order: use n-grams up to this order (-1: all).
    Returns:
      The text form of G.
    """
    arpa = require_file(arpa, "ARPA LM")
    table = check_word_table(words, (disambig_symbol, "<s>", "</s>"))
    info = check_arpa(arpa)
    arpa_words = info.unigrams - {"<s>", "</s>"}
    known = {w for w in arpa_words if w in table}
    if not known:
        raise ValueError(f"none of the {len(arpa_words)} words of {arpa} is in {words}: G would "
                         "accept no sentence")
    if len(known) < len(arpa_words):
        logging.warning(f"{len(arpa_words) - len(known)} of the {len(arpa_words)} words of "
                        f"{arpa} are not in {words}; G leaves their n-grams out")
    with tempfile.TemporaryDirectory() as tmp:
        if max_order > 0:
            truncated = Path(tmp) / "truncated.arpa"
            truncate_arpa(arpa, truncated, max_order)
            arpa = truncated
        text = _kaldilm_arpa2fst(arpa, Path(words), disambig_symbol, Path(tmp) / "G.fst.txt")
    if out is not None:
        write_atomically(Path(out), text)
        logging.info(f"wrote {out}")
    return text


# kaldilm aborts the process on a parse error: it runs in a child, which writes G to argv[4].
_KALDILM_CHILD = (
    "import sys, kaldilm\n"
    "text = kaldilm.arpa2fst(input_arpa=sys.argv[1], disambig_symbol=sys.argv[2],\n"
    "                        read_symbol_table=sys.argv[3])\n"
    "open(sys.argv[4], 'w', encoding='utf-8').write(text)\n"
)


def _kaldilm_arpa2fst(arpa: Path, words: Path, disambig_symbol: str, out: Path) -> str:
    """kaldilm's ``arpa2fst`` in a child process; its warnings are logged, its failure raised
    as ``ValueError`` with kaldilm's message."""
    child = subprocess.run(
        [sys.executable, "-c", _KALDILM_CHILD, str(arpa), disambig_symbol, str(words), str(out)],
        capture_output=True, text=True, errors="replace",
    )
    messages = [line for line in child.stderr.splitlines() if line.startswith(("[W]", "[E]"))]
    for line in messages[:_MAX_LOGGED_WARNINGS]:
        logging.warning(f"kaldilm: {line}")
    if child.returncode != 0:
        reason = (f"signal {-child.returncode}" if child.returncode < 0
                  else f"exit status {child.returncode}")
        last = messages[-1] if messages else child.stderr.strip()[-300:]
        raise ValueError(f"kaldilm could not convert {arpa} with {words} ({reason}): {last}")
    text = out.read_text(encoding="utf-8")
    if not text.strip():
        raise ValueError(f"kaldilm produced an empty G from {arpa} with {words}")
    return text


_MAX_LOGGED_WARNINGS = 20


def check_word_table(words: str | Path, needed: tuple[str, ...]) -> SymbolTable:
    """Read ``words.txt`` for G: every symbol and id once (:meth:`SymbolTable.from_file`),
    ``<eps>`` as id 0 (G's epsilon), and the ``needed`` symbols present."""
    words = require_file(words, "words.txt (word table)")
    table = SymbolTable.from_file(words)
    if 0 not in table or table[0] != "<eps>":
        raise ValueError(f"{words}: id 0 must be <eps> (G's epsilon), got "
                         f"{table[0] if 0 in table else 'nothing'!r}")
    for symbol in needed:
        if symbol not in table:
            raise ValueError(f"{words} lacks {symbol!r}, which G needs")
    return table


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename:
    readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(f"output {path} is a directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
