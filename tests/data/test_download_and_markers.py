"""Download directories: a missing one is an error unless a download is asked for, a failed
download leaves nothing behind, and prepare.sh's .done markers record their inputs (another
--dl-dir rebuilds instead of silently reusing the first corpus's manifests).

Downloads come from a server on a free localhost port serving archives built here.
"""

from __future__ import annotations

import http.server
import io
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile as sf
from data_helpers import GOOD_UTTERANCES, SHARED_DOWNLOAD, make_an4_corpus, yesno_link_farm
from lhotse import load_manifest

from icefall_lite.data.corpora import an4
from icefall_lite.data.download import download
from icefall_lite.data.fetch import DownloadError

REPO = Path(__file__).resolve().parents[2]
SHARED_YESNO = SHARED_DOWNLOAD / "waves_yesno"


def _an4_archive(tmp_path: Path) -> bytes:
    src = tmp_path / "archive_src"
    make_an4_corpus(src, GOOD_UTTERANCES[:2] + GOOD_UTTERANCES[-1:])
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(src / "an4", arcname="an4")
    shutil.rmtree(src)
    return buffer.getvalue()


@pytest.fixture
def server() -> Iterator[dict]:
    """``{"url": base, "files": {path: (body, declared length)}}``; a body shorter than its
    declared length is a download cut off half-way."""
    state: dict = {"files": {}}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path not in state["files"]:
                self.send_error(404)
                return
            body, length = state["files"][self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.timeout = 5
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    thread.join(timeout=10)
    httpd.server_close()


def test_missing_corpus_without_download_is_an_error_and_creates_nothing(tmp_path):
    dl_dir = tmp_path / "no_such_dir"
    with pytest.raises(FileNotFoundError, match=rf"--dl-dir {dl_dir} does not exist: .*"
                                                r"--download 1"):
        download("an4", dl_dir, allow_download=False)
    assert not dl_dir.exists()


@pytest.mark.parametrize("failure", ["cut off", "not found", "connection refused"])
def test_failed_download_leaves_nothing_behind(tmp_path, server, monkeypatch, failure):
    archive = _an4_archive(tmp_path)
    server["files"]["/an4.tar.gz"] = (archive[: len(archive) // 2], len(archive))
    url = {"cut off": f"{server['url']}/an4.tar.gz", "not found": f"{server['url']}/none",
           "connection refused": "http://127.0.0.1:9/an4.tar.gz"}[failure]
    monkeypatch.setattr(an4, "URL", url)
    dl_dir = tmp_path / "new_dl_dir"
    with pytest.raises(DownloadError, match=rf"could not download an4 into {dl_dir}"):
        download("an4", dl_dir)
    assert not dl_dir.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "other.txt").write_text("kept")
    with pytest.raises(DownloadError):
        download("an4", existing)
    assert sorted(p.name for p in existing.iterdir()) == ["other.txt"]


def test_complete_download_is_renamed_into_place(tmp_path, server, monkeypatch):
    archive = _an4_archive(tmp_path)
    server["files"]["/an4.tar.gz"] = (archive, len(archive))
    monkeypatch.setattr(an4, "URL", f"{server['url']}/an4.tar.gz")
    dl_dir = tmp_path / "dl"
    assert download("an4", dl_dir) == dl_dir / "an4"
    assert sorted(p.name for p in dl_dir.iterdir()) == ["an4"]  # no archive, no temp dir
    assert len((dl_dir / "an4" / "etc" / "an4_train.fileids").read_text().split()) == 2


def _recipe(tmp_path: Path) -> Path:
    recipe = tmp_path / "egs" / "yesno" / "ASR"
    recipe.mkdir(parents=True)
    shutil.copy(REPO / "egs" / "yesno" / "ASR" / "prepare.sh", recipe)
    shutil.copytree(REPO / "egs" / "shared", tmp_path / "egs" / "shared")
    return recipe


def _prepare(recipe: Path, *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(recipe / "prepare.sh"), *map(str, args)],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHON=sys.executable))


@pytest.mark.slow
def test_prepare_sh_with_a_missing_dl_dir_stops_before_any_stage(tmp_path):
    recipe = _recipe(tmp_path)
    missing = tmp_path / "typo"
    result = _prepare(recipe, "--dl-dir", missing, "--stop-stage", "3")
    assert result.returncode == 1
    assert f"ERROR: --dl-dir {missing} does not exist (stage 0 reads it)" in result.stderr
    assert "Stage 0" not in result.stderr and "Traceback" not in result.stderr
    assert not missing.exists() and not (recipe / "data").exists()
    # Stage 0 alone with a directory that lacks the corpus: an error naming --download.
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _prepare(recipe, "--dl-dir", empty, "--stop-stage", "0")
    assert result.returncode == 1
    assert f"--dl-dir {empty} holds no yesno corpus" in result.stderr
    assert "Traceback" not in result.stderr and list(empty.iterdir()) == []


@pytest.mark.slow
def test_prepare_sh_rebuilds_from_another_dl_dir_and_the_stages_after_it(tmp_path):
    recipe = _recipe(tmp_path)
    first = tmp_path / "first"
    yesno_link_farm(first)
    swapped = ("0_0_0_0_1_1_1_1.wav", "1_1_1_1_1_1_1_1.wav")  # both train, other lengths
    second = tmp_path / "second"
    yesno_link_farm(second, swap=swapped)
    manifest = recipe / "data" / "manifests" / "yesno_recordings_train.jsonl.gz"

    def num_samples() -> int:
        return {r.id: r.num_samples for r in load_manifest(manifest)}["0_0_0_0_1_1_1_1"]

    for stage in ("1", "3"):
        run = _prepare(recipe, "--dl-dir", first, "--stage", stage, "--stop-stage", stage)
        assert run.returncode == 0, run.stderr
    from_first = num_samples()

    run = _prepare(recipe, "--dl-dir", second, "--stage", "1", "--stop-stage", "1")
    assert run.returncode == 0, run.stderr
    assert "was made from other inputs: rebuilding" in run.stderr
    assert f"before: step=manifests; corpus=yesno; dl_dir={first}" in run.stderr
    assert f"now:    step=manifests; corpus=yesno; dl_dir={second}" in run.stderr
    # The oracle: the file the second directory has under that name.
    assert num_samples() == sf.info(str(SHARED_YESNO / swapped[1])).frames != from_first
    sources = {s.source for r in load_manifest(manifest) for s in r.sources}
    assert all(src.startswith(str(second)) for src in sources)

    # The transcripts were made from the first manifests: rebuilt too.
    run = _prepare(recipe, "--dl-dir", second, "--stage", "3", "--stop-stage", "3")
    assert run.returncode == 0 and "transcript_words.txt.done was made from other" in run.stderr
    # (Same inputs again skip: test_prepare_lib.py and test_yesno_and_recipes.py.)
