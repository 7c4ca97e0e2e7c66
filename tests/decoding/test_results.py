"""Result files and WER numbers against a hand-computed example."""

from __future__ import annotations

import pytest

from icefall_lite.decoding import kaldi_wer_line, real_time_factor, result_suffix, write_results

# ref: "the cat sat on the mat" / hyp: "the bat sat the mat too"
#   the=the, cat->bat (sub), sat=sat, on deleted, the=the, mat=mat, too inserted
# ref: "hello world" / hyp: "hello world"  (no error)
# total: 8 reference words, 1 sub + 1 del + 1 ins = 3 errors, WER 37.50
RESULTS = [
    ("utt-b", "hello world".split(), "hello world".split()),
    ("utt-a", "the cat sat on the mat".split(), "the bat sat the mat too".split()),
]


def test_written_files_hold_the_hand_computed_wer(tmp_path):
    key = result_suffix("fast_beam_search", {"beam": 20.0, "max_contexts": 8}, "epoch-3")
    assert key == "epoch-3_fast_beam_search_beam-20.0_max-contexts-8"
    stats = write_results(tmp_path, "test-clean", key, RESULTS)
    assert (stats.num_ref_words, stats.subs, stats.dels, stats.ins) == (8, 1, 1, 1)
    assert stats.wer == pytest.approx(37.5)
    assert kaldi_wer_line(stats) == "%WER 37.50 [ 3 / 8, 1 ins, 1 del, 1 sub ]"

    errs = (tmp_path / f"errs-test-clean-{key}.txt").read_text().splitlines()
    assert errs[0] == "%WER 37.50 [ 3 / 8, 1 ins, 1 del, 1 sub ]"
    assert "utt-a:\tthe (cat->bat) sat (on->*) the mat (*->too)" in errs
    assert "1   cat -> bat" in errs
    # PER-WORD: word corr tot_errs count_in_ref count_in_hyp
    assert "the   2 0 2 2" in errs
    assert "cat   0 1 1 0" in errs
    assert "too   0 1 0 1" in errs

    recogs = (tmp_path / f"recogs-test-clean-{key}.txt").read_text().splitlines()
    assert recogs[0] == "utt-a:\tref=['the', 'cat', 'sat', 'on', 'the', 'mat']"
    assert recogs[3] == "utt-b:\thyp=['hello', 'world']"
    summary = (tmp_path / f"wer-summary-test-clean-{key}.txt").read_text()
    assert summary == f"settings\tWER\n{key}\t37.50\n"


def test_real_time_factor_is_decode_time_over_audio_time():
    assert real_time_factor(3.0, 120.0) == pytest.approx(0.025)
    with pytest.raises(ValueError, match="audio_seconds"):
        real_time_factor(1.0, 0.0)
