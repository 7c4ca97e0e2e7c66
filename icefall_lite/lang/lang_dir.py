"""A lang directory: the symbol tables, lexicons and graphs a recipe decodes with.

``prepare_lang`` writes ``words.txt``, ``tokens.txt``, ``lexicon.txt``, ``lexicon_disambig.txt``,
``L.fst``/``L_disambig.fst`` (OpenFst binary) and ``L.pt``/``L_disambig.pt`` (k2 ``as_dict``);
``build_lg`` adds ``LG.pt``. Two kinds of lexicon:

- BPE (``bpe_model``): each word spelled by its sentencepiece pieces; tokens = the pieces
  (``<blk>`` 0, ``<sos/eos>`` 1, ``<unk>`` 2, ...); no silence, unless the model has the
  ``<sil>`` piece (``prepare_bpe.py --sil-piece 1``): then an optional ``<sil>`` between words.
- phones (``dictionary`` without ``bpe_model``): pronunciations from a CMU-style dictionary;
  tokens ``<eps>`` 0, ``SIL``, ``SPN``, the phones; words ``!SIL`` (= ``SIL``) and ``<unk>``
  (= ``SPN``); optional silence between words.

Example::

    info = prepare_lang("data/lang_bpe_100", "transcript.txt", bpe_model="bpe.model")
    num_states, num_arcs = build_lg("data/lang_bpe_100", "data/lang_bpe_100/G_3_gram.fst.txt")
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from icefall_lite.lang.bpe import SIL as BPE_SIL
from icefall_lite.lang.bpe import bpe_lexicon, bpe_token_table
from icefall_lite.lang.files import require_file
from icefall_lite.lang.fst_convert import fst_to_k2_dict
from icefall_lite.lang.grammar import load_g
from icefall_lite.lang.lexicon import (
    Lexicon,
    add_disambig_symbols,
    read_lexicon,
    read_pronunciation_dict,
    read_transcript_words,
    write_lexicon,
)
from icefall_lite.lang.lexicon_fst import make_lexicon_fst
from icefall_lite.lang.lg import compile_lg
from icefall_lite.lang.symbol_table import SymbolTable

UNK = "<unk>"
SIL_WORD, SIL_PHONE, UNK_PHONE = "!SIL", "SIL", "SPN"
SENTENCE_SYMBOLS = ("#0", "<s>", "</s>")
_SPECIAL_WORDS = {"<eps>", SIL_WORD, UNK, *SENTENCE_SYMBOLS}


@dataclass
class LangInfo:
    """What ``prepare_lang`` built: vocabulary size (without specials), token count, OOVs."""

    num_words: int
    num_tokens: int
    max_disambig: int
    oov: list[tuple[str, int, str]]


def optional_silence_token(token_table: SymbolTable, word_table: SymbolTable) -> str | None:
    """The token L puts as optional silence between words: a phone lang dir's ``SIL`` (with the
    word ``!SIL``), a BPE lang dir's ``<sil>`` piece, or None."""
    if SIL_PHONE in token_table and SIL_WORD in word_table:
        return SIL_PHONE
    return BPE_SIL if BPE_SIL in token_table else None


