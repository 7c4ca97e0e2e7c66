"""``pip install`` of the package gives working console scripts.

The package is built from a copy of its sources and installed with ``--no-deps`` into a fresh
virtual environment that sees the test environment's packages through a ``.pth`` file (so
nothing is downloaded, pip and setuptools included); every console script of pyproject.toml
must answer ``--help``, and the lang tools build a phone lang dir and its LG from a toy
dictionary, as a user would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
import tomllib
import torch
from lang_helpers import TOY_DICT, TOY_PHONE_TRANSCRIPT, build_phone_lang

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The ``bin`` directory of a fresh venv with the package installed (not editable)."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "icefall_lite", src / "icefall_lite",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)  # pip comes through the .pth
    bin_dir = env_dir / "bin"
    site = subprocess.run([bin_dir / "python", "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # the test environment's packages (torch, lhotse, kaldifst, ...) without copying them
    Path(site, "test_env_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    result = subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", str(src)],
        capture_output=True, text=True, env=_clean_env(), timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return bin_dir


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH: the installed copy, not the checkout, must answer."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / args[0]), *args[1:]], capture_output=True, text=True,
                          env=_clean_env(), cwd=cwd, timeout=120)


@pytest.mark.slow
def test_the_installed_package_is_imported_not_the_checkout(installed, tmp_path):
    out = subprocess.run([installed / "python", "-c", "import icefall_lite; "
                          "print(icefall_lite.__file__)"], capture_output=True, text=True,
                         env=_clean_env(), cwd=tmp_path, check=True).stdout
    assert Path(out.strip()).is_relative_to(installed.parent), out


@pytest.mark.slow
def test_every_console_script_answers_help(installed, tmp_path):
    for name in sorted(SCRIPTS):
        result = _run(installed, name, "--help", cwd=tmp_path)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert result.stdout.startswith("usage: ") and name in result.stdout.splitlines()[0]


@pytest.mark.slow
def test_lang_console_scripts_build_a_phone_lang_dir_and_lg(installed, tmp_path):
    lang = tmp_path / "lang"
    lang.mkdir()
    (lang / "toy.dic").write_text(TOY_DICT)
    (lang / "transcript.txt").write_text(TOY_PHONE_TRANSCRIPT)
    steps = [
        ("icefall-lite-prepare-lang", "--lang-dir", "lang", "--transcript",
         "lang/transcript.txt", "--lexicon", "lang/toy.dic"),
        ("icefall-lite-make-ngram", "--text", "lang/transcript.txt", "--order", "3", "--out",
         "lang/lm.arpa", "--words", "lang/words.txt"),
        ("icefall-lite-arpa-to-g", "--arpa", "lang/lm.arpa", "--words", "lang/words.txt",
         "--out", "lang/G_3_gram.fst.txt"),
        ("icefall-lite-compile-lg", "--lang-dir", "lang"),
    ]
    for step in steps:
        result = _run(installed, *step, cwd=tmp_path)
        assert result.returncode == 0, f"{step[0]}: {result.stderr}"
    # the dictionary's pronunciations, alternatives included; C is not in it
    lexicon = {tuple(line.split()) for line in (lang / "lexicon.txt").read_text().splitlines()}
    assert {("A", "AH"), ("A", "EY"), ("AB", "AH", "B"), ("B", "B", "IY"),
            ("BE", "B", "IY")} <= lexicon
    assert (lang / "oov.txt").read_text() == "lang/transcript.txt:4 C\n"
    assert "LG:" in result.stdout
    # the installed tools build what the checkout's code builds in-process
    reference = build_phone_lang(tmp_path / "reference")
    built, expected = torch.load(lang / "LG.pt"), torch.load(reference / "LG.pt")
    assert built.keys() == expected.keys()
    assert all(torch.equal(built[k], expected[k]) for k in built)


@pytest.mark.slow
def test_a_lang_tool_reports_bad_input_in_one_line(installed, tmp_path):
    result = _run(installed, "icefall-lite-compile-lg", "--lang-dir", "missing", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "missing" in result.stderr


def test_every_tool_module_of_the_package_has_a_console_script():
    targets = {v.split(":")[0] for v in SCRIPTS.values()}
    tools = {f"icefall_lite.lang.tools.{p.stem}" for p in
             (REPO / "icefall_lite" / "lang" / "tools").glob("*.py") if p.stem != "__init__"}
    assert tools <= targets
    assert sys.version_info >= (3, 11)  # tomllib: the main environment runs this file
