"""End-to-end runs of the training entry point with the stand-in model (see training_helpers).

The oracle is always an uninterrupted run of the same configuration.
"""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from training_helpers import (
    RECIPE_KWARGS,
    TINY_DEFAULTS,
    build_lhotse_datamodule,
    make_args,
    make_batch,
    read_losses,
)

from icefall_lite.training.checkpoint import find_checkpoints
from icefall_lite.training.train import TrainingRecipe, main, resource_summary, run

RECIPE = TrainingRecipe(**RECIPE_KWARGS, show_progress=False)
HERE = Path(__file__).resolve().parent


def _flat(losses):
    return [v for pair in losses for v in pair]


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _assert_same_state(a: dict, b: dict, atol: float = 1e-6) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=atol, msg=key)


def _uninterrupted(tmp_path: Path, monkeypatch, name: str, *argv: str):
    log = tmp_path / f"{name}.txt"
    monkeypatch.setenv("STANDIN_LOSS_LOG", str(log))
    exp = tmp_path / name
    run(0, 1, make_args(exp, *argv), RECIPE)
    return exp, read_losses(log)


def test_resume_from_checkpoint_or_epoch_reproduces_uninterrupted_losses(tmp_path, monkeypatch):
    exp, full = _uninterrupted(tmp_path, monkeypatch, "exp")
    assert len(full) == 16  # 2 epochs of 8 batches
    # --keep-last-k 3 with --save-every-n 3: of checkpoints 3, 6, 9, 12, 15 the newest 3 remain.
    assert sorted(p.name for p in find_checkpoints(exp)) == [
        "checkpoint-12.pt", "checkpoint-15.pt", "checkpoint-9.pt"]
    assert list((exp / "log").glob("log-train-*"))
    final = _load(exp / "epoch-2.pt")

    # Resume in the middle of epoch 2 (batch 12 is its 4th batch).
    log = tmp_path / "resumed.txt"
    monkeypatch.setenv("STANDIN_LOSS_LOG", str(log))
    run(0, 1, make_args(exp, "--start-batch", "12"), RECIPE)
    assert _flat(read_losses(log)) == pytest.approx(_flat(full[12:]), abs=1e-6, rel=0)
    resumed = _load(exp / "epoch-2.pt")
    _assert_same_state(resumed["model"], final["model"])
    _assert_same_state(resumed["model_avg"], final["model_avg"])
    assert resumed["batch_idx_train"] == 16

    # Resume at an epoch boundary.
    log.unlink()
    run(0, 1, make_args(exp, "--start-epoch", "2"), RECIPE)
    assert _flat(read_losses(log)) == pytest.approx(_flat(full[8:]), abs=1e-6, rel=0)
    _assert_same_state(_load(exp / "epoch-2.pt")["model"], final["model"])


