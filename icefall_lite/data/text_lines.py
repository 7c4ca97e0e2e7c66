"""Corpus text files read line by line, each line decoded on its own as UTF-8.

A line that is not UTF-8 is a data problem of that line: it goes to the issue collector as
``file:line`` (an error, or a counted skip under ``--on-error skip``) instead of a
``UnicodeDecodeError`` that names neither the file nor the line.

Example::

    >>> from icefall_lite.data.text_lines import read_lines
    >>> from icefall_lite.data.validation import DataIssues
    >>> lines = read_lines(Path("an4/etc/an4_test.fileids"), DataIssues())  # doctest: +SKIP
    >>> lines[0]  # doctest: +SKIP
    (1, 'an4test_clstk/fcaw/an406-fcaw-b')
"""

from __future__ import annotations

from pathlib import Path

from icefall_lite.data.validation import DataIssues, at_line


def read_lines(path: Path, issues: DataIssues) -> list[tuple[int, str | None]]:
    """``(line number, text)`` of every non-blank line of ``path`` (numbers count every line).

    ``text`` is None for a line that is not valid UTF-8; that line was reported to ``issues``
    (problem ``"non-UTF-8 text"``), so callers skip it, keeping their line pairing.
    """
    lines: list[tuple[int, str | None]] = []
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                text: str | None = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                issues.flag("non-UTF-8 text", None, at_line(path, line_no),
                            f"byte 0x{raw[error.start]:02x} at column {error.start + 1} is not "
                            "UTF-8")
                text = None
            lines.append((line_no, text))
    return lines
