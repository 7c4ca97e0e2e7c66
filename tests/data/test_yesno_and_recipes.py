"""yesno through lhotse with the real download directory, and the prepare.sh machinery.

The download directory must come out unchanged: same files, sizes, modes and mtimes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from data_helpers import snapshot
from lhotse import load_manifest

from icefall_lite.data.download import download
from icefall_lite.data.prepare_manifests import prepare_manifests

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def yesno_dl_dir(corpus_dir) -> Path:
    """The download directory that holds waves_yesno (read-only)."""
    return corpus_dir("waves_yesno").parent


def test_yesno_download_and_manifests_leave_the_download_directory_untouched(tmp_path,
                                                                           yesno_dl_dir):
    before = snapshot(yesno_dl_dir)
    assert download("yesno", yesno_dl_dir) == yesno_dl_dir / "waves_yesno"
    paths = prepare_manifests("yesno", yesno_dl_dir, tmp_path / "manifests")
    assert snapshot(yesno_dl_dir) == before
    supervisions = {s.id: s.text for s in load_manifest(paths["train"][1])}
    assert len(supervisions) == 30 and len(load_manifest(paths["test"][1])) == 30
    # The label is in the file name: 0 = NO, 1 = YES.
    for utt_id, text in supervisions.items():
        assert text.split() == ["YES" if b == "1" else "NO" for b in utt_id.split("_")]
    assert {r.sampling_rate for r in load_manifest(paths["train"][0])} == {8000}


def _recipe_copy(tmp_path: Path) -> Path:
    """The yesno recipe and the shared shell helpers, laid out as in the repository."""
    recipe = tmp_path / "egs" / "yesno" / "ASR"
    recipe.mkdir(parents=True)
    shutil.copy(REPO / "egs" / "yesno" / "ASR" / "prepare.sh", recipe)
    shutil.copytree(REPO / "egs" / "shared", tmp_path / "egs" / "shared")
    return recipe


def _run(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable)
    return subprocess.run(["bash", str(recipe / "prepare.sh"), *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_prepare_sh_stages_run_once_then_are_a_no_op_and_never_write_to_dl_dir(tmp_path,
                                                                             yesno_dl_dir):
    recipe = _recipe_copy(tmp_path)
    data = recipe / "data"
    dl_dir = str(yesno_dl_dir)
    before = snapshot(yesno_dl_dir)

    manifests_only = _run(recipe, "--dl-dir", dl_dir, "--stop-stage", "1")
    assert manifests_only.returncode == 0, manifests_only.stderr
    assert "Stage 1" in manifests_only.stderr and "Stage 2" not in manifests_only.stderr
    assert (data / "manifests" / "yesno_supervisions_train.jsonl.gz").is_file()
    assert not (data / "fbank").exists()
    assert "(prepare.sh:" in manifests_only.stderr  # log lines carry the recipe's file:line

    rest = _run(recipe, "--dl-dir", dl_dir, "--stage", "2", "--stop-stage", "3")
    assert rest.returncode == 0, rest.stderr
    assert "Stage 1" not in rest.stderr
    assert len((data / "local" / "transcript_words.txt").read_text().splitlines()) == 30
    assert (data / "fbank" / "yesno_cuts_test.jsonl.gz").is_file()
    outputs = snapshot(data)

    again = _run(recipe, "--dl-dir", dl_dir, "--stage", "1", "--stop-stage", "3")
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("already done") == 3
    assert snapshot(data) == outputs
    assert snapshot(yesno_dl_dir) == before


def test_prepare_sh_rejects_unknown_options_and_prints_help(tmp_path):
    recipe = _recipe_copy(tmp_path)
    bad = _run(recipe, "--no-such-option", "1")
    assert bad.returncode != 0
    assert "unknown option --no-such-option" in bad.stderr
    usage = _run(recipe, "--help")
    assert usage.returncode == 0
    assert "--dl-dir" in usage.stdout and "--stop-stage 100" in usage.stdout
