"""Checkpoint files, averaging and decode-time loading, against explicit means of snapshots."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from icefall_lite.training.averaging import update_averaged_model
from icefall_lite.training.checkpoint import (
    average_checkpoints,
    average_checkpoints_with_averaged_model,
    find_checkpoints,
    load_checkpoint,
    load_model_for_decoding,
    remove_checkpoints,
    save_checkpoint,
)


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def _randomize(model: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        model[1].running_mean.copy_(torch.randn(4, generator=g))


def test_averaging_two_checkpoints_gives_the_parameter_mean(tmp_path):
    a, b = _model(), _model()
    _randomize(a, 1)
    _randomize(b, 2)
    save_checkpoint(tmp_path / "epoch-1.pt", a)
    save_checkpoint(tmp_path / "epoch-2.pt", b)
    avg = average_checkpoints([tmp_path / "epoch-1.pt", tmp_path / "epoch-2.pt"])
    for key in ("0.weight", "0.bias", "1.weight", "1.running_mean"):
        expected = (a.state_dict()[key] + b.state_dict()[key]) / 2
        torch.testing.assert_close(avg[key], expected, rtol=0, atol=1e-7)

    decoded = load_model_for_decoding(_model(), tmp_path, epoch=2, avg=2, use_averaged_model=False)
    torch.testing.assert_close(decoded[0].weight, (a[0].weight + b[0].weight) / 2)
    assert not decoded.training


def _train_with_running_average(tmp_path, period, save_at, checkpoint_names=False):
    """Random "training": a new model at every batch; returns the snapshots at the averaging
    batches and writes epoch-k.pt at the batches in ``save_at``."""
    model = _model()
    _randomize(model, 0)
    model_avg = copy.deepcopy(model).to(torch.float64)
    snapshots = {}
    for b in range(1, max(save_at) + 1):
        _randomize(model, b)
        if b % period == 0:
            update_averaged_model(model_avg, model, b, period)
            snapshots[b] = {k: v.double().clone() for k, v in model.state_dict().items()}
        if b in save_at:
            name = f"checkpoint-{b}.pt" if checkpoint_names else f"epoch-{save_at.index(b) + 1}.pt"
            save_checkpoint(tmp_path / name, model, model_avg=model_avg,
                            extra={"batch_idx_train": b, "average_period": period})
    return model_avg, snapshots


def test_running_average_is_the_mean_of_the_snapshots(tmp_path):
    model_avg, snapshots = _train_with_running_average(tmp_path, period=2, save_at=[12])
    for key, value in model_avg.state_dict().items():
        if value.is_floating_point():
            expected = sum(s[key] for s in snapshots.values()) / len(snapshots)
            torch.testing.assert_close(value, expected, rtol=1e-12, atol=1e-12)
    assert model_avg.state_dict()["0.weight"].dtype == torch.float64


def test_averaged_model_between_checkpoints_is_the_mean_over_that_range(tmp_path):
    # epoch-1.pt at batch 7: the running average was last updated at batch 6, so the range
    # (6, 12] holds the snapshots of batches 8, 10 and 12.
    _, snapshots = _train_with_running_average(tmp_path, period=2, save_at=[7, 12])
    state = average_checkpoints_with_averaged_model(
        tmp_path / "epoch-1.pt", tmp_path / "epoch-2.pt"
    )
    expected = sum(snapshots[b]["0.weight"] for b in (8, 10, 12)) / 3
    torch.testing.assert_close(state["0.weight"], expected, rtol=1e-10, atol=1e-10)

    decoded = load_model_for_decoding(_model(), tmp_path, epoch=2, avg=1, use_averaged_model=True)
    torch.testing.assert_close(decoded[0].weight, expected.float())
    assert decoded[0].weight.dtype == torch.float32

    # avg == epoch: the range starts at batch 0, i.e. the full running average of epoch-2.pt.
    full = load_model_for_decoding(_model(), tmp_path, epoch=2, avg=2, use_averaged_model=True)
    all_mean = sum(s["0.weight"] for s in snapshots.values()) / len(snapshots)
    torch.testing.assert_close(full[0].weight, all_mean.float())


def test_decoding_with_iter_uses_the_newest_checkpoints_up_to_it(tmp_path):
    _, snapshots = _train_with_running_average(tmp_path, period=2, save_at=[4, 7, 12, 14],
                                               checkpoint_names=True)
    # --iter 12 --avg 1 --use-averaged-model: between checkpoint-7 (avg at 6) and checkpoint-12.
    decoded = load_model_for_decoding(_model(), tmp_path, epoch=0, avg=1,
                                      use_averaged_model=True, iter=12)
    expected = sum(snapshots[b]["0.weight"] for b in (8, 10, 12)) / 3
    torch.testing.assert_close(decoded[0].weight, expected.float())
    # --iter 12 --avg 2: the mean of the models in checkpoint-12 and checkpoint-7.
    decoded = load_model_for_decoding(_model(), tmp_path, epoch=0, avg=2,
                                      use_averaged_model=False, iter=12)
    models = [torch.load(tmp_path / f"checkpoint-{b}.pt")["model"]["0.weight"] for b in (7, 12)]
    torch.testing.assert_close(decoded[0].weight, (models[0] + models[1]) / 2)


def test_missing_checkpoint_error_names_the_file(tmp_path):
    save_checkpoint(tmp_path / "epoch-3.pt", _model())
    with pytest.raises(FileNotFoundError, match="epoch-2.pt"):
        load_model_for_decoding(_model(), tmp_path, epoch=3, avg=2, use_averaged_model=False)
    with pytest.raises(FileNotFoundError, match="epoch-7.pt"):
        load_checkpoint(tmp_path / "epoch-7.pt", _model())
    with pytest.raises(FileNotFoundError, match="checkpoint-B.pt files with B <= 50"):
        load_model_for_decoding(_model(), tmp_path, epoch=0, avg=2, use_averaged_model=True,
                                iter=50)


def test_keep_last_k_and_find_checkpoints_order(tmp_path):
    model = _model()
    for b in (30, 5, 10, 20, 40):
        save_checkpoint(tmp_path / f"checkpoint-{b}.pt", model)
    assert [p.name for p in find_checkpoints(tmp_path)] == [
        "checkpoint-40.pt", "checkpoint-30.pt", "checkpoint-20.pt", "checkpoint-10.pt",
        "checkpoint-5.pt"]
    assert [p.name for p in find_checkpoints(tmp_path, iteration=-20)] == [
        "checkpoint-20.pt", "checkpoint-10.pt", "checkpoint-5.pt"]
    assert [p.name for p in find_checkpoints(tmp_path, iteration=30)] == [
        "checkpoint-40.pt", "checkpoint-30.pt"]
    assert remove_checkpoints(tmp_path, keep_last_k=2, rank=1) == []  # only rank 0 deletes
    removed = remove_checkpoints(tmp_path, keep_last_k=2)
    assert sorted(p.name for p in removed) == ["checkpoint-10.pt", "checkpoint-20.pt",
                                               "checkpoint-5.pt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-30.pt", "checkpoint-40.pt"]


def test_checkpoint_round_trip_restores_all_states(tmp_path):
    model = _model()
    _randomize(model, 3)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "checkpoint-9.pt", model, optimizer=opt,
                    extra={"batch_idx_train": 9, "params": {"exp_dir": "x"}})
    assert not list(tmp_path.glob("*.tmp"))  # written atomically
    model2 = _model()
    opt2 = torch.optim.Adam(model2.parameters(), lr=0.1)
    ckpt = load_checkpoint(tmp_path / "checkpoint-9.pt", model2, optimizer=opt2)
    assert ckpt["batch_idx_train"] == 9 and ckpt["params"] == {"exp_dir": "x"}
    assert torch.equal(model2[0].weight, model[0].weight)
    exp_avg = opt.state[model[0].weight]["exp_avg"]
    assert torch.equal(opt2.state[model2[0].weight]["exp_avg"], exp_avg)
    with pytest.raises(KeyError, match="scheduler"):
        load_checkpoint(tmp_path / "checkpoint-9.pt", _model(), scheduler=object())