def prepare_lang(
    lang_dir: str | Path,
    transcript: str | Path,
    dictionary: str | Path | None = None,
    bpe_model: str | Path | None = None,
    sil_prob: float = 0.5,
    unk_phone: str | None = UNK_PHONE,
) -> LangInfo:
    """Write a lang directory's tables, lexicons and L graphs (see the module doc).

    Words come from ``transcript`` (and all of ``dictionary`` when given); with a dictionary,
    a transcript word it lacks is logged as ``file:line: word``, listed in ``oov.txt`` and
    mapped to ``<unk>``. ``unk_phone`` (phone lexicons): the token ``<unk>`` is pronounced
    with; None: no ``<unk>`` word and no such token (icefall's yesno lang dir), and a transcript
    word missing from the dictionary is an error.
    """
    if dictionary is None and bpe_model is None:
        raise ValueError("prepare_lang needs a pronunciation dictionary (--lexicon) or a "
                         "sentencepiece model (--bpe-model)")
    lang_dir = Path(lang_dir)
    lang_dir.mkdir(parents=True, exist_ok=True)
    pronunciations: Lexicon = read_pronunciation_dict(dictionary) if dictionary else []
    vocabulary = {w for w, _ in pronunciations} if dictionary else None
    transcript_words = read_transcript_words(transcript, vocabulary)
    words = sorted((set(transcript_words.counts) | (vocabulary or set())) - _SPECIAL_WORDS)
    if not words:
        raise ValueError(f"no words for {lang_dir}: {transcript}"
                         + (f" and {dictionary}" if dictionary else "")
                         + " hold only special symbols")

    if bpe_model is not None:
        lexicon = bpe_lexicon([UNK, *words], bpe_model)
        pieces = bpe_token_table(bpe_model)
        base_tokens = [pieces[i] for i in pieces.ids]
        word_symbols = ["<eps>", UNK, *words, *SENTENCE_SYMBOLS]
    else:
        if unk_phone is None and transcript_words.oov:
            file, line, word = transcript_words.oov[0]
            raise ValueError(f"{file}:{line}: {word!r} is not in {dictionary}, and the lang "
                             f"dir has no <unk> to map it to ({len(transcript_words.oov)} "
                             "such occurrences)")
        unk = [(UNK, [unk_phone])] if unk_phone is not None else []
        lexicon = [(SIL_WORD, [SIL_PHONE]), *unk]
        lexicon += [(w, p) for w, p in pronunciations if w not in _SPECIAL_WORDS]
        specials = [SIL_PHONE] + ([unk_phone] if unk_phone not in (None, SIL_PHONE) else [])
        phones = sorted({p for _, ps in lexicon for p in ps} - set(specials))
        base_tokens = ["<eps>", *specials, *phones]
        word_symbols = ["<eps>", SIL_WORD, *(UNK for _ in unk), *words, *SENTENCE_SYMBOLS]

    lexicon_disambig, max_disambig = add_disambig_symbols(lexicon)
    token_table = SymbolTable.from_symbols(
        [*base_tokens, *(f"#{i}" for i in range(max_disambig + 1))]
    )
    word_table = SymbolTable.from_symbols(word_symbols)
    sil_token = optional_silence_token(token_table, word_table)
    token_table.to_file(lang_dir / "tokens.txt")
    word_table.to_file(lang_dir / "words.txt")
    write_lexicon(lang_dir / "lexicon.txt", lexicon)
    write_lexicon(lang_dir / "lexicon_disambig.txt", lexicon_disambig)
    oov_path = lang_dir / "oov.txt"
    if transcript_words.oov:
        with open(oov_path, "w", encoding="utf-8") as f:
            f.writelines(f"{file}:{line} {word}\n" for file, line, word in transcript_words.oov)
        logging.warning(f"all out-of-dictionary occurrences are listed in {oov_path}")
    else:
        oov_path.unlink(missing_ok=True)

    for name, lex, self_loop in (("L", lexicon, False), ("L_disambig", lexicon_disambig, True)):
        L = make_lexicon_fst(lex, token_table, word_table, sil_token=sil_token, sil_prob=sil_prob,
                             disambig_self_loop=self_loop)
        L.write(str(lang_dir / f"{name}.fst"))
        torch.save(fst_to_k2_dict(L), lang_dir / f"{name}.pt")
    logging.info(f"{lang_dir}: {len(words)} words, {len(base_tokens)} tokens, "
                 f"disambiguation symbols #0..#{max_disambig}, "
                 f"{len(transcript_words.oov)} out-of-dictionary occurrences")
    return LangInfo(len(words), len(base_tokens), max_disambig, transcript_words.oov)


def build_lg(
    lang_dir: str | Path, g_path: str | Path | None = None, sil_prob: float = 0.5
) -> tuple[int, int]:
    """Compose the lang directory's lexicon with G into ``lang_dir/LG.pt``.

    ``g_path`` defaults to ``lang_dir/G_3_gram.fst.txt``. Returns (num_states, num_arcs) of the
    saved FSA (which counts the extra final state and the arcs into it).
    """
    lang_dir = Path(lang_dir)
    token_table = SymbolTable.from_file(require_file(lang_dir / "tokens.txt", "tokens.txt"))
    word_table = SymbolTable.from_file(require_file(lang_dir / "words.txt", "words.txt"))
    lexicon = read_lexicon(require_file(lang_dir / "lexicon_disambig.txt",
                                        "lexicon_disambig.txt"))
    G = load_g(g_path if g_path is not None else lang_dir / "G_3_gram.fst.txt")
    for table, name in ((token_table, "tokens.txt"), (word_table, "words.txt")):
        if "#0" not in table:
            raise ValueError(f"{lang_dir / name} has no '#0'; run prepare_lang first")
    LG = compile_lg(lexicon, token_table, word_table, G,
                    sil_token=optional_silence_token(token_table, word_table), sil_prob=sil_prob)
    lg_dict = fst_to_k2_dict(LG)
    torch.save(lg_dict, lang_dir / "LG.pt")
    num_states = int(lg_dict["arcs"][:, :2].max()) + 1
    return num_states, int(lg_dict["arcs"].shape[0])
