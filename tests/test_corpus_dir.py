"""The corpus location of the tests is one setting, ICEFALL_LITE_DL_DIR: where a corpus is
missing the test fails (never skips) and the message names the setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from corpus_setting import DL_DIR_VAR, download_dir, find_corpus

REPO = Path(__file__).resolve().parents[1]


def test_the_setting_moves_the_download_directory(tmp_path, monkeypatch):
    (tmp_path / "waves_yesno").mkdir()
    monkeypatch.setenv(DL_DIR_VAR, str(tmp_path))
    assert download_dir() == tmp_path.resolve()
    assert find_corpus("waves_yesno") == tmp_path.resolve() / "waves_yesno"


def test_a_missing_corpus_fails_with_the_setting_named(tmp_path, monkeypatch):
    monkeypatch.setenv(DL_DIR_VAR, str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=f"an4.*not found.*Set {DL_DIR_VAR}"):
        find_corpus("an4")


def test_a_corpus_test_fails_rather_than_skips_where_the_corpus_is_absent(tmp_path):
    env = dict(os.environ, **{DL_DIR_VAR: str(tmp_path / "nowhere")})
    test = "tests/data/test_an4.py::test_real_transcripts_have_the_documented_utterance_counts"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 error" in result.stdout or "1 failed" in result.stdout
    assert "skipped" not in result.stdout
    assert DL_DIR_VAR in result.stdout
