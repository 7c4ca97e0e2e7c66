"""No checkpoint runs code when loaded: a checkpoint whose pickle would write a marker file is
refused, with a message naming it, by every loader of training/checkpoint.py and by resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from training_helpers import RECIPE_KWARGS, make_args
from untrusted import assert_payload_is_live, save_with_payload

from icefall_lite.training.checkpoint import (
    average_checkpoints,
    average_checkpoints_with_averaged_model,
    load_checkpoint,
    load_model_for_decoding,
    read_checkpoint,
    save_checkpoint,
)
from icefall_lite.training.safe_load import UnsafeFileError, plain
from icefall_lite.training.train import TrainingRecipe, run


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4))


@pytest.fixture
def evil_exp(tmp_path):
    """exp/epoch-1.pt (clean) and exp/epoch-2.pt carrying a payload that writes MARKER."""
    exp, marker = tmp_path / "exp", tmp_path / "MARKER"
    model = _model()
    save_checkpoint(exp / "epoch-1.pt", model, model_avg=model.double(),
                    extra={"batch_idx_train": 4})
    state = {"model": _model().state_dict(), "model_avg": _model().double().state_dict(),
             "batch_idx_train": 8}
    save_with_payload(state, exp / "epoch-2.pt", marker)
    assert_payload_is_live(exp / "epoch-2.pt", marker, tmp_path)
    return exp, marker


def _refused(call, path, marker):
    with pytest.raises(UnsafeFileError, match=rf"{path.name} was not loaded.*could run code"):
        call()
    assert not marker.exists()


def test_every_checkpoint_loader_refuses_a_payload_and_runs_none_of_it(evil_exp):
    exp, marker = evil_exp
    evil = exp / "epoch-2.pt"
    _refused(lambda: read_checkpoint(evil), evil, marker)
    _refused(lambda: load_checkpoint(evil, _model()), evil, marker)
    _refused(lambda: average_checkpoints([exp / "epoch-1.pt", evil]), evil, marker)
    _refused(lambda: average_checkpoints_with_averaged_model(exp / "epoch-1.pt", evil),
             evil, marker)
    for averaged in (False, True):
        _refused(lambda a=averaged: load_model_for_decoding(_model(), exp, 2, 2, a), evil,
                 marker)


def test_resume_from_a_checkpoint_with_a_payload_is_refused(evil_exp):
    exp, marker = evil_exp
    recipe = TrainingRecipe(**RECIPE_KWARGS, show_progress=False)
    _refused(lambda: run(0, 1, make_args(exp, "--start-epoch", "3"), recipe),
             exp / "epoch-2.pt", marker)


def test_a_truncated_checkpoint_is_a_clear_error(tmp_path):
    save_checkpoint(tmp_path / "epoch-1.pt", _model())
    data = (tmp_path / "epoch-1.pt").read_bytes()
    (tmp_path / "epoch-1.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cannot read checkpoint .*epoch-1.pt \(truncated"):
        read_checkpoint(tmp_path / "epoch-1.pt")


def test_checkpoint_entries_are_stored_in_plain_form(tmp_path):
    from pathlib import Path

    save_checkpoint(tmp_path / "c.pt", _model(),
                    extra={"params": {"exp_dir": Path("exp"), "bins": (1, 2)}})
    # weights_only=True is the oracle: it builds nothing but tensors and plain containers.
    loaded = torch.load(tmp_path / "c.pt", weights_only=True)
    assert loaded["params"] == {"exp_dir": "exp", "bins": (1, 2)}
    with pytest.raises(TypeError, match=r"params.fn: builtin_function_or_method cannot be saved"):
        plain({"fn": print}, "params")
