"""Markdown (the recipes' RESULTS.md, the README, tables the extension generates) as docutils
nodes, parsed by myst-parser's docutils parser (CommonMark with GFM pipe tables).

Headings become rubrics, not sections, so the nodes can sit anywhere inside a page; a fenced
block's info string becomes its ``language`` (Sphinx highlights it); any warning of the parser
is raised, so a malformed file fails the ``-W`` docs build instead of rendering wrongly.

Example::

    >>> nodes_ = markdown_to_nodes("| a | b |\\n|---|---|\\n| 1 | `x` |\\n")
    >>> nodes_[0].tagname
    'table'
"""

from __future__ import annotations

from docutils import nodes
from docutils.core import publish_doctree
from myst_parser.parsers.docutils_ import Parser

_SETTINGS = {
    "doctitle_xform": False,  # a lone top heading stays a heading (a rubric below)
    "syntax_highlight": "none",  # Sphinx highlights literal blocks by their language
    "myst_suppress_warnings": ["myst.header"],  # RESULTS.md may start below level 1
    "report_level": 2,
    "halt_level": 5,
    "warning_stream": False,
}


def _flatten(node: nodes.Node) -> list[nodes.Node]:
    """A section as a rubric (its title) followed by its content; informational messages of the
    parser (e.g. two headings with the same text) dropped; other nodes as they are."""
    if isinstance(node, nodes.system_message):
        return []
    if isinstance(node, nodes.section):
        title = node.next_node(nodes.title)
        rubric = nodes.rubric(title.rawsource, "", *title.children)
        return [rubric] + [n for child in node.children[1:] for n in _flatten(child)]
    if isinstance(node, nodes.literal_block):
        languages = [c for c in node["classes"] if c != "code"]
        if languages:
            node["language"] = languages[0]
    return [node]


def markdown_to_nodes(text: str) -> list[nodes.Node]:
    """Parse Markdown ``text`` into block-level docutils nodes (see the module docstring)."""
    document = publish_doctree(text, parser=Parser(), settings_overrides=_SETTINGS)
    problems = [m for m in document.findall(nodes.system_message) if m["level"] >= 2]
    if problems:
        raise ValueError("Markdown: " + "; ".join(m.astext() for m in problems))
    return [n for child in document.children for n in _flatten(child)]