def test_killed_run_restarted_with_start_batch_loses_only_batches_since_checkpoint(
    tmp_path, monkeypatch
):
    _, full = _uninterrupted(tmp_path, monkeypatch, "reference", "--save-every-n", "5")
    exp = tmp_path / "killed"
    killed_log = tmp_path / "killed.txt"
    env = {**os.environ, "STANDIN_KILL_AT": "14", "STANDIN_LOSS_LOG": str(killed_log),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(HERE / "tiny_recipe.py"), "--exp-dir", str(exp),
         "--save-every-n", "5"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    killed = read_losses(killed_log)
    assert len(killed) == 13  # SIGKILL came during the 14th batch
    assert find_checkpoints(exp)[0].name == "checkpoint-10.pt"

    restart_log = tmp_path / "restart.txt"
    monkeypatch.setenv("STANDIN_LOSS_LOG", str(restart_log))
    main(TINY_DEFAULTS, argv=["--exp-dir", str(exp), "--save-every-n", "5", "--start-batch", "10"],
         **RECIPE_KWARGS)
    restarted = read_losses(restart_log)
    # Only the batches after the last checkpoint (11..13) are trained again, identically.
    assert len(restarted) == 16 - 10
    assert _flat(restarted[:3]) == pytest.approx(_flat(killed[10:13]), abs=1e-6, rel=0)
    assert _flat(killed + restarted[3:]) == pytest.approx(_flat(full), abs=1e-6, rel=0)
    _assert_same_state(_load(exp / "epoch-2.pt")["model"],
                       _load(tmp_path / "reference" / "epoch-2.pt")["model"])


def test_nan_batch_skipped_and_short_utterances_dropped_with_warnings(tmp_path, monkeypatch,
                                                                      caplog):
    monkeypatch.setenv("STANDIN_NAN_BATCH", "3")  # the batch with seed 3 of epoch 1
    monkeypatch.setenv("STANDIN_SHORT_BATCH", "5")
    caplog.set_level(logging.WARNING)
    exp, losses = _uninterrupted(tmp_path, monkeypatch, "exp", "--num-epochs", "1",
                                 "--tensorboard", "1")
    assert "loss is nan" in caplog.text
    for i in range(3):
        assert f"nan-cut-3-{i}" in caplog.text
    assert "cut-5-1 (2 frames < 5 tokens)" in caplog.text
    assert sum(math.isnan(simple) for simple, _ in losses) == 1  # only the poisoned batch
    # Had the NaN batch reached the optimizer, every parameter would now be NaN.
    checkpoint = _load(exp / "epoch-1.pt")
    assert all(torch.isfinite(v).all() for v in checkpoint["model"].values())
    # The final count: one batch, its 3 cuts and their frames (from the batch itself).
    frames = int(make_batch(3)["supervisions"]["num_frames"].sum())
    assert f"Skipped 1 batches (3 cuts, {frames} frames) whose loss was not finite" in caplog.text
    assert (checkpoint["skipped_batches"], checkpoint["skipped_cuts"],
            checkpoint["skipped_frames"]) == (1, 3, frames)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = (exp / "tensorboard").glob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    for name, value in (("batches", 1), ("cuts", 3), ("frames", frames)):
        assert [e.value for e in accumulator.Scalars(f"train/skipped_{name}")] == [value]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_process_gloo_ddp_run_keeps_replicas_in_sync(tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_DUMP_DIR", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    exp = tmp_path / "exp"
    main(TINY_DEFAULTS, argv=["--world-size", "2", "--master-port", str(_free_port()),
                              "--exp-dir", str(exp), "--num-epochs", "1"], **RECIPE_KWARGS)
    # Parameters seen by each rank before its last forward (after 3 synchronized steps).
    rank0, rank1 = _load(tmp_path / "rank-0.pt"), _load(tmp_path / "rank-1.pt")
    _assert_same_state(rank0, rank1, atol=0)
    checkpoint = _load(exp / "epoch-1.pt")
    assert checkpoint["batch_idx_train"] == 4  # 8 batches shared by 2 ranks
    assert len(checkpoint["rng_states"]) == 2
    assert not torch.equal(checkpoint["model"]["proj.weight"], rank0["proj.weight"])
    logs = sorted(p.name[-4:] for p in (exp / "log").glob("log-train-*"))
    assert logs == ["-2-0", "-2-1"]


def test_resume_without_sampler_state_passes_over_trained_batches(tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_PLAIN_SAMPLER", "1")
    exp, full = _uninterrupted(tmp_path, monkeypatch, "exp")
    assert _load(exp / "checkpoint-12.pt")["sampler"] is None
    log = tmp_path / "resumed.txt"
    monkeypatch.setenv("STANDIN_LOSS_LOG", str(log))
    run(0, 1, make_args(exp, "--start-batch", "12"), RECIPE)
    assert _flat(read_losses(log)) == pytest.approx(_flat(full[12:]), abs=1e-6, rel=0)


def test_print_diag_logs_statistics_and_stops_after_five_batches(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    exp, losses = _uninterrupted(tmp_path, monkeypatch, "exp", "--print-diag", "1",
                                 "--use-fp16", "1")
    assert len(losses) == 5
    assert "diag proj.weight (5, 6): value rms" in caplog.text
    assert "--use-fp16 needs CUDA" in caplog.text
    assert not (exp / "epoch-1.pt").exists()


def test_torchrun_environment_joins_through_env_rendezvous(tmp_path, monkeypatch):
    import torch.distributed as dist

    seen = []
    monkeypatch.setattr(dist, "init_process_group",
                        lambda *a, **kw: seen.append(kw) or real_init(*a, **kw))
    real_init = dist.distributed_c10d.init_process_group
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0",
                       "MASTER_ADDR": "localhost", "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(key, value)
    exp = tmp_path / "exp"
    # --world-size 4 is ignored: torchrun's WORLD_SIZE decides.
    main(TINY_DEFAULTS, argv=["--exp-dir", str(exp), "--num-epochs", "1", "--world-size", "4"],
         **RECIPE_KWARGS)
    assert seen == [{"rank": 0, "world_size": 1}]
    assert not dist.is_initialized()  # cleaned up
    assert _load(exp / "epoch-1.pt")["params"]["world_size"] == 1


def test_resume_behind_prefetching_lhotse_dataloader_reproduces_losses(tmp_path, monkeypatch):
    # Two DataLoader workers make the sampler run ahead of the loop; the checkpoint must record
    # the sampler position of the last *trained* batch.
    recipe = TrainingRecipe(**{**RECIPE_KWARGS, "build_datamodule": build_lhotse_datamodule},
                            show_progress=False)
    log = tmp_path / "full.txt"
    monkeypatch.setenv("STANDIN_LOSS_LOG", str(log))
    exp = tmp_path / "exp"
    state = run(0, 1, make_args(exp, "--keep-last-k", "0"), recipe)
    full = read_losses(log)
    assert len(full) == state.batch_idx_train
    checkpoints = [_load(p) for p in find_checkpoints(exp)]
    mid_epoch = [c for c in checkpoints
                 if c["cur_epoch"] == 2 and 0 < c["batches_in_epoch"] < len(full) // 2]
    assert mid_epoch, "no checkpoint in the middle of epoch 2"
    start = mid_epoch[0]["batch_idx_train"]
    log = tmp_path / "resumed.txt"
    monkeypatch.setenv("STANDIN_LOSS_LOG", str(log))
    run(0, 1, make_args(exp, "--start-batch", str(start)), recipe)
    assert _flat(read_losses(log)) == pytest.approx(_flat(full[start:]), abs=1e-6, rel=0)


def test_bad_options_and_missing_resume_checkpoint_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="--save-every-n must be >= 1"):
        main(TINY_DEFAULTS, argv=["--exp-dir", str(tmp_path), "--save-every-n", "0"],
             **RECIPE_KWARGS)
    with pytest.raises(ValueError, match="--start-epoch 5 is after --num-epochs 2"):
        main(TINY_DEFAULTS, argv=["--exp-dir", str(tmp_path), "--start-epoch", "5"],
             **RECIPE_KWARGS)
    with pytest.raises(FileNotFoundError, match="checkpoint-99.pt"):
        main(TINY_DEFAULTS, argv=["--exp-dir", str(tmp_path), "--start-batch", "99"],
             **RECIPE_KWARGS)


def test_resource_summary_counts_wall_own_cpu_and_finished_children():
    def cpu_of(summary):
        own = re.search(r"CPU ([0-9.]+) s \(user", summary).group(1)
        kids = re.search(r", ([0-9.]+) s in finished child processes", summary).group(1)
        return float(own), float(kids)

    start = time.monotonic()
    own0, kids0 = cpu_of(resource_summary(start))
    burn_until = time.process_time() + 0.5
    while time.process_time() < burn_until:
        pass
    subprocess.run([sys.executable, "-c",
                    "import time\nt = time.process_time() + 0.5\n"
                    "while time.process_time() < t: pass"], check=True)
    time.sleep(0.2)
    summary = resource_summary(start)
    own1, kids1 = cpu_of(summary)
    wall = float(re.match(r"wall ([0-9.]+) s", summary).group(1))
    # 0.5 s burned in each; the summary rounds to 0.1 s
    assert own1 - own0 >= 0.35
    assert kids1 - kids0 >= 0.35
    assert wall >= 0.2 + 0.5 + 0.5 - 0.1
