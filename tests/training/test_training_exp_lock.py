"""One training run per --exp-dir (a second stops with a clear message, a dead run's lock is taken
over) and one log file per run."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from datetime import datetime

import pytest
from training_helpers import RECIPE_KWARGS, make_args

from icefall_lite.training.exp_lock import ExpDirLockedError
from icefall_lite.training.train import TrainingRecipe, run
from icefall_lite.utils import logging as log_setup

RECIPE = TrainingRecipe(**RECIPE_KWARGS, show_progress=False)
HOLD_LOCK = ("import sys, time; from icefall_lite.training.exp_lock import ExpDirLock; "
             "lock = ExpDirLock(sys.argv[1]); lock.acquire(); print('locked', flush=True); "
             "time.sleep(60)")


def _holder(exp_dir) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(exp_dir)],
                            stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_into_a_busy_exp_dir_stops_with_a_clear_message(tmp_path):
    exp = tmp_path / "exp"
    holder = _holder(exp)
    try:
        with pytest.raises(ExpDirLockedError,
                           match=rf"--exp-dir {exp} is in use by a running train.py "
                                 rf"\(pid {holder.pid} on .*another --exp-dir"):
            run(0, 1, make_args(exp, "--num-epochs", "1"), RECIPE)
        assert not (exp / "log").exists()  # the refused run wrote nothing
        assert not list(exp.glob("*.pt"))
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path, caplog):
    exp = tmp_path / "exp"
    holder = _holder(exp)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    caplog.set_level(logging.WARNING)
    run(0, 1, make_args(exp, "--num-epochs", "1"), RECIPE)
    assert f"left by pid {holder.pid} on" in caplog.text and "taking it over" in caplog.text
    assert (exp / "epoch-1.pt").is_file()
    assert (exp / "train.lock").read_text() == ""  # released by the run that finished


def test_runs_started_in_the_same_second_get_their_own_log_files(tmp_path, monkeypatch):
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 2, 3, 4, 5)

    monkeypatch.setattr(log_setup, "datetime", Frozen)
    first = log_setup.setup_logger(tmp_path / "log" / "log-train", 0, 1)
    logging.getLogger("first").info("from the first run")
    first.close()
    second = log_setup.setup_logger(tmp_path / "log" / "log-train", 0, 1)
    logging.getLogger("second").info("from the second run")
    second.close()
    assert first.path.name == "log-train-2026-01-02-03-04-05"
    assert second.path.name == "log-train-2026-01-02-03-04-05.1"
    assert "second run" not in first.path.read_text()
    assert "first run" not in second.path.read_text()
