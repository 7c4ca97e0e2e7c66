"""lang/compile_hlg.py: HLG = H o LG on a tiny lang dir. Oracle: with LG accepting word 7
as tokens [1, 2] (score -0.5) or word 8 as [2] (score -1.5), HLG's lattice total over
random log-probs equals the log-sum of the two words' CTC probabilities (from the CTC loss
of their token graphs) plus the LG scores; a mismatched token table is an error."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from icefall_lite.fsa import (
    DenseFsaVec,
    Fsa,
    ctc_graph,
    ctc_loss,
    intersect_dense_pruned,
    load_fsa,
)
from icefall_lite.lang.symbol_table import SymbolTable

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("compile_hlg", ROOT / "lang/compile_hlg.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _lang_dir(tmp_path: Path, tokens: str) -> Path:
    lg = Fsa.from_str("0 1 1 7 -0.5\n0 2 2 8 -1.5\n1 2 2 0 0\n2 3 -1 -1 0\n3",
                      num_aux_labels=1)
    torch.save(lg.as_dict(), tmp_path / "LG.pt")
    (tmp_path / "tokens.txt").write_text(tokens)
    return tmp_path


def test_hlg_total_is_the_ctc_probability_of_each_word(tmp_path):
    d = _lang_dir(tmp_path, "<blk> 0\na 1\nb 2\n#0 3\n#1 4\n")
    _tool().main(["--lang-dir", str(d)])
    hlg = load_fsa(d / "HLG.pt")
    assert int(hlg.labels.max()) == 2 and hasattr(hlg, "tokens")
    torch.manual_seed(0)
    lp = torch.randn(1, 6, 3).log_softmax(-1)
    segs = torch.tensor([[0, 0, 6]], dtype=torch.int32)
    lat = intersect_dense_pruned(hlg, DenseFsaVec(lp, segs), 1e3, 1e3, 0, 10 ** 6)
    got = lat.get_tot_scores(use_double_scores=True, log_semiring=True).item()
    per_word = -ctc_loss(ctc_graph([[1, 2], [2]]), DenseFsaVec(lp, segs.repeat(2, 1)),
                         reduction="none").double()
    want = torch.logsumexp(per_word + torch.tensor([-0.5, -1.5], dtype=torch.float64), 0)
    assert math.isclose(got, want.item(), abs_tol=1e-4)


def test_lg_with_tokens_beyond_the_token_table_is_an_error(tmp_path):
    d = _lang_dir(tmp_path, "<blk> 0\na 1\n#0 2\n")
    tool = _tool()
    max_token = tool.max_token_id(SymbolTable.from_file(d / "tokens.txt"))
    assert max_token == 1
    with pytest.raises(ValueError, match="token id 2 but tokens.txt ends at 1"):
        tool.compile_hlg(load_fsa(d / "LG.pt"), max_token)
