"""CTC training graphs through L (optional silence, alternative pronunciations, OOV words).

Oracle: the CTC loss of a compiled graph equals the log-sum, over every token sequence that the
lexicon allows (each word's pronunciations, ``SIL`` or nothing before the first word and after
every word, each choice with probability 0.5), of that choice's log-probability plus
``-torch.nn.functional.ctc_loss`` of the sequence: enumerated by hand from the toy dictionary.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from lang_helpers import enumerate_fsa_paths

from icefall_lite import k2
from icefall_lite.lang.ctc_training_graph import CtcTrainingGraphCompiler
from icefall_lite.lang.symbol_table import SymbolTable

#: the toy dictionary's pronunciations (tests/lang/lang_helpers.py TOY_DICT), by phone name
PRONS = {"A": [["AH"], ["EY"]], "AB": [["AH", "B"]], "B": [["B", "IY"]], "<unk>": [["SPN"]]}


def brute_force_log_prob(words: list[str], tokens: SymbolTable,
                         log_probs: torch.Tensor) -> float:
    """log sum over pronunciations x silence choices of P(choice) * P_ctc(sequence)."""
    total = []
    n = len(words)
    for prons in itertools.product(*(PRONS[w] for w in words)):
        for sils in itertools.product((False, True), repeat=n + 1):
            seq = ["SIL"] if sils[0] else []
            for pron, sil in zip(prons, sils[1:]):
                seq += pron + (["SIL"] if sil else [])
            target = torch.tensor([[tokens[t] for t in seq]])
            nll = torch.nn.functional.ctc_loss(
                log_probs.double().unsqueeze(1), target, [log_probs.shape[0]], [len(seq)],
                reduction="sum", zero_infinity=False)
            total.append((n + 1) * math.log(0.5) - float(nll))
    return float(torch.logsumexp(torch.tensor(total, dtype=torch.float64), 0))


def test_training_graph_sums_over_pronunciations_and_optional_silence(phone_lang):
    compiler = CtcTrainingGraphCompiler.from_lang_dir(phone_lang)
    tokens = SymbolTable.from_file(phone_lang / "tokens.txt")
    texts = ["A AB B", "B", "C A"]  # C is not in the dictionary: <unk> (SPN)
    words = [["A", "AB", "B"], ["B"], ["<unk>", "A"]]
    num_classes = 7  # blank/<eps>, SIL, SPN, AH, B, EY, IY
    torch.manual_seed(0)
    frames = 14
    log_probs = torch.randn(len(texts), frames, num_classes).log_softmax(-1)
    segments = torch.tensor([[i, 0, frames] for i in range(len(texts))], dtype=torch.int32)
    graphs = compiler.compile(texts)
    got = -k2.ctc_loss(graphs, k2.DenseFsaVec(log_probs, segments), output_beam=1000,
                       reduction="none", use_double_scores=True)
    want = [brute_force_log_prob(w, tokens, log_probs[i]) for i, w in enumerate(words)]
    assert got.tolist() == pytest.approx(want, abs=1e-4)


def test_transcript_fsa_pairs_every_allowed_token_sequence_with_the_transcript(phone_lang):
    """``L o W`` enumerated path by path: its token sequences are the hand-enumerated ones
    (pronunciations x optional SIL), each with the words of the transcript and log(0.5) per
    silence choice."""
    compiler = CtcTrainingGraphCompiler.from_lang_dir(phone_lang)
    tokens = SymbolTable.from_file(phone_lang / "tokens.txt")
    words = SymbolTable.from_file(phone_lang / "words.txt")
    text = "AB A"
    lw = compiler.transcript_fsa([text])[0]
    got = enumerate_fsa_paths(lw.as_dict(), max_tokens=10, allow_epsilon=True)
    word_ids = tuple(words[w] for w in text.split())
    want = {}
    for prons in itertools.product(*(PRONS[w] for w in text.split())):
        for sils in itertools.product((False, True), repeat=3):
            seq = ["SIL"] if sils[0] else []
            for pron, sil in zip(prons, sils[1:]):
                seq += pron + (["SIL"] if sil else [])
            want[(tuple(tokens[t] for t in seq), word_ids)] = 3 * math.log(0.5)
    assert got.keys() == want.keys()
    for key, score in want.items():
        assert got[key] == pytest.approx(score, abs=1e-5)


def test_an_oov_word_missing_from_the_word_table_is_an_error(phone_lang):
    with pytest.raises(ValueError, match="OOV word '<UNK>' is not in the word table"):
        CtcTrainingGraphCompiler.from_lang_dir(phone_lang, oov="<UNK>")


def test_a_lang_dir_without_L_is_an_error_naming_the_file(phone_lang, tmp_path):
    for name in ("tokens.txt", "words.txt"):
        (tmp_path / name).write_text((phone_lang / name).read_text())
    with pytest.raises(FileNotFoundError, match="L.pt"):
        CtcTrainingGraphCompiler.from_lang_dir(tmp_path)


def _lang_without_unk(tmp_path, transcript: str):
    from lang_helpers import TOY_DICT, load_cli
    (tmp_path / "toy.dic").write_text(TOY_DICT)
    (tmp_path / "transcript.txt").write_text(transcript)
    load_cli("prepare_lang").main(["--lang-dir", str(tmp_path), "--transcript",
                                   str(tmp_path / "transcript.txt"), "--lexicon",
                                   str(tmp_path / "toy.dic"), "--unk-phone", "none"])
    return tmp_path


def test_a_lang_dir_without_unk_has_no_spn_and_its_graphs_sum_over_the_choices(tmp_path):
    """``--unk-phone none`` (icefall's yesno lang dir): no ``<unk>`` word, no SPN token; the
    training graphs are those of the same pronunciations and silences (brute-force oracle)."""
    lang = _lang_without_unk(tmp_path, "A AB B\nB A\n")
    tokens = SymbolTable.from_file(lang / "tokens.txt")
    assert [tokens[i] for i in range(6)] == ["<eps>", "SIL", "AH", "B", "EY", "IY"]
    assert "<unk>" not in SymbolTable.from_file(lang / "words.txt")
    assert "<unk>" not in (lang / "lexicon.txt").read_text()
    compiler = CtcTrainingGraphCompiler.from_lang_dir(lang, oov=None)
    texts, frames = ["A AB B", "B"], 12
    torch.manual_seed(1)
    log_probs = torch.randn(len(texts), frames, 6).log_softmax(-1)
    segments = torch.tensor([[i, 0, frames] for i in range(len(texts))], dtype=torch.int32)
    got = -k2.ctc_loss(compiler.compile(texts), k2.DenseFsaVec(log_probs, segments),
                       output_beam=1000, reduction="none", use_double_scores=True)
    want = [brute_force_log_prob(t.split(), tokens, log_probs[i]) for i, t in enumerate(texts)]
    assert got.tolist() == pytest.approx(want, abs=1e-4)
    with pytest.raises(ValueError, match=r"\['C'\] are not in the word table"):
        compiler.compile(["C A"])


def test_a_lang_dir_without_unk_rejects_a_word_missing_from_the_dictionary(tmp_path):
    with pytest.raises(ValueError, match=r"transcript.txt:2: 'C' is not in .*toy.dic"):
        _lang_without_unk(tmp_path, "A B\nC A\n")
