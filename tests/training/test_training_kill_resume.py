"""SIGKILL at random moments of a short training run, several times, each followed by a resume:
inside checkpoint writes (half written, or written but not yet renamed), inside the copy to
best-train-loss.pt, and at a random batch. After every kill each final-named .pt file loads
(none is truncated), and the resumed run loses only the batches since the last checkpoint.

Oracle: an uninterrupted run of the same configuration (its per-batch losses and final model).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from training_helpers import RECIPE_KWARGS, TINY_DEFAULTS, make_args, read_losses

from icefall_lite.training.checkpoint import read_checkpoint
from icefall_lite.training.train import TrainingRecipe, run

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
BATCHES = 16  # TINY_DEFAULTS: 2 epochs of 8 batches, checkpoint-B.pt every 3, epoch-N.pt at 8, 16
SLEEP = 3.0


def _flat(losses: list[tuple[float, float]]) -> list[float]:
    return [v for pair in losses for v in pair]


def _final_files(exp: Path) -> list[Path]:
    return sorted(p for p in exp.glob("*.pt") if not p.name.startswith("."))


def _check_and_pick_resume(exp: Path) -> tuple[int, list[str]]:
    """Load every final-named .pt (a truncated one would raise); return the newest batch count
    and the resume flags for it."""
    newest, flags = 0, []
    for path in _final_files(exp):
        checkpoint = read_checkpoint(path)
        assert checkpoint["model"], path
        b = checkpoint["batch_idx_train"]
        if path.name.startswith("epoch-") and b >= newest:
            newest, flags = b, ["--start-epoch", str(int(path.stem.split("-")[1]) + 1)]
        elif path.name.startswith("checkpoint-") and b > newest:
            newest, flags = b, ["--start-batch", str(b)]
    return newest, flags


def _segment(exp: Path, tmp: Path, index: int, resume: list[str], target: str | None,
             phase: str | None, kill_at: int | None) -> tuple[list, str, int]:
    """Run killable_recipe.py; SIGKILL it at ``phase`` of writing ``target`` (or let
    STANDIN_KILL_AT kill it at a batch). Returns (losses, stderr, return code)."""
    events, losses = tmp / f"events-{index}.txt", tmp / f"losses-{index}.txt"
    env = {**os.environ, "KILL_EVENTS": str(events), "KILL_SLEEP": str(SLEEP),
           "STANDIN_LOSS_LOG": str(losses), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    env.pop("STANDIN_KILL_AT", None)
    if target:
        env["KILL_TARGET"] = target
    if kill_at:
        env["STANDIN_KILL_AT"] = str(kill_at)
    proc = subprocess.Popen([sys.executable, str(HERE / "killable_recipe.py"), "--exp-dir",
                             str(exp), *resume], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while target and proc.poll() is None and time.monotonic() < deadline:
        if events.exists() and f"{phase} {target}" in events.read_text().splitlines():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    _, stderr = proc.communicate(timeout=60)
    return read_losses(losses), stderr, proc.returncode


def test_sigkill_during_writes_and_batches_then_resume_loses_only_uncheckpointed_batches(
        tmp_path, monkeypatch):
    reference_losses = tmp_path / "reference.txt"
    monkeypatch.setenv("STANDIN_LOSS_LOG", str(reference_losses))
    reference = tmp_path / "reference"
    run(0, 1, make_args(reference), TrainingRecipe(**RECIPE_KWARGS, show_progress=False))
    full = read_losses(reference_losses)
    assert len(full) == BATCHES

    rng = random.Random(2024)
    # (file to kill inside, or None for a kill at a random batch of the segment)
    plan = [("checkpoint-6.pt", rng.choice(["half", "full"])),
            ("best-train-loss.pt", rng.choice(["half", "full"])),
            (None, None)]
    exp = tmp_path / "exp"
    start, resume, kept = 0, [], []
    for index, (target, phase) in enumerate([*plan, (None, "finish")]):
        kill_at = rng.randint(1, 4) if phase is None else None
        losses, stderr, code = _segment(exp, tmp_path, index, resume, target, phase, kill_at)
        if index > 0:  # the previous run was killed holding the exp-dir lock
            assert "no longer running: taking it over" in stderr, stderr[-2000:]
        if phase == "finish":
            assert code == 0, stderr[-3000:]
            kept += losses
            break
        assert code == -signal.SIGKILL, stderr[-3000:]
        if target:
            assert not (exp / target).exists() or target.startswith("best-")
        newest, resume = _check_and_pick_resume(exp)
        # every batch this run trained up to its newest durable checkpoint is kept; only those
        # after it are lost, and they match the uninterrupted run's
        assert _flat(losses[: newest - start]) == pytest.approx(_flat(full[start:newest]),
                                                                abs=1e-6, rel=0)
        lost = len(losses) - (newest - start)
        assert 0 <= lost <= TINY_DEFAULTS["save_every_n"] + 1, (index, lost)
        kept += losses[: newest - start]
        start = newest
    assert _flat(kept) == pytest.approx(_flat(full), abs=1e-6, rel=0)
    final, expected = read_checkpoint(exp / "epoch-2.pt"), read_checkpoint(reference /
                                                                           "epoch-2.pt")
    for key, value in expected["model"].items():
        torch.testing.assert_close(final["model"][key], value, rtol=0, atol=1e-6)
    assert not list(exp.glob(".*.tmp"))  # the last run removed what the killed writes left
