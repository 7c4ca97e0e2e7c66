"""CTC decoding methods against independent oracles: greedy search = a per-utterance loop
over frames (merge repeats, drop blanks); ctc-decoding = the CTC collapse of the single best
alignment found by enumerating every label sequence; 1best through a graph whose outputs are
relabelled tokens; clear errors for a graph that does not fit the model and unknown
methods, and for a lang dir's tokens.txt that is not the model's vocabulary (hand-written
tables; the lattice methods: tests/decoding/test_ctc_nbest_oracles.py)."""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
from pathlib import Path

import pytest
import torch

from icefall_lite import k2
from icefall_lite.decoding.ctc import (
    check_lang_tokens,
    ctc_decode,
    ctc_greedy_search,
    get_lattice,
    supervision_segments,
)


def collapse(labels: list[int], blank: int = 0) -> list[int]:
    out, prev = [], None
    for x in labels:
        if x != prev and x != blank:
            out.append(x)
        prev = x
    return out


def test_ctc_greedy_search_matches_a_frame_loop():
    torch.manual_seed(0)
    out = torch.randn(5, 9, 4).log_softmax(-1)
    lens = torch.tensor([9, 3, 1, 7, 9])
    hyps = ctc_greedy_search(out, lens)
    for i in range(5):
        assert hyps[i] == collapse(out[i, :lens[i]].argmax(-1).tolist())


def test_ctc_decoding_is_the_collapse_of_the_best_alignment():
    torch.manual_seed(1)
    n, t, c = 3, 4, 3
    out = torch.randn(n, t, c).mul(2).log_softmax(-1)
    lens = torch.tensor([4, 4, 2])
    hyps = ctc_decode("ctc-decoding", out, lens)
    for i in range(n):
        best = max(itertools.product(range(c), repeat=int(lens[i])),
                   key=lambda a: sum(out[i, f, x].item() for f, x in enumerate(a)))
        assert hyps[i] == collapse(list(best))
    # H accepts every alignment at score 0, so its best path is the frame-wise arg-max
    assert hyps == ctc_greedy_search(out, lens)
    assert ctc_decode("ctc-greedy-search", out, lens) == hyps


def test_1best_reads_the_graphs_output_labels():
    torch.manual_seed(2)
    out = torch.randn(2, 6, 4).mul(3).log_softmax(-1)
    lens = torch.tensor([6, 5])
    graph = k2.ctc_topo(3)
    aux = graph.aux_labels.clone()
    graph.aux_labels = torch.where(aux > 0, aux + 100, aux)  # "word" = token + 100
    words = ctc_decode("1best", out, lens, graph=graph)
    assert words == [[w + 100 for w in h] for h in ctc_greedy_search(out, lens)]


def test_get_lattice_uses_supervision_segments_and_truncation():
    out = torch.randn(2, 5, 3).log_softmax(-1)
    segs = supervision_segments(torch.tensor([5, 3]))
    assert segs.tolist() == [[0, 0, 5], [1, 0, 3]] and segs.dtype == torch.int32
    long_segs = torch.tensor([[0, 0, 7], [1, 0, 3]], dtype=torch.int32)  # 2 frames too long
    lat = get_lattice(out, k2.ctc_topo(2), long_segs, 20.0, 8.0, 30, 10000,
                      subsampling_factor=3)
    assert lat.shape[0] == 2
    with pytest.raises(ValueError, match="T \\+ allow_truncate"):
        get_lattice(out, k2.ctc_topo(2), long_segs, 20.0, 8.0, 30, 10000)


def test_bad_graphs_and_methods_give_clear_errors():
    out = torch.randn(1, 4, 3).log_softmax(-1)
    lens = torch.tensor([4])
    with pytest.raises(ValueError, match="token ids up to 5.*3 classes.*disagree"):
        ctc_decode("ctc-decoding", out, lens, graph=k2.ctc_topo(5))
    with pytest.raises(ValueError, match="unknown CTC method"):
        ctc_decode("ctc-beam", out, lens)
    with pytest.raises(ValueError, match="HLG"):
        ctc_decode("1best", out, lens)


PHONE_TOKENS = "<eps> 0\nSIL 1\nN 2\nY 3\n#0 4\n#1 5\n"


def _tokens(tmp_path, text: str):
    path = tmp_path / "tokens.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_lang_tokens_that_match_the_model_pass(tmp_path):
    path = _tokens(tmp_path, PHONE_TOKENS)
    check_lang_tokens(path, ["<eps>", "SIL", "N", "Y"])  # disambiguation symbols aside
    check_lang_tokens(path, vocab_size=4)


@pytest.mark.parametrize(("text", "model_tokens", "vocab_size", "problem"), [
    (PHONE_TOKENS, ["<eps>", "SIL", "N"], None,
     "4 tokens (ids 0..3), but the model outputs 3 classes"),
    (PHONE_TOKENS, None, 5, "4 tokens (ids 0..3), but the model outputs 5 classes"),
    (PHONE_TOKENS, ["<eps>", "SIL", "Y", "N"], None,
     "token 2 is 'N', but the model's token 2 is 'Y'"),
    ("<eps> 0\nSIL 1\nY 3\n#0 4\n", None, 3, "the token ids are not 0..2 (no token has id 2)"),
])
def test_lang_tokens_that_disagree_with_the_model_name_the_file(tmp_path, text, model_tokens,
                                                                vocab_size, problem):
    path = _tokens(tmp_path, text)
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: {re.escape(problem)}"):
        check_lang_tokens(path, model_tokens, vocab_size)


def test_an4_ctc_decode_checks_the_lang_dir_tokens_before_loading_its_hlg(tmp_path):
    """egs/an4/ASR/zipformer/ctc_decode.py: an HLG method with a lang dir whose tokens.txt has
    another vocabulary than the checkpoint's is an error naming tokens.txt (before HLG.pt is
    read: the lang dir here has none)."""
    recipe = Path(__file__).resolve().parents[2] / "egs/an4/ASR/zipformer"
    sys.path.insert(0, str(recipe))
    try:
        spec = importlib.util.spec_from_file_location("an4_ctc_decode_check",
                                                      recipe / "ctc_decode.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(recipe))
    path = _tokens(tmp_path, PHONE_TOKENS)
    args = module.get_parser().parse_args(["--lang-dir", str(tmp_path)])
    lang = {"vocab_size": 3, "blank_id": 0, "tokens": ["<blk>", "▁YES", "▁NO"]}
    for method in ("1best", "nbest"):
        with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: 4 tokens"):
            module.method_options(args, method, torch.device("cpu"), lang, {})
    assert module.method_options(args, "ctc-greedy-search", torch.device("cpu"), lang, {}) == {}
