"""recipe.report: the WER table collects decode.py's and streaming_decode.py's summaries, in the
registry's method order, then each chunk size's simulated and chunk-wise streaming rows side by
side, and --max-wer fails on any row above the bound (hand-written summaries; the numbers are
checked against the values written)."""

from __future__ import annotations

import json
from pathlib import Path

from icefall_lite.recipe.report import collect, decoding_mode, main


def _summary(path: Path, method: str, wer: float, key: str = "full-context") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "test_set": "test", "method": method, "wer": wer, "errors": int(wer * 10),
        "words": 1000, "rtf": 0.01, "settings": {"key": f"epoch-8_avg-3_{key}_{method}"},
    }), encoding="utf-8")


def _exp(tmp_path: Path) -> Path:
    exp = tmp_path / "exp"
    _summary(exp / "modified_beam_search" / "summary-test-a.json", "modified_beam_search", 7.5)
    _summary(exp / "greedy_search" / "summary-test-a.json", "greedy_search", 8.25)
    _summary(exp / "streaming" / "greedy_search" / "summary-test-b.json",
             "streaming greedy_search", 12.5, "chunk-32_left-128")
    _summary(exp / "streaming" / "greedy_search" / "summary-test-c.json",
             "streaming greedy_search", 13.5, "chunk-16_left-128")
    # simulated streaming: decode.py writes it beside the full-context result
    _summary(exp / "greedy_search" / "summary-test-d.json", "greedy_search", 13.25,
             "chunk-16_left-128")
    _summary(exp / "modified_beam_search" / "summary-test-e.json", "modified_beam_search",
             11.0, "chunk-16_left-128")
    return exp


def test_collect_orders_full_context_methods_then_streaming_rows(tmp_path):
    rows = collect(_exp(tmp_path))
    assert [(r["method"], decoding_mode(r)[0]) for r in rows] == [
        ("greedy_search", "full context"),
        ("modified_beam_search", "full context"),
        ("greedy_search", "simulated, chunk 16, left 128"),
        ("streaming greedy_search", "chunk-wise, chunk 16, left 128"),
        ("modified_beam_search", "simulated, chunk 16, left 128"),
        ("streaming greedy_search", "chunk-wise, chunk 32, left 128"),
    ]
    assert [r["wer"] for r in rows] == [8.25, 7.5, 13.25, 13.5, 11.0, 12.5]


def test_table_and_max_wer_exit_status(tmp_path, capsys):
    exp = _exp(tmp_path)
    assert main(["--exp-dir", str(exp), "--max-wer", "14"]) == 0
    out = capsys.readouterr().out
    assert ("| test | streaming greedy_search | chunk-wise, chunk 32, left 128 | 12.50 | "
            "125 / 1000 |") in out
    assert "| test | greedy_search | simulated, chunk 16, left 128 | 13.25 | 132 / 1000 |" in out
    assert main(["--exp-dir", str(exp), "--max-wer", "12"]) == 1
    err = capsys.readouterr().err
    assert err.count("streaming greedy_search") == 2 and "13.25% of greedy_search" in err
    assert "modified_beam_search" not in err
    assert main(["--exp-dir", str(tmp_path / "empty")]) == 1


def test_several_runs_give_each_rows_mean_range_and_sample_std(tmp_path, capsys):
    runs = []
    for i, (greedy, beam) in enumerate([(8.0, 7.0), (6.0, 7.5), (7.0, 9.5)]):
        exp = tmp_path / f"exp-seed{i}"
        _summary(exp / "greedy_search" / "summary-test-a.json", "greedy_search", greedy)
        _summary(exp / "modified_beam_search" / "summary-test-a.json", "modified_beam_search",
                 beam)
        runs.append(exp)
    # one run has a row the others lack: named, not averaged
    _summary(runs[0] / "fast_beam_search" / "summary-test-a.json", "fast_beam_search", 1.0)
    assert main(["--exp-dir", *map(str, runs)]) == 0
    captured = capsys.readouterr()
    # greedy 8, 6, 7: mean 7, range 2, sample std 1; beam 7, 7.5, 9.5: mean 8, range 2.5,
    # std sqrt(((-1)^2 + (-0.5)^2 + 1.5^2) / 2) = sqrt(1.75) = 1.32
    assert ("| test | greedy_search | full context | 8.00, 6.00, 7.00 | 7.00 | 2.00 | 1.00 | "
            "epoch-8_avg-3_full-context_greedy_search |") in captured.out
    assert ("| test | modified_beam_search | full context | 7.00, 7.50, 9.50 | 8.00 | 2.50 | "
            "1.32 |") in captured.out
    summary_part = captured.out.split("3 runs:")[1]
    assert "fast_beam_search" not in summary_part
    assert ("not in every run (left out of the summary): test / fast_beam_search "
            "(epoch-8_avg-3_full-context_fast_beam_search)") in captured.err
