"""recipe.report: the WER table collects decode.py's and streaming_decode.py's summaries, in the
registry's method order, and --max-wer fails on any row above the bound (hand-written
summaries; the numbers are checked against the values written)."""

from __future__ import annotations

import json
from pathlib import Path

from icefall_lite.recipe.report import collect, main


def _summary(path: Path, method: str, wer: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "test_set": "test", "method": method, "wer": wer, "errors": int(wer * 10),
        "words": 1000, "rtf": 0.01, "settings": {"key": f"{method}_key"},
    }), encoding="utf-8")


def _exp(tmp_path: Path) -> Path:
    exp = tmp_path / "exp"
    _summary(exp / "modified_beam_search" / "summary-test-a.json", "modified_beam_search", 7.5)
    _summary(exp / "greedy_search" / "summary-test-a.json", "greedy_search", 8.25)
    _summary(exp / "streaming" / "greedy_search" / "summary-test-b.json",
             "streaming greedy_search", 12.5)
    return exp


def test_collect_orders_full_context_methods_then_streaming_rows(tmp_path):
    rows = collect(_exp(tmp_path))
    assert [r["method"] for r in rows] == ["greedy_search", "modified_beam_search",
                                           "streaming greedy_search"]
    assert [r["wer"] for r in rows] == [8.25, 7.5, 12.5]


def test_table_and_max_wer_exit_status(tmp_path, capsys):
    exp = _exp(tmp_path)
    assert main(["--exp-dir", str(exp), "--max-wer", "13"]) == 0
    out = capsys.readouterr().out
    assert "| test | streaming greedy_search | 12.50 | 125 / 1000 |" in out
    assert main(["--exp-dir", str(exp), "--max-wer", "10"]) == 1
    err = capsys.readouterr().err
    assert "streaming greedy_search" in err and "greedy_search on test" in err
    assert "modified_beam_search" not in err
    assert main(["--exp-dir", str(tmp_path / "empty")]) == 1
