"""The .done-marker functions of egs/shared/prepare_lib.sh, run in bash on their own (no Python
steps): a marker holds the record of its step's inputs; the same record skips, another one
rebuilds, and so does the unfinished run of another record."""

from __future__ import annotations

import subprocess
from pathlib import Path

LIB = Path(__file__).resolve().parents[2] / "egs" / "shared" / "prepare_lib.sh"


def _bash(script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f"set -euo pipefail; . {LIB}; {script}"], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def _step(marker: str, record: str, finish: bool = True) -> str:
    """A step that prints "run changed=N" when it runs, and marks itself done when ``finish``."""
    done = f'mark_done {marker} "{record}"' if finish else ":"
    return (f'if ! is_done {marker} "{record}"; then echo "run changed=$inputs_changed"; {done};'
            ' fi; ')


def test_same_record_skips_another_rebuilds(tmp_path):
    result = _bash(_step("m/.x.done", "a=1") + _step("m/.x.done", "a=1")
                   + _step("m/.x.done", "a=2"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["run changed=0", "run changed=1"]
    assert "already done (m/.x.done, same inputs): skipping" in result.stderr
    assert "m/.x.done was made from other inputs: rebuilding" in result.stderr
    assert "before: a=1" in result.stderr and "now:    a=2" in result.stderr
    assert (tmp_path / "m" / ".x.done").read_text() == "a=2\n"
    assert not (tmp_path / "m" / ".x.done.inputs").exists()


def test_unfinished_run_of_other_inputs_counts_as_a_change(tmp_path):
    result = _bash(_step("m/.x.done", "a=1", finish=False) + _step("m/.x.done", "a=1", False)
                   + _step("m/.x.done", "a=2"), tmp_path)
    assert result.returncode == 0, result.stderr
    # Resuming the same inputs keeps what the unfinished run made; other inputs do not.
    assert result.stdout.splitlines() == ["run changed=0", "run changed=0", "run changed=1"]
    assert "an unfinished run (.x.done.inputs) started from other inputs" in result.stderr


def test_step_record_lists_values_and_file_checksums(tmp_path):
    (tmp_path / "in.txt").write_text("hello\n")
    result = _bash("step_record k=v 'opts=a b' -- in.txt nowhere.txt", tmp_path)
    assert result.stdout.splitlines() == [
        "k=v", "opts=a b",
        # sha256 of b"hello\n", as any sha256 tool gives it
        "file in.txt 5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
        "file nowhere.txt missing",
    ]
