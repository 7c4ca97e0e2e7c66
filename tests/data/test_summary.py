"""The prepare.sh summary: counts and hours per split, vocabulary sizes, LG states/arcs."""

from __future__ import annotations

import torch
from lhotse import SupervisionSegment, SupervisionSet

from icefall_lite.data.manifests import manifest_path
from icefall_lite.data.summary import format_summary, fsa_dict_size, lang_dir_sizes


def test_fsa_size_counts_the_final_state_reached_only_by_arcs():
    # 0 -a-> 1 -b-> 2 -(-1)-> 3 (final): 4 states, 3 arcs.
    arcs = torch.tensor([[0, 1, 5, 0], [1, 2, 6, 0], [2, 3, -1, 0]], dtype=torch.int32)
    assert fsa_dict_size({"arcs": arcs, "aux_labels": torch.tensor([1, 0, -1])}) == (4, 3)
    assert fsa_dict_size({"arcs": torch.zeros(0, 4, dtype=torch.int32)}) == (0, 0)


def test_summary_lists_utterances_hours_and_lang_sizes(tmp_path):
    sups = [SupervisionSegment(f"u{i}", f"u{i}", 0.0, 1800.0, text="A") for i in range(3)]
    SupervisionSet.from_segments(sups).to_file(manifest_path(tmp_path, "c", "supervisions", "dev"))
    lang = tmp_path / "lang_bpe_5"
    lang.mkdir()
    (lang / "tokens.txt").write_text("<blk> 0\n<sos/eos> 1\n<unk> 2\n▁A 3\n▁B 4\n#0 5\n#1 6\n")
    (lang / "words.txt").write_text("<eps> 0\nA 1\nB 2\nC 3\n<unk> 4\n#0 5\n<s> 6\n</s> 7\n")
    arcs = torch.tensor([[0, 1, 3, 0], [1, 2, -1, 0]], dtype=torch.int32)
    torch.save({"arcs": arcs, "aux_labels": torch.tensor([1, -1])}, lang / "LG.pt")
    assert lang_dir_sizes(lang) == {"tokens": 5, "words": 3, "LG states": 3, "LG arcs": 2}
    text = format_summary(tmp_path, "c", [lang, tmp_path / "lang_phone"])
    assert "dev                           3    1.500" in text
    assert "lang_bpe_5: tokens 5, words 3, LG states 3, LG arcs 2" in text
    assert "lang_phone: nothing built yet" in text
