"""LG: the paths of the saved LG.pt against a brute-force reading of the lexicon and the ARPA LM."""

from __future__ import annotations

import logging

import pytest
import torch
from lang_helpers import (
    FIXTURE_DIR,
    FIXTURE_FILES,
    decode_token_sequences,
    enumerate_fsa_paths,
    expected_lg_paths,
    fixture_best_paths,
    read_table,
)

from icefall_lite.lang.grammar import arpa_to_g
from icefall_lite.lang.lang_dir import build_lg, prepare_lang


def _lexicon(path) -> dict[str, list[list[str]]]:
    lexicon: dict[str, list[list[str]]] = {}
    for line in path.read_text().splitlines():
        word, *tokens = line.split()
        lexicon.setdefault(word, []).append(tokens)
    return lexicon


def _assert_same_paths(expected: dict, actual: dict) -> None:
    missing = set(expected) - set(actual)
    extra = set(actual) - set(expected)
    assert not missing, f"LG lacks {len(missing)} allowed paths, e.g. {sorted(missing)[:3]}"
    assert not extra, f"LG has {len(extra)} paths the lexicon/G forbid, e.g. {sorted(extra)[:3]}"
    for key, score in expected.items():
        assert actual[key] == pytest.approx(score, abs=2e-4), f"path {key}"


def test_bpe_lg_accepts_exactly_the_lexicon_and_lm_word_sequences(bpe_lang):
    lg = torch.load(bpe_lang / "LG.pt")
    max_tokens = 6
    actual = enumerate_fsa_paths(lg, max_tokens)
    # G was made with --max-order 2: the bigram part of the 3-gram ARPA.
    expected = expected_lg_paths(_lexicon(bpe_lang / "lexicon.txt"),
                                 read_table(bpe_lang / "tokens.txt"),
                                 read_table(bpe_lang / "words.txt"), bpe_lang / "lm.arpa",
                                 max_tokens, max_order=2)
    assert len(expected) > 50
    _assert_same_paths(expected, actual)


def test_phone_lg_with_optional_silence_matches_brute_force(phone_lang):
    lg = torch.load(phone_lang / "LG.pt")
    max_tokens = 5
    expected = expected_lg_paths(_lexicon(phone_lang / "lexicon.txt"),
                                 read_table(phone_lang / "tokens.txt"),
                                 read_table(phone_lang / "words.txt"), phone_lang / "lm.arpa",
                                 max_tokens, sil=("SIL", 0.5))
    assert len(expected) > 100
    _assert_same_paths(expected, enumerate_fsa_paths(lg, max_tokens))


def test_bpe_lg_with_sil_piece_has_optional_sil_between_words(bpe_sil_lang):
    # the <sil> piece (prepare_bpe.py --sil-piece 1) becomes L's optional silence, as SIL is
    # for a phone lexicon; it outputs no word
    tokens = read_table(bpe_sil_lang / "tokens.txt")
    assert tokens["<sil>"] == 3
    lexicon = _lexicon(bpe_sil_lang / "lexicon.txt")
    assert all("<sil>" not in p for prons in lexicon.values() for p in prons)
    max_tokens = 5
    expected = expected_lg_paths(lexicon, tokens, read_table(bpe_sil_lang / "words.txt"),
                                 bpe_sil_lang / "lm.arpa", max_tokens, sil=("<sil>", 0.5),
                                 max_order=2)
    assert len(expected) > 100
    assert any(tokens["<sil>"] in t for t, _ in expected)
    _assert_same_paths(expected, enumerate_fsa_paths(torch.load(bpe_sil_lang / "LG.pt"),
                                                     max_tokens))


@pytest.mark.parametrize("lang", ["bpe_lang", "phone_lang", "bpe_sil_lang"])
def test_lg_has_no_epsilon_or_disambiguation_labels(lang, request):
    lang_dir = request.getfixturevalue(lang)
    lg = torch.load(lang_dir / "LG.pt")
    tokens, words = read_table(lang_dir / "tokens.txt"), read_table(lang_dir / "words.txt")
    arcs, aux = lg["arcs"], lg["aux_labels"]
    assert arcs.dtype == torch.int32 and aux.dtype == torch.int32 and arcs.shape[1] == 4
    labels = arcs[:, 2]
    final = labels == -1
    disambig_tokens = {i for s, i in tokens.items() if s.startswith("#")}
    assert not (labels == 0).any(), "epsilon label in LG"
    assert not any(int(t) in disambig_tokens for t in labels[~final])
    assert (labels[~final] < min(disambig_tokens)).all()
    forbidden_words = {words["#0"], words["<s>"], words["</s>"]}
    assert not any(int(w) in forbidden_words for w in aux[~final])
    assert (aux[final] == -1).all() and (aux[~final] >= 0).all()
    # k2 layout: start 0, a single final state (the last), entered only by -1 arcs
    num_states = int(arcs[:, :2].max()) + 1
    assert torch.equal(final, arcs[:, 1] == num_states - 1)
    assert not (arcs[:, 0] == num_states - 1).any()
    assert (arcs[1:, 0] >= arcs[:-1, 0]).all(), "arcs not sorted by source state"


