"""No file a user passes runs code: a checkpoint, pretrained.pt, LG.pt or FSA file whose pickle
would write a marker file is refused by every recipe entry point, with a message naming it."""

from __future__ import annotations

import shutil

import pytest
import torch

from icefall_lite.data import summary
from icefall_lite.fsa.fsa import load_fsa
from icefall_lite.recipe import decode, export, pretrained, streaming_decode
from icefall_lite.recipe.common import load_decoding_graph
from icefall_lite.training.checkpoint import read_checkpoint
from tests.recipe.conftest import WAV_NAMES
from tests.training.untrusted import assert_payload_is_live, save_with_payload


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "MARKER"


@pytest.fixture
def evil_exp(tmp_path, offline_exp, marker):
    """A copy of offline_exp whose epoch-2.pt also carries the payload."""
    exp = tmp_path / "exp"
    exp.mkdir()
    checkpoint = read_checkpoint(offline_exp[0] / "epoch-2.pt")
    save_with_payload(checkpoint, exp / "epoch-2.pt", marker)
    assert_payload_is_live(exp / "epoch-2.pt", marker, tmp_path)
    return exp


@pytest.fixture
def evil_lang(tmp_path, lg_lang_dir, marker):
    """A copy of lg_lang_dir whose LG.pt also carries the payload."""
    lang = tmp_path / "lang"
    shutil.copytree(lg_lang_dir, lang)
    save_with_payload(torch.load(lg_lang_dir / "LG.pt"), lang / "LG.pt", marker)
    assert_payload_is_live(lang / "LG.pt", marker, tmp_path)
    return lang


def _refused(call, name: str, marker) -> None:
    with pytest.raises(ValueError, match=rf"{name} was not loaded.*could run code"):
        call()
    assert not marker.exists()


def test_decode_streaming_and_export_refuse_a_checkpoint_with_a_payload(evil_exp, lang_dir,
                                                                         marker):
    defaults = {"lang_dir": str(lang_dir), "exp_dir": str(evil_exp)}
    argv = ["--epoch", "2", "--avg", "1", "--use-averaged-model", "0"]
    _refused(lambda: decode.main(defaults, argv), "epoch-2.pt", marker)
    _refused(lambda: export.main(defaults, argv), "epoch-2.pt", marker)
    _refused(lambda: streaming_decode.main(defaults, argv), "epoch-2.pt", marker)


def test_pretrained_refuses_a_checkpoint_with_a_payload(tmp_path, evil_exp, lang_dir, wav_dir,
                                                        marker):
    evil = tmp_path / "pretrained.pt"
    shutil.copyfile(evil_exp / "epoch-2.pt", evil)
    _refused(lambda: pretrained.main({}, ["--checkpoint", str(evil), "--bpe-model",
                                          str(lang_dir / "bpe.model"),
                                          str(wav_dir / WAV_NAMES[0])]),
             "pretrained.pt", marker)


def test_lg_loaders_refuse_an_lg_with_a_payload(tmp_path, evil_lang, marker):
    _refused(lambda: load_decoding_graph(evil_lang, "fast_beam_search_nbest_LG", 0.5, 14,
                                         torch.device("cpu")), "LG.pt", marker)
    _refused(lambda: summary.lang_dir_sizes(evil_lang), "LG.pt", marker)
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    _refused(lambda: summary.main(["--manifest-dir", str(manifests), "--prefix", "yesno",
                                   "--lang-dirs", str(evil_lang)]), "LG.pt", marker)


def test_load_fsa_refuses_a_payload_and_names_what_it_holds(evil_lang, marker):
    with pytest.raises(ValueError, match=r"LG.pt was not loaded: it holds .*open.*no FSA holds"):
        load_fsa(evil_lang / "LG.pt")
    assert not marker.exists()
