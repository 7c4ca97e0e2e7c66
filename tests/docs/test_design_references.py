"""The repository explains itself: every ``docs/design/<page>.rst §N`` (or ``section N``) in the
code, tests, recipes and docs names an existing page and a section heading of it, and nothing
refers to design notes outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DESIGN = REPO / "docs" / "design"
SCANNED = ("icefall_lite", "egs", "lang", "tests", "docs", "tools", "bench")
SUFFIXES = {".py", ".rst", ".md", ".sh", ".txt", ".toml", ".cfg"}
SKIPPED_DIRS = {"_build", "generated", "__pycache__", "data", "download", "exp"}

# docs/design/zipformer.rst §10 | section 14 | sections 12-13 | §4, §5 | §1-2 | 14.1 | 11
REFERENCE = re.compile(
    r"docs/design/(?P<page>[\w-]+)\.rst(?:``)?"
    r"(?:\s+(?P<numbers>(?:§|sections?\s+)?\d+(?:\.\d+)?(?:\s*-\s*\d+)?"
    r"(?:\s*,\s*§?\d+(?:\.\d+)?)*))?"
)
HEADING = re.compile(r"^(?P<title>\S.*)\n(?P<line>[-=^~\"]+)$", re.M)


def _files() -> list[Path]:
    files = [REPO / "README.md", REPO / "Makefile", REPO / "pyproject.toml"]
    for top in SCANNED:
        for path in (REPO / top).rglob("*"):
            parts = set(path.relative_to(REPO).parts)
            if path.is_file() and path.suffix in SUFFIXES and not parts & SKIPPED_DIRS:
                files.append(path)
    return files


def section_numbers(page: Path) -> set[str]:
    """``{"1", "2", ..., "14.1"}``: the numbers that start the page's section headings."""
    numbers = set()
    for match in HEADING.finditer(page.read_text(encoding="utf-8")):
        if len(match["line"]) >= len(match["title"]):
            number = re.match(r"(\d+(?:\.\d+)?)[.\s]", match["title"])
            if number:
                numbers.add(number.group(1))
    return numbers


def cited_numbers(numbers: str) -> list[str]:
    """``"§12-13"`` -> ``["12", "13"]``; ``"§4, §5"`` -> ``["4", "5"]``; ``"14.1"`` -> itself."""
    cited = []
    for part in re.sub(r"§|sections?\s+", "", numbers).split(","):
        bounds = [b.strip() for b in part.split("-")]
        if len(bounds) == 2:
            cited += [str(n) for n in range(int(bounds[0]), int(bounds[1]) + 1)]
        else:
            cited.append(bounds[0])
    return cited


def _references() -> list[tuple[str, str, str | None]]:
    found = []
    for path in _files():
        for match in REFERENCE.finditer(path.read_text(encoding="utf-8", errors="replace")):
            found.append((str(path.relative_to(REPO)), match["page"], match["numbers"]))
    return found


def test_the_code_refers_to_the_design_pages():
    pages = {page for _, page, _ in _references()}
    assert {"algorithms", "zipformer"} <= pages


@pytest.mark.parametrize("page", ["algorithms", "zipformer"])
def test_design_pages_number_their_sections_as_the_code_cites_them(page):
    expected = {"algorithms": 8, "zipformer": 15}[page]
    numbers = section_numbers(DESIGN / f"{page}.rst")
    assert {str(n) for n in range(1, expected + 1)} <= numbers


def test_every_design_reference_names_a_page_and_section_that_exist():
    broken = []
    for where, page, numbers in _references():
        path = DESIGN / f"{page}.rst"
        if not path.is_file():
            broken.append(f"{where}: no page docs/design/{page}.rst")
            continue
        if numbers:
            missing = [n for n in cited_numbers(numbers) if n not in section_numbers(path)]
            if missing:
                broken.append(f"{where}: docs/design/{page}.rst has no section {missing}")
    assert broken == []


def test_reference_parsing_reads_every_form_the_code_uses():
    forms = {
        "docs/design/zipformer.rst §10": ["10"],
        "docs/design/zipformer.rst section 14": ["14"],
        "docs/design/zipformer.rst sections 12-13": ["12", "13"],
        "docs/design/algorithms.rst §4, §5": ["4", "5"],
        "``docs/design/algorithms.rst`` §1-2": ["1", "2"],
        "docs/design/zipformer.rst §14.1": ["14.1"],
        "docs/design/algorithms.rst\n§3": ["3"],
    }
    for text, numbers in forms.items():
        match = REFERENCE.search(text)
        assert match and cited_numbers(match["numbers"]) == numbers, text


def test_nothing_refers_to_design_notes_outside_the_repository():
    outside = ["shared/" + "design", *(name + ".md" for name in
                                       ("ALGORITHMS", "ZIPFORMER", "ARCHITECTURE", "STYLE"))]
    hits = [f"{p.relative_to(REPO)}: {name}" for p in _files()
            for name in outside if name in p.read_text(encoding="utf-8", errors="replace")]
    assert hits == []
