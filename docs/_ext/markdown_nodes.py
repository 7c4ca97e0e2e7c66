"""A small Markdown-to-docutils converter for the recipes' RESULTS.md and the README.

It knows what those files use: ``#`` headings (as rubrics), paragraphs, ``-``/``*`` and ``1.``
lists, fenced code blocks, pipe tables, and the inline forms ```code```, ``**bold**`` and
``[text](url)``. Everything else stays plain text; nothing is parsed as reStructuredText, so no
Markdown input can make the Sphinx build warn.

Example::

    >>> nodes_ = markdown_to_nodes("| a | b |\\n|---|---|\\n| 1 | `x` |\\n")
    >>> nodes_[0].tagname
    'table'
"""

from __future__ import annotations

import re

from docutils import nodes

_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^(\s*)\d+[.)]\s+(.*)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def inline(text: str) -> list[nodes.Node]:
    """Text with ```code```, ``**bold**`` and ``[text](url)`` as docutils inline nodes."""
    out: list[nodes.Node] = []
    pos = 0
    for match in _INLINE.finditer(text):
        if match.start() > pos:
            out.append(nodes.Text(text[pos:match.start()]))
        code, bold, link_text, url = match.groups()
        if code is not None:
            out.append(nodes.literal(code, code))
        elif bold is not None:
            out.append(nodes.strong(bold, bold))
        else:
            out.append(nodes.reference(link_text, link_text, refuri=url))
        pos = match.end()
    if pos < len(text):
        out.append(nodes.Text(text[pos:]))
    return out


def _split_row(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells = re.split(r"(?<!\\)\|", line)
    return [c.strip().replace("\\|", "|") for c in cells]


def _table(header: list[str], rows: list[list[str]]) -> nodes.table:
    ncols = len(header)
    table = nodes.table()
    tgroup = nodes.tgroup(cols=ncols)
    table += tgroup
    for _ in range(ncols):
        tgroup += nodes.colspec(colwidth=1)

    def make_row(cells: list[str]) -> nodes.row:
        cells = (cells + [""] * ncols)[:ncols]
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph("", "", *inline(cell))
            row += entry
        return row

    thead = nodes.thead()
    thead += make_row(header)
    tgroup += thead
    tbody = nodes.tbody()
    for cells in rows:
        tbody += make_row(cells)
    tgroup += tbody
    return table


def markdown_to_nodes(text: str) -> list[nodes.Node]:
    """Convert Markdown ``text`` into a list of block-level docutils nodes."""
    lines = text.splitlines()
    out: list[nodes.Node] = []
    paragraph: list[str] = []
    current_list: nodes.Element | None = None

    def flush_paragraph() -> None:
        if paragraph:
            out.append(nodes.paragraph("", "", *inline(" ".join(s.strip() for s in paragraph))))
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush_paragraph()
            current_list = None
            marker, language = fence.group(1), fence.group(2)
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                body.append(lines[i])
                i += 1
            code = "\n".join(body)
            block = nodes.literal_block(code, code)
            block["language"] = language or "text"
            out.append(block)
            i += 1
            continue
        if not line.strip():
            flush_paragraph()
            current_list = None
            i += 1
            continue
        if re.fullmatch(r"\s*([-*_])(\s*\1){2,}\s*", line):  # a horizontal rule: dropped
            flush_paragraph()
            current_list = None
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            flush_paragraph()
            current_list = None
            out.append(nodes.rubric("", "", *inline(heading.group(2))))
            i += 1
            continue
        if "|" in line and i + 1 < len(lines) and _TABLE_SEPARATOR.match(lines[i + 1]):
            flush_paragraph()
            current_list = None
            header = _split_row(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip() and "|" in lines[i]:
                rows.append(_split_row(lines[i]))
                i += 1
            out.append(_table(header, rows))
            continue
        item = _BULLET.match(line) or _NUMBERED.match(line)
        if item:
            flush_paragraph()
            kind = nodes.bullet_list if _BULLET.match(line) else nodes.enumerated_list
            if not isinstance(current_list, kind):
                current_list = kind()
                out.append(current_list)
            list_item = nodes.list_item()
            list_item += nodes.paragraph("", "", *inline(item.group(2)))
            current_list += list_item
            i += 1
            continue
        if current_list is not None and line.startswith((" ", "\t")):
            last = current_list.children[-1].children[-1]
            last += inline(" " + line.strip())
            i += 1
            continue
        current_list = None
        paragraph.append(line)
        i += 1
    flush_paragraph()
    return out
