"""Sphinx extension: figures and tables generated from the code and the repository at build time.

Directives:

- ``.. generated-figure:: NAME`` (content: the caption, reStructuredText) runs the generator
  ``NAME`` of :mod:`doc_figures`, writes ``docs/generated/NAME.dot`` and ``NAME.svg`` (rendered
  by Graphviz's ``dot``), and inserts the SVG as a figure whose legend says where the data came
  from. Pages with such figures are re-read on every build, so the pictures always come from
  the current code.
- ``.. repo-results:: PATH [PATH ...]`` includes the first of those repository files that
  exists (Markdown such as ``egs/<corpus>/ASR/RESULTS.md`` converted: tables, lists, code; other
  files verbatim), or says that no results are recorded yet.
- ``.. script-header:: PATH`` shows a script's description (a Python docstring or the leading
  comment block of a shell script).
- ``.. recipe-scripts:: egs/<corpus>/ASR`` lists each script of a recipe with its description.
- ``.. readme-commands::`` shows every fenced code block of the repository's ``README.md``
  under the heading of its section, so the quick start cannot drift from the README.
- ``.. package-api:: PACKAGE`` documents a package and every submodule with ``automodule``.
- ``.. decoding-comparison::`` runs every registered decoding method on the figure utterance.
- ``.. decoding-options:: FIELD ...`` tables the named :class:`DecodingConfig` fields with
  their defaults and descriptions, read from the dataclass itself.

A generator that fails becomes a Sphinx warning naming the figure and the error (an error under
``-W``).
"""

from __future__ import annotations

import ast
import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import doc_figures
from docutils import nodes
from docutils.parsers.rst import Directive, directives
from markdown_nodes import markdown_to_nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

ROOT = doc_figures.ROOT
GENERATED = "generated"


#: figure name -> (SVG path, note), filled once per build (several pages share figures)
_RENDERED: dict[str, tuple[Path, str]] = {}


def _rendered(name: str, srcdir: Path) -> tuple[Path, str]:
    """Run figure ``name`` once per build; return its SVG path and caption note."""
    if name in _RENDERED:
        return _RENDERED[name]
    figure = doc_figures.FIGURES[name]()
    outdir = srcdir / GENERATED
    outdir.mkdir(exist_ok=True)
    svg_path = outdir / f"{name}.svg"
    if figure.dot is not None:
        (outdir / f"{name}.dot").write_text(figure.dot, encoding="utf-8")
        dot = shutil.which("dot")
        if dot is None:
            raise RuntimeError("Graphviz 'dot' is not installed (apt-get install graphviz)")
        result = subprocess.run([dot, "-Tsvg", "-o", str(svg_path)], input=figure.dot.encode(),
                                capture_output=True)
        if result.returncode != 0:
            raise RuntimeError(f"dot failed on {outdir / (name + '.dot')}: "
                               f"{result.stderr.decode(errors='replace')}")
    else:
        svg_path.write_text(figure.svg or "", encoding="utf-8")
    _RENDERED[name] = (svg_path, figure.note)
    return _RENDERED[name]


def _reread_every_build(env, docname: str) -> None:
    """Mark ``docname`` as built from the code or from files that may appear later."""
    if not hasattr(env, "generated_figure_docs"):
        env.generated_figure_docs = set()
    env.generated_figure_docs.add(docname)


