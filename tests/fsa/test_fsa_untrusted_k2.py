"""Code-free loading on torch 1.13 (the k2 environment): a file real k2 wrote, or a checkpoint,
that also carries a pickle payload writing a marker file is refused by load_fsa and by the
checkpoint loader, and the marker never appears; the same file without the payload loads.

torch 1.13's torch.load ignores a custom pickle_module, so this checks the loader's own path."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from icefall_lite.fsa.fsa import load_fsa
from icefall_lite.training.checkpoint import read_checkpoint, save_checkpoint
from icefall_lite.training.safe_load import UnsafeFileError
from tests.training.untrusted import assert_payload_is_live, save_with_payload


@pytest.mark.k2
def test_payloads_are_refused_on_this_torch_and_clean_files_load(real_k2, tmp_path):
    marker = tmp_path / "MARKER"
    fsa = real_k2.Fsa.from_str("0 1 2 0.5\n1 2 -1 0\n2", acceptor=True)
    fsa.words = real_k2.RaggedTensor([[3, 4], []])
    torch.save(fsa.as_dict(), tmp_path / "clean.pt")
    save_with_payload(fsa.as_dict(), tmp_path / "evil.pt", marker)
    assert_payload_is_live(tmp_path / "evil.pt", marker, tmp_path)
    assert load_fsa(tmp_path / "clean.pt").words.tolist() == [[3, 4], []]
    with pytest.raises(ValueError, match=r"evil.pt was not loaded: it holds .*open"):
        load_fsa(tmp_path / "evil.pt")
    assert not marker.exists()

    save_checkpoint(tmp_path / "epoch-1.pt", nn.Linear(2, 2), extra={"lr": 0.5})
    assert read_checkpoint(tmp_path / "epoch-1.pt")["lr"] == 0.5  # floats load on torch 1.13
    save_with_payload(read_checkpoint(tmp_path / "epoch-1.pt"), tmp_path / "epoch-2.pt", marker)
    with pytest.raises(UnsafeFileError, match=r"epoch-2.pt was not loaded.*could run code"):
        read_checkpoint(tmp_path / "epoch-2.pt")
    assert not marker.exists()
