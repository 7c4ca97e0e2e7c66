r"""Corpus text files read line by line, each line decoded on its own as UTF-8.

A line that is not UTF-8 is a data problem of that line: it goes to the issue collector as
``file:line`` (an error, or a counted skip under ``--on-error skip``) instead of a
``UnicodeDecodeError`` that names neither the file nor the line.

Example::

    >>> import pathlib, tempfile
    >>> from icefall_lite.data.validation import DataIssues
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "an4_test.fileids"
    >>> _ = path.write_bytes(b"an4test_clstk/fcaw/an406-fcaw-b\n\nbad \xff line\n")
    >>> read_lines(path, DataIssues(on_error="skip"))  # the bad line reported, kept as None
    [(1, 'an4test_clstk/fcaw/an406-fcaw-b'), (3, None)]
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