class GeneratedFigure(Directive):
    required_arguments = 1
    has_content = True
    option_spec = {"alt": directives.unchanged, "width": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        name = self.arguments[0]
        _reread_every_build(env, env.docname)
        if name not in doc_figures.FIGURES:
            raise self.error(f"generated-figure: unknown figure {name!r}; known: "
                             f"{', '.join(doc_figures.FIGURES)}")
        try:
            svg_path, note = _rendered(name, Path(env.srcdir))
        except Exception as e:  # noqa: BLE001 - any failure must surface as a build warning
            logger.warning(f"generated-figure {name!r} failed: {type(e).__name__}: {e}",
                           location=(env.docname, self.lineno))
            return []
        figure = nodes.figure(classes=["generated-figure"])
        image = nodes.image(uri=f"/{GENERATED}/{svg_path.name}",
                            alt=self.options.get("alt", name.replace("_", " ")))
        # A width (the drawing's own unless given) makes Sphinx link the picture to the full-size
        # SVG, which matters for wide lattices that the page scales down.
        image["width"] = self.options.get("width") or _svg_width(svg_path)
        figure += image
        if self.content:
            holder = nodes.Element()
            self.state.nested_parse(self.content, self.content_offset, holder)
            first = holder[0]
            if isinstance(first, nodes.paragraph):
                figure += nodes.caption(first.rawsource, "", *first.children)
        legend = nodes.legend()
        legend += nodes.paragraph(note, note)
        figure += legend
        return [figure]


def _svg_width(svg_path: Path) -> str:
    match = re.search(r'<svg[^>]*?\swidth="([\d.]+)(pt|px)?"', svg_path.read_text(encoding="utf-8"))
    if not match:
        return "100%"
    return f"{float(match.group(1)):g}{match.group(2) or 'px'}"


class RepoResults(Directive):
    """The first existing file of the arguments (paths relative to the repository root):
    Markdown converted, anything else as a literal block; a note when none exists."""

    required_arguments = 1
    optional_arguments = 8

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        _reread_every_build(env, env.docname)
        for relpath in self.arguments:
            path = ROOT / relpath
            if path.is_file():
                break
        else:
            names = " or ".join(self.arguments)
            text = (f"No results are recorded yet: {names} does not exist in this checkout. "
                    "The results appear here once they have been measured and written there.")
            return [nodes.note("", nodes.paragraph(text, text))]
        env.note_dependency(str(path))
        intro = nodes.paragraph("", "", nodes.Text("Included from "),
                                nodes.literal(relpath, relpath), nodes.Text(":"))
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".md":
            return [intro, *markdown_to_nodes(text)]
        return [intro, nodes.literal_block(text, text)]


def _script_doc(path: Path) -> str:
    """A script's own description: a Python module's docstring, or the leading comment block of
    a shell script (after the shebang)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return ast.get_docstring(ast.parse(text)) or ""
    lines = []
    for line in text.splitlines():
        if line.startswith("#!"):
            continue
        if not line.startswith("#"):
            break
        lines.append(line[2:] if line.startswith("# ") else line[1:])
    return "\n".join(lines).strip("\n")


def _literal(text: str) -> nodes.literal_block:
    block = nodes.literal_block(text, text)
    block["language"] = "text"
    return block


class ScriptHeader(Directive):
    """The description of one repository script (its usage and stages), verbatim."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        relpath = self.arguments[0]
        path = ROOT / relpath
        if not path.is_file():
            text = f"{relpath} does not exist in this checkout yet."
            return [nodes.note("", nodes.paragraph(text, text))]
        env.note_dependency(str(path))
        return [_literal(_script_doc(path) or f"({relpath} has no description)")]


class RecipeScripts(Directive):
    """Each script of a recipe directory (``run.sh``, then ``zipformer/*.py`` in workflow
    order) with its description, so that a new script shows up without editing the docs."""

    required_arguments = 1
    order = ("run.sh", "train.py", "decode.py", "streaming_decode.py", "export.py",
             "pretrained.py")

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        _reread_every_build(env, env.docname)
        recipe = ROOT / self.arguments[0]
        scripts = [p for p in [recipe / "run.sh", *sorted((recipe / "zipformer").glob("*.py"))]
                   if p.is_file() and p.stat().st_mode & 0o111]
        rank = {name: i for i, name in enumerate(self.order)}
        scripts.sort(key=lambda p: (rank.get(p.name, len(rank)), p.name))
        if not scripts:
            text = f"{self.arguments[0]} has no scripts in this checkout yet."
            return [nodes.note("", nodes.paragraph(text, text))]
        out: list[nodes.Node] = []
        for path in scripts:
            env.note_dependency(str(path))
            name = str(path.relative_to(recipe))
            out.append(nodes.rubric("", "", nodes.literal(name, name)))
            out.append(_literal(_script_doc(path) or "(no description)"))
        return out


class ReadmeCommands(Directive):
    """Every fenced code block of the README, under the heading of its section."""

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        readme = ROOT / "README.md"
        env.note_dependency(str(readme))
        out: list[nodes.Node] = []
        heading = None
        for node in markdown_to_nodes(readme.read_text(encoding="utf-8")):
            if isinstance(node, nodes.rubric):
                heading = node
            elif isinstance(node, nodes.literal_block):
                if heading is not None:
                    out.append(heading)
                    heading = None
                out.append(node)
        if not out:
            raise self.error(f"readme-commands: {readme} has no fenced code block")
        return out


class DecodingOptions(Directive):
    """The named DecodingConfig fields with their defaults and meanings, read from the
    dataclass and its docstring."""

    required_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        from icefall_lite.decoding import DecodingConfig

        fields = {f.name: f for f in dataclasses.fields(DecodingConfig)}
        help_text = _docstring_args(DecodingConfig.__doc__ or "")
        rows = []
        for name in self.arguments[0].split():
            if name not in fields:
                raise self.error(f"decoding-options: DecodingConfig has no field {name!r}")
            # the docstring says which methods read a field ("fast_beam_search* — ..."); the page
            # is about one method already
            meaning = re.sub(r"^[\w*/ ,`]+ — ", "", help_text.get(name, ""))
            meaning = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", meaning)
            rows.append([f"`{name}`", f"`{fields[name].default!r}`", meaning])
        return markdown_to_nodes(
            "| DecodingConfig field | default | meaning |\n|---|---|---|\n"
            + "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |"
                        for r in rows)
        )


