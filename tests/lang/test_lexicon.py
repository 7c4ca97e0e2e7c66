"""Symbol tables, lexicons, disambiguation symbols, BPE spelling and the L graphs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from lang_helpers import REPO, enumerate_fsa_paths, expected_lg_paths, load_cli, read_table

from icefall_lite.lang.lexicon import add_disambig_symbols, read_pronunciation_dict
from icefall_lite.lang.symbol_table import SymbolTable


def test_disambig_symbols_mark_homophones_and_prefixes_as_kaldi_does():
    lexicon = [("A", ["AH"]), ("A", ["EY"]), ("AB", ["AH", "B"]), ("B", ["B", "IY"]),
               ("BE", ["B", "IY"]), ("BEE", ["B", "IY"]), ("ABC", ["AH", "B", "K"])]
    result, max_disambig = add_disambig_symbols(lexicon)
    # AH: prefix of AH B -> #1; AH B: prefix of AH B K -> #1; B IY three homophones -> #1 #2 #3
    assert result == [("A", ["AH", "#1"]), ("A", ["EY"]), ("AB", ["AH", "B", "#1"]),
                      ("B", ["B", "IY", "#1"]), ("BE", ["B", "IY", "#2"]),
                      ("BEE", ["B", "IY", "#3"]), ("ABC", ["AH", "B", "K"])]
    assert max_disambig == 3


def test_cmu_dictionary_alternatives_and_comments(tmp_path):
    path = tmp_path / "x.dic"
    path.write_text(";;; comment\nA  AH\nA(2)  EY\nA(3)  AH\n\nTWO  T UW\n")
    assert read_pronunciation_dict(path) == [("A", ["AH"]), ("A", ["EY"]), ("TWO", ["T", "UW"])]
    (tmp_path / "bad.dic").write_text("A AH\nLONELY\n")
    with pytest.raises(ValueError, match=r"bad.dic:2: word 'LONELY' has no pronunciation"):
        read_pronunciation_dict(tmp_path / "bad.dic")


def test_symbol_table_round_trip_and_errors(tmp_path):
    table = SymbolTable.from_symbols(["<eps>", "A", "#0"])
    table.to_file(tmp_path / "words.txt")
    assert (tmp_path / "words.txt").read_text() == "<eps> 0\nA 1\n#0 2\n"
    again = SymbolTable.from_file(tmp_path / "words.txt")
    assert [again[i] for i in again.ids] == ["<eps>", "A", "#0"]
    assert again.symbols == ["#0", "<eps>", "A"]  # sorted, as k2's
    assert again["A"] == 1 and again[2] == "#0"
    assert "A" in again and 2 in again and "B" not in again and 3 not in again
    assert again.disambig_ids() == [2]
    (tmp_path / "dup.txt").write_text("A 1\nB 1\n")
    with pytest.raises(ValueError,
                       match=r"dup.txt:2: duplicate id 1 \('B'; line 1 gave it to 'A'\)"):
        SymbolTable.from_file(tmp_path / "dup.txt")
    with pytest.raises(FileNotFoundError, match="nothere.txt"):
        SymbolTable.from_file(tmp_path / "nothere.txt")


def test_bpe_tokens_have_icefall_special_ids_and_spell_each_word(bpe_lang):
    import sentencepiece as spm

    tokens = read_table(bpe_lang / "tokens.txt")
    assert (tokens["<blk>"], tokens["<sos/eos>"], tokens["<unk>"]) == (0, 1, 2)
    sp = spm.SentencePieceProcessor()
    sp.load(str(bpe_lang / "bpe.model"))
    assert sp.get_piece_size() == 8 and sp.unk_id() == 2
    for line in (bpe_lang / "lexicon.txt").read_text().splitlines():
        word, *pieces = line.split()
        if word != "<unk>":
            assert sp.decode_pieces(pieces) == word
    words = read_table(bpe_lang / "words.txt")
    assert words["<eps>"] == 0 and words["<unk>"] == 1
    assert [s for s, _ in sorted(words.items(), key=lambda x: x[1])][-3:] == ["#0", "<s>", "</s>"]


def test_bpe_lexicon_fst_accepts_exactly_concatenated_pronunciations(bpe_lang):
    tokens, words = read_table(bpe_lang / "tokens.txt"), read_table(bpe_lang / "words.txt")
    lexicon = [line.split() for line in (bpe_lang / "lexicon.txt").read_text().splitlines()]
    max_tokens = 4
    expected = {((), ())}
    frontier = {((), ())}
    while frontier:
        frontier = {(t + tuple(tokens[p] for p in pron), w + (words[word],))
                    for t, w in frontier for word, *pron in lexicon
                    if len(t) + len(pron) <= max_tokens}
        expected |= frontier
    L = torch.load(bpe_lang / "L.pt")
    paths = enumerate_fsa_paths(L, max_tokens)
    assert set(paths) == expected
    # icefall's L: the word sits on the first token of its pronunciation
    first = {tokens[pron[0]]: words[w] for w, *pron in lexicon if len(pron) > 1}
    arcs, aux = L["arcs"].tolist(), L["aux_labels"].tolist()
    for (_, _, label, _), word in zip(arcs, aux):
        if label in first and word != 0:
            assert word in {words[w] for w, *p in lexicon if tokens[p[0]] == label}


# a phone lexicon's SIL, and a BPE model's <sil> piece (prepare_bpe.py --sil-piece 1)
@pytest.mark.parametrize("lang, sil", [("phone_lang", "SIL"), ("bpe_sil_lang", "<sil>")])
def test_lexicon_fst_accepts_pronunciations_with_optional_silence(lang, sil, request):
    lang_dir = request.getfixturevalue(lang)
    lexicon: dict[str, list[list[str]]] = {}
    for line in (lang_dir / "lexicon.txt").read_text().splitlines():
        word, *tokens = line.split()
        lexicon.setdefault(word, []).append(tokens)
    expected = expected_lg_paths(lexicon, read_table(lang_dir / "tokens.txt"),
                                 read_table(lang_dir / "words.txt"), None, max_tokens=4,
                                 sil=(sil, 0.5))
    actual = enumerate_fsa_paths(torch.load(lang_dir / "L.pt"), 4, allow_epsilon=True)
    assert len(expected) > 100 and set(actual) == set(expected)
    for key, score in expected.items():
        assert actual[key] == pytest.approx(score, abs=1e-5), key


def test_bpe_codec_puts_sil_between_words_and_drops_it_when_decoding(bpe_lang, bpe_sil_lang):
    import sentencepiece as spm

    from icefall_lite.recipe.common import BpeCodec

    texts = ["A AB B", "BA", "AB A A B"]
    sp = spm.SentencePieceProcessor(model_file=str(bpe_sil_lang / "bpe.model"))
    sil = read_table(bpe_sil_lang / "tokens.txt")["<sil>"]
    expected = []
    for text in texts:  # each word on its own, joined by <sil>
        ids: list[int] = []
        for j, word in enumerate(text.split()):
            ids += ([sil] if j else []) + sp.encode(word)
        expected.append(ids)
    codec = BpeCodec(bpe_sil_lang)
    assert codec.encode(texts) == expected
    assert [codec.decode(ids) for ids in expected] == texts
    assert codec.decode([sil, *expected[0], sil]) == texts[0]
    # without the piece: plain sentencepiece, no <sil> anywhere
    plain = BpeCodec(bpe_lang)
    assert plain.sil is None
    assert plain.encode(texts) == spm.SentencePieceProcessor(
        model_file=str(bpe_lang / "bpe.model")).encode(texts)


def test_lexicon_disambig_fst_has_hash0_self_loop(bpe_lang):
    tokens, words = read_table(bpe_lang / "tokens.txt"), read_table(bpe_lang / "words.txt")
    arcs = torch.load(bpe_lang / "L_disambig.pt")["arcs"].tolist()
    aux = torch.load(bpe_lang / "L_disambig.pt")["aux_labels"].tolist()
    loops = [(a, w) for a, w in zip(arcs, aux) if a[2] == tokens["#0"]]
    assert len(loops) == 1 and loops[0][0][0] == loops[0][0][1] == 0 and loops[0][1] == words["#0"]


def test_tools_are_idempotent(bpe_lang, tmp_path):
    before = torch.load(bpe_lang / "LG.pt")
    words_before = (bpe_lang / "words.txt").read_text()
    load_cli("prepare_lang").main(["--lang-dir", str(bpe_lang), "--transcript",
                                   str(bpe_lang / "transcript.txt"), "--bpe-model",
                                   str(bpe_lang / "bpe.model")])
    load_cli("compile_lg").main(["--lang-dir", str(bpe_lang), "--g",
                                 str(bpe_lang / "G_3_gram.fst.txt")])
    after = torch.load(bpe_lang / "LG.pt")
    assert (bpe_lang / "words.txt").read_text() == words_before
    assert torch.equal(before["arcs"], after["arcs"])
    assert torch.equal(before["aux_labels"], after["aux_labels"])


@pytest.mark.parametrize("tool", ["prepare_bpe", "prepare_lang", "make_ngram", "arpa_to_g",
                                  "compile_lg"])
def test_tool_help_lists_its_flags(tool, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_cli(tool).main(["--help"])
    assert exit_info.value.code == 0
    assert "--" in capsys.readouterr().out


def test_tool_runs_as_a_script_and_names_a_missing_file(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "lang" / "arpa_to_g.py"), "--arpa", str(tmp_path / "no.arpa"),
         "--words", str(tmp_path / "words.txt"), "--out", str(tmp_path / "G.fst.txt")],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "no.arpa" in result.stderr and "not found" in result.stderr


def test_recipe_model_leaves_the_sil_piece_out_of_its_ctc_targets(bpe_lang, bpe_sil_lang):
    import argparse

    from icefall_lite.models.config import ZipformerConfig
    from icefall_lite.recipe.common import make_model

    def model_for(lang_dir):
        parser = argparse.ArgumentParser()
        ZipformerConfig.add_arguments(parser)
        args = parser.parse_args(["--use-ctc", "1", "--num-encoder-layers", "1",
                                  "--downsampling-factor", "1", "--encoder-dim", "16",
                                  "--encoder-unmasked-dim", "16", "--feedforward-dim", "32",
                                  "--num-heads", "2", "--cnn-module-kernel", "3",
                                  "--decoder-dim", "16", "--joiner-dim", "16"])
        args.lang_dir = lang_dir
        return make_model(args)

    sil = read_table(bpe_sil_lang / "tokens.txt")["<sil>"]
    assert model_for(bpe_sil_lang).ctc_skip_token == sil
    assert model_for(bpe_lang).ctc_skip_token is None
