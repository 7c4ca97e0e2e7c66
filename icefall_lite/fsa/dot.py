"""Drawing FSAs: Graphviz dot source (k2's ``to_dot``) and rendering through the ``dot``
program when it is installed.

Arcs are labelled ``label:aux_label/score`` (``aux_label`` only when the FSA has one; a
ragged aux_label prints its values joined by spaces); the final state is a double circle.

Example::

    >>> dot = to_dot(Fsa.from_str("0 1 3 0.5\\n1 2 -1 0\\n2"), title="example")
    >>> dot.splitlines()[0]
    'digraph FSA {'
    >>> [line.strip() for line in dot.splitlines() if "->" in line]
    ['0 -> 1 [label = "3/0.5"];', '1 -> 2 [label = "-1/0"];']
"""

from __future__ import annotations

import shutil
import subprocess

import torch

from icefall_lite.fsa.fsa import Fsa


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(fsa: Fsa, title: str | None = None, rankdir: str = "LR") -> str:
    """Graphviz dot source of a single FSA (k2 returns a ``graphviz.Digraph``; this returns
    its source text, which ``graphviz.Source`` or ``dot -Tsvg`` renders)."""
    if fsa.arcs.num_axes() != 2:
        raise ValueError("to_dot needs a single FSA; index the FsaVec first (fsa_vec[i])")
    num_states = fsa.shape[0]
    values = fsa.arcs.values().cpu()
    scores = fsa.scores.detach().cpu().tolist()
    aux = fsa._tensor_attr.get("aux_labels")
    aux_list = None
    if isinstance(aux, torch.Tensor):
        aux_list = [str(x) for x in aux.cpu().tolist()]
    elif aux is not None:
        aux_list = [" ".join(map(str, x)) or "<eps>" for x in aux.tolist()]
    lines = ["digraph FSA {", f"  rankdir = {rankdir};"]
    if title:
        lines.append(f"  label = {_quote(title)};")
        lines.append("  labelloc = t;")
    for s in range(num_states):
        shape = "doublecircle" if s == num_states - 1 else "circle"
        style = ', style = bold' if s == 0 else ""
        lines.append(f"  {s} [label = \"{s}\", shape = {shape}{style}];")
    rows = values[:, :3].tolist()
    for i, (s, d, lab) in enumerate(rows):
        text = str(lab)
        if aux_list is not None:
            text += ":" + aux_list[i]
        text += f"/{scores[i]:g}"
        lines.append(f"  {s} -> {d} [label = {_quote(text)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw(fsa: Fsa, filename: str, title: str | None = None) -> str:
    """Render ``fsa`` to ``filename`` (format from its suffix, e.g. ``.svg``) with Graphviz's
    ``dot`` program; returns the dot source."""
    source = to_dot(fsa, title=title)
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError("draw: Graphviz 'dot' is not installed; use to_dot() for the source")
    fmt = filename.rsplit(".", 1)[-1] if "." in filename else "svg"
    subprocess.run([exe, f"-T{fmt}", "-o", filename], input=source.encode(), check=True)
    return source
