"""The documentation sources: one page per decoding method, generated figures everywhere, and the
helpers of the docs extension (Markdown tables, docstring repair, the screenshot PNG reader).

The Sphinx build itself runs in ``make docs`` (with -W), not here.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import struct
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
METHODS = DOCS / "methods"
FIGURE_DIRECTIVE = re.compile(r"^\.\. generated-figure:: (\S+)\s*$", re.M)

sys.path.insert(0, str(DOCS / "_ext"))


def _ext(name: str):
    """A module of the docs extension, imported when a test runs: it needs sphinx/docutils,
    which only the main environment has (the k2 environment collects this file too)."""
    return importlib.import_module(name)


def _load_screenshot_check():
    spec = importlib.util.spec_from_file_location("screenshot_check",
                                                  DOCS / "screenshot_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def method_pages() -> list[Path]:
    return sorted(p for p in METHODS.glob("*.rst")
                  if p.name != "index.rst" and not p.name.startswith("_"))


def test_every_registered_decoding_method_has_a_page_in_the_toctree():
    from icefall_lite.decoding import DECODING_METHODS

    index = (METHODS / "index.rst").read_text(encoding="utf-8")
    toctree = index.split(".. toctree::", 1)[1]
    for name in DECODING_METHODS:
        page = METHODS / f"{name}.rst"
        assert page.is_file(), f"decoding method {name} has no page {page}"
        assert re.search(rf"^\s+{re.escape(name)}\s*$", toctree, re.M), \
            f"{name} is missing from the methods toctree"
        title = page.read_text(encoding="utf-8").splitlines()[0]
        assert title == name, f"{page}: title {title!r} is not the method name"
    assert {p.stem for p in method_pages()} == set(DECODING_METHODS), \
        "a method page exists for a name the registry does not know"


@pytest.mark.parametrize("page", method_pages(), ids=lambda p: p.stem)
def test_every_method_page_embeds_a_generated_figure(page: Path):
    names = FIGURE_DIRECTIVE.findall(page.read_text(encoding="utf-8"))
    assert names, f"{page} embeds no generated-figure"


def test_every_generated_figure_name_exists_and_loss_page_plots_prune_ranges():
    used = {}
    for page in DOCS.rglob("*.rst"):
        if "_build" in page.parts:
            continue
        for name in FIGURE_DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            used.setdefault(name, []).append(page.name)
    unknown = set(used) - set(_ext("doc_figures").FIGURES)
    assert not unknown, f"unknown generated figures: {unknown}"
    assert "prune_ranges" in FIGURE_DIRECTIVE.findall((DOCS / "loss.rst").read_text())
    for needed in ("trivial_graph", "toy_lg", "lattice", "nbest_paths", "nbest_intersection"):
        assert needed in used, f"no page shows the {needed} figure"


def test_no_generated_image_is_kept_in_the_docs_sources():
    images = [p for p in DOCS.rglob("*") if p.suffix in (".svg", ".png", ".dot")
              and not {"_build", "generated"} & set(p.relative_to(DOCS).parts)]
    assert not images, f"images belong in docs/generated (built), not the sources: {images}"


def test_recipe_pages_include_each_recipes_results_file():
    for corpus in ("yesno", "an4", "librispeech"):
        text = (DOCS / "recipes" / f"{corpus}.rst").read_text(encoding="utf-8")
        assert f".. repo-results:: egs/{corpus}/ASR/RESULTS.md" in text


def test_markdown_pipe_table_becomes_a_docutils_table():
    from docutils import nodes

    text = (
        "## WER\n\n"
        "| method | test |\n"
        "|---|--:|\n"
        "| `greedy_search` | 2.5 |\n"
        "| **beam** | 2.4 |\n"
    )
    out = _ext("markdown_nodes").markdown_to_nodes(text)
    assert [n.tagname for n in out] == ["rubric", "table"]
    assert out[0].astext() == "WER"
    rows = list(out[1].findall(nodes.row))
    assert [[e.astext() for e in r.children] for r in rows] == [
        ["method", "test"], ["greedy_search", "2.5"], ["beam", "2.4"]]
    assert rows[1].next_node(nodes.literal).astext() == "greedy_search"
    assert rows[2].next_node(nodes.strong).astext() == "beam"


def test_markdown_lists_code_and_links():
    from docutils import nodes

    text = "- one `x`\n  more\n- two\n\n```bash\nmake test\n```\nsee [k2](https://k2.org)\n"
    out = _ext("markdown_nodes").markdown_to_nodes(text)
    assert [n.tagname for n in out] == ["bullet_list", "literal_block", "paragraph"]
    assert [" ".join(i.astext().split()) for i in out[0].children] == ["one x more", "two"]
    assert out[1].astext() == "make test" and out[1]["language"] == "bash"
    assert out[2].next_node(nodes.reference)["refuri"] == "https://k2.org"


def test_markdown_headings_become_rubrics_at_any_level():
    out = _ext("markdown_nodes").markdown_to_nodes("# A\n\ntext\n\n### B\n\n## A\n")
    assert [(n.tagname, n.astext()) for n in out] == [
        ("rubric", "A"), ("paragraph", "text"), ("rubric", "B"), ("rubric", "A")]


def test_markdown_warnings_fail_instead_of_rendering_wrongly():
    with pytest.raises(ValueError, match="Unknown directive type"):
        _ext("markdown_nodes").markdown_to_nodes("```{not_a_directive}\nx\n```\n")


def test_every_decoding_config_field_has_a_documented_meaning():
    import dataclasses

    from icefall_lite.decoding import DecodingConfig

    meanings = _ext("fsa_figures")._docstring_args(DecodingConfig.__doc__)
    for field in dataclasses.fields(DecodingConfig):
        assert meanings.get(field.name), f"DecodingConfig.{field.name} has no Args entry"


def _png(width: int, height: int, rows: list[bytes], color_type: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def test_screenshot_png_reader_decodes_filtered_rows(tmp_path: Path):
    check = _load_screenshot_check()
    # 2x2 RGB: row 0 unfiltered (black, white); row 1 "Sub"-filtered, pixels (30,60,90) and
    # (30+10, 60+20, 90+30) = (40, 80, 120) written as differences to the left pixel
    rows = [bytes([0, 0, 0, 0, 255, 255, 255]),
            bytes([1, 30, 60, 90, 10, 20, 30])]
    path = tmp_path / "x.png"
    path.write_bytes(_png(2, 2, rows, color_type=2))
    width, height, grey = check.read_png_grey(path)
    assert (width, height) == (2, 2)
    assert grey == [0, 255, 60, 80]
    assert check.grey_std([7] * 10) == 0.0


def test_screenshot_check_finds_missing_figures(tmp_path: Path):
    check = _load_screenshot_check()
    page = tmp_path / "p.html"
    page.write_text('<div class="generated-figure"><img src="_images/a.svg"></div>')
    svgs, problems = check.check_figures(page)
    assert svgs == ["_images/a.svg"] and any("missing" in p for p in problems)
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images/a.svg").write_text('<svg xmlns="x"><g><path d="M0 0"/></g></svg>')
    assert check.check_figures(page)[1] == []


def test_figures_fall_back_to_labelled_random_features_without_an4(monkeypatch):
    doc_figures = _ext("doc_figures")
    monkeypatch.setattr(doc_figures, "an4_dir", lambda: None)
    feats, note = doc_figures.utterance_features.__wrapped__()
    assert feats.shape == (96, 80)
    assert "AN4 was not found" in note


def test_drawing_merges_parallel_arcs_and_names_tokens():
    from icefall_lite import k2

    fsa = k2.builtin.Fsa.from_str("0 0 2 -0.5\n0 0 3 -0.25\n0 1 4 -1.004\n1 2 -1 0\n2")
    dot = _ext("doc_figures")._draw(fsa)
    edges = [line.strip() for line in dot.splitlines() if "->" in line]
    assert edges == [
        '0 -> 0 [label = "G/-0.5\\nN/-0.25"];',
        '0 -> 1 [label = "O/-1"];',
        '1 -> 2 [label = "-1/0"];',
    ]


def test_every_library_package_has_an_api_page():
    import pkgutil

    import icefall_lite

    toctree = (DOCS / "api.rst").read_text(encoding="utf-8")
    for module in pkgutil.iter_modules(icefall_lite.__path__):
        if not module.ispkg:
            continue
        page = DOCS / "api" / f"{module.name}.rst"
        assert page.is_file(), f"icefall_lite.{module.name} has no API page {page}"
        assert f".. package-api:: icefall_lite.{module.name}" in page.read_text(encoding="utf-8")
        assert f"api/{module.name}" in toctree