class PackageApi(Directive):
    """``automodule`` of a package and each of its submodules (found by walking it, so a new
    module is documented without editing the docs); ``:exclude:`` names modules to leave out."""

    required_arguments = 1
    option_spec = {"exclude": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        import importlib
        import pkgutil

        from docutils.statemachine import StringList
        from sphinx.util.nodes import nested_parse_with_titles

        package_name = self.arguments[0]
        exclude = set(self.options.get("exclude", "").split())
        package = importlib.import_module(package_name)
        names = [package_name]
        if hasattr(package, "__path__"):
            names += sorted(m.name for m in pkgutil.walk_packages(package.__path__,
                                                                   package_name + "."))
        lines = []
        for name in names:
            if name in exclude or name.rsplit(".", 1)[-1] == "__main__":
                continue
            module = importlib.import_module(name)
            lines += [name, "~" * len(name), "", f".. automodule:: {name}"]
            # a package re-exports its modules' names (``__all__``): documenting them there
            # too would describe each object twice
            if not hasattr(module, "__path__"):
                lines.append("   :members:")
            lines.append("")
        holder = nodes.section()
        holder.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source=package_name), holder)
        return holder.children


class DecodingComparison(Directive):
    """Every registered decoding method run on the figure utterance with its defaults."""

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        _reread_every_build(env, env.docname)
        try:
            rows = doc_figures.method_outputs()
        except Exception as e:  # noqa: BLE001 - any failure must surface as a build warning
            logger.warning(f"decoding-comparison failed: {type(e).__name__}: {e}",
                           location=(env.docname, self.lineno))
            return []
        table = markdown_to_nodes("| method | output | result |\n|---|---|---|\n" + "\n".join(
            f"| `{name}` | {kind} | {text} |" for name, kind, text in rows))
        note = (f"Computed during the docs build with DecodingConfig() defaults; word outputs use "
                f"the LG of the LG pages. {doc_figures.setup().note}")
        return [*table, nodes.paragraph(note, note, classes=["generated-note"])]


class K2BuiltinTable(Directive):
    """Each name of ``k2.builtin`` and the module that defines it (from ``k2_builtin.SOURCES``)."""

    def run(self) -> list[nodes.Node]:
        import importlib

        from sphinx.addnodes import pending_xref

        from icefall_lite import k2_builtin

        rows = sorted(k2_builtin.SOURCES.items(), key=lambda kv: (kv[1], kv[0]))
        table = markdown_to_nodes("| name | defined in |\n|---|---|\n" + "\n".join(
            f"| `k2.{name}` | `{module}` |" for name, module in rows))[0]
        # link each name to its API entry (where the object says it is defined)
        for row, (name, module) in zip(list(table.findall(nodes.row))[1:], rows):
            try:
                obj = getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError):
                continue
            home = getattr(obj, "__module__", None) or module
            if isinstance(obj, type(importlib)):
                target = obj.__name__
            else:
                target = f"{home}.{getattr(obj, '__qualname__', name)}"
            literal = row.next_node(nodes.literal)
            xref = pending_xref("", refdomain="py", reftype="obj", reftarget=target,
                                refexplicit=True, refwarn=False)
            literal.replace_self(xref)
            xref += literal
        return [table]


def _docstring_args(doc: str) -> dict[str, str]:
    """``name: text`` entries of a Google-style ``Args:`` section (continuation lines joined)."""
    out: dict[str, str] = {}
    current = None
    in_args = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped == "Args:":
            in_args = True
            continue
        if not in_args:
            continue
        match = re.match(r"^(\w+(?:, \w+)*): (.*)$", stripped)
        if match and line.startswith("      ") and not line.startswith("        "):
            current = [n.strip() for n in match.group(1).split(",")]
            for n in current:
                out[n] = match.group(2)
        elif stripped and current:
            for n in current:
                out[n] += " " + stripped
        elif not stripped:
            current = None
    return out


_SINGLE_STAR = re.compile(r"(?<!\*)\*(?!\*)")
_OPEN_BEFORE = " \t([{'\"-/:"
_CLOSE_AFTER = " \t.,;:!?)]}'\"-/\\"


def _outdated(app, env, added, changed, removed) -> list[str]:
    return sorted(getattr(env, "generated_figure_docs", set()) - set(removed))


def _purge(app, env, docname: str) -> None:
    getattr(env, "generated_figure_docs", set()).discard(docname)


def _merge(app, env, docnames, other) -> None:
    env.generated_figure_docs = (getattr(env, "generated_figure_docs", set())
                                 | getattr(other, "generated_figure_docs", set()))


def _reset(app) -> None:
    _RENDERED.clear()


def setup(app) -> dict:
    app.add_directive("generated-figure", GeneratedFigure)
    app.add_directive("repo-results", RepoResults)
    app.add_directive("readme-commands", ReadmeCommands)
    app.add_directive("script-header", ScriptHeader)
    app.add_directive("recipe-scripts", RecipeScripts)
    app.add_directive("package-api", PackageApi)
    app.add_directive("k2-builtin-table", K2BuiltinTable)
    app.add_directive("decoding-comparison", DecodingComparison)
    app.add_directive("decoding-options", DecodingOptions)
    app.connect("builder-inited", _reset)
    app.connect("env-get-outdated", _outdated)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