def test_lg_arcs_are_sorted_by_label_within_each_state(bpe_lang):
    arcs = torch.load(bpe_lang / "LG.pt")["arcs"].tolist()
    for a, b in zip(arcs, arcs[1:]):
        if a[0] == b[0]:
            # k2 orders labels as unsigned: -1 (final) comes last
            assert (a[2] & 0xFFFFFFFF, a[1]) <= (b[2] & 0xFFFFFFFF, b[1])


def test_out_of_dictionary_words_are_reported_and_mapped_to_unk(phone_lang, tmp_path, caplog):
    words = read_table(phone_lang / "words.txt")
    assert "C" not in words and "<unk>" in words
    transcript = tmp_path / "t.txt"
    transcript.write_text("A B\nA ZZ B\n")
    with caplog.at_level(logging.WARNING):
        info = prepare_lang(tmp_path / "lang", transcript, dictionary=phone_lang / "toy.dic")
    assert info.oov == [(str(transcript), 2, "ZZ")]
    assert f"{transcript}:2: word 'ZZ' is not in the dictionary; mapped to <unk>" in caplog.text
    assert "ZZ" not in read_table(tmp_path / "lang" / "words.txt")
    assert (tmp_path / "lang" / "oov.txt").read_text() == f"{transcript}:2 ZZ\n"
    # the LM text of the phone lang counted C as <unk>: its G has the bigram "<unk> A"
    assert "<unk> A" in (phone_lang / "lm.arpa").read_text()


def test_missing_lang_files_name_the_file(tmp_path, phone_lang):
    with pytest.raises(FileNotFoundError, match="tokens.txt"):
        build_lg(tmp_path)
    for name in ("tokens.txt", "words.txt"):
        (tmp_path / name).write_text((phone_lang / name).read_text())
    with pytest.raises(FileNotFoundError, match="lexicon_disambig.txt"):
        build_lg(tmp_path)
    (tmp_path / "lexicon_disambig.txt").write_text(
        (phone_lang / "lexicon_disambig.txt").read_text())
    with pytest.raises(FileNotFoundError, match="G_3_gram.fst.txt"):
        build_lg(tmp_path)
    with pytest.raises(FileNotFoundError, match="nowhere.dic"):
        prepare_lang(tmp_path, phone_lang / "transcript.txt", dictionary=tmp_path / "nowhere.dic")
    with pytest.raises(ValueError, match="needs a pronunciation dictionary"):
        prepare_lang(tmp_path, phone_lang / "transcript.txt")
    (tmp_path / "words_no_hash0.txt").write_text("<eps> 0\nA 1\n<s> 2\n</s> 3\n")
    with pytest.raises(ValueError, match="words_no_hash0.txt lacks '#0'"):
        arpa_to_g(phone_lang / "lm.arpa", tmp_path / "words_no_hash0.txt")


def test_k2_fixture_is_what_the_tools_build_now(phone_lang):
    # tests/lang/data/toy_phone feeds the k2-environment tests (which lack kaldifst); rebuild it
    # with `python tests/lang/lang_helpers.py` when the lang tools change.
    for name in FIXTURE_FILES:
        if name.endswith(".pt"):
            fresh, stored = torch.load(phone_lang / name), torch.load(FIXTURE_DIR / name)
            assert set(fresh) == set(stored)
            assert all(torch.equal(fresh[k], stored[k]) for k in fresh), name
        else:
            assert (phone_lang / name).read_text() == (FIXTURE_DIR / name).read_text(), name


def test_builtin_fsa_loads_lg_and_decodes_like_brute_force(builtin_k2):
    lg_dict = torch.load(FIXTURE_DIR / "LG.pt")
    LG = builtin_k2.Fsa.from_dict(lg_dict)
    assert "Valid" in LG.properties_str and "ArcSorted" in LG.properties_str
    assert "EpsilonFree" in LG.properties_str
    best = fixture_best_paths(max_tokens=4)
    token_seqs = sorted(best)[::37]  # ~11 sequences of 1..4 tokens: the built-in code is slow
    assert len(token_seqs) >= 10
    results = decode_token_sequences(builtin_k2, lg_dict, token_seqs)
    for tokens, (score, words) in zip(token_seqs, results):
        assert score == pytest.approx(best[tokens][0], abs=2e-4), tokens
        assert words == best[tokens][1], tokens
