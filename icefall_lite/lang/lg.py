"""LG = L ∘ G, built with OpenFst through kaldifst and saved in k2's ``Fsa.as_dict()`` format.

Steps (ALGORITHMS.md §6):

1. L_disambig with the word on the last real token of each pronunciation and ``#0:#0``
   self-loops; compose with G (``#0`` on its backoff arcs).
2. Encode each arc's (token, word) pair as one label and determinize that acceptor in the log
   semiring (Kaldi's DeterminizeStar, which also removes epsilons). Determinizing the pairs
   rather than the transducer never delays a word, so every arc keeps at most one word and
   ``aux_labels`` stay a plain tensor; pronunciations sharing a prefix still share arcs.
3. Decode the pairs, replace the disambiguation tokens (``#k``) and words (``#0``) by epsilon,
   remove the (now epsilon:epsilon) arcs in the tropical semiring, connect, arc-sort.

The result has token ids as labels and word ids (0 = none) as aux_labels, no epsilon label, and
path scores ``ln P_LM(words)`` (plus L's silence log-probabilities for phone lexicons).

Example::

    LG = compile_lg(lexicon_disambig, token_table, word_table, load_g("G_3_gram.fst.txt"))
    torch.save(fst_to_k2_dict(LG), "LG.pt")
"""

from __future__ import annotations

import logging

import numpy as np

from icefall_lite.lang.fst_convert import FstArrays, arrays_to_fst, fst_to_arrays
from icefall_lite.lang.lexicon import Lexicon
from icefall_lite.lang.lexicon_fst import make_lexicon_fst
from icefall_lite.lang.symbol_table import SymbolTable


def compile_lg(
    lexicon_disambig: Lexicon,
    token_table: SymbolTable,
    word_table: SymbolTable,
    g_fst,
    sil_token: str | None = None,
    sil_prob: float = 0.5,
):
    """Build LG (a kaldifst ``StdVectorFst``; input: token ids, output: word ids).

    Args:
      lexicon_disambig: the lexicon with disambiguation symbols (``lexicon_disambig.txt``).
      token_table: tokens including ``#0, #1, ...``.
      word_table: words including ``#0``.
      g_fst: G as a ``StdVectorFst`` (see :func:`icefall_lite.lang.grammar.load_g`).
      sil_token, sil_prob: optional silence of a phone lexicon (see ``make_lexicon_fst``).
    """
    import kaldifst  # noqa: PLC0415

    L = make_lexicon_fst(lexicon_disambig, token_table, word_table, sil_token=sil_token,
                         sil_prob=sil_prob, disambig_self_loop=True, word_on="last")
    kaldifst.arcsort(L, sort_type="olabel")
    G = g_fst.copy()
    kaldifst.arcsort(G, sort_type="ilabel")
    LG = kaldifst.compose(L, G, connect=True)
    logging.info(f"L∘G: {LG.num_states} states")
    if LG.start < 0:
        raise ValueError("L∘G is empty: no word of G is in the lexicon")

    pairs = fst_to_arrays(LG)
    encoded, table = _encode_pairs(pairs)
    acceptor = arrays_to_fst(encoded)
    if kaldifst.determinize_star(acceptor, use_log=True):
        raise RuntimeError("determinization of L∘G stopped early")
    determinized = fst_to_arrays(acceptor)
    ilabel, olabel = table[determinized.ilabel, 0], table[determinized.ilabel, 1]
    token_disambig = np.asarray(token_table.disambig_ids(), dtype=np.int64)
    ilabel = np.where(np.isin(ilabel, token_disambig), 0, ilabel)
    olabel = np.where(olabel == word_table["#0"], 0, olabel)
    if np.any((ilabel == 0) & (olabel != 0)):
        raise RuntimeError("LG has a word on an epsilon-input arc; the lexicon is malformed")
    determinized.ilabel, determinized.olabel = ilabel, olabel
    LG = arrays_to_fst(determinized)
    kaldifst.rmepsilon(LG)
    kaldifst.connect(LG)
    kaldifst.arcsort(LG, sort_type="ilabel")
    if LG.start < 0:
        raise ValueError("LG is empty after removing epsilons")
    logging.info(f"LG: {LG.num_states} states, {_num_arcs(LG)} arcs")
    return LG


def _encode_pairs(a: FstArrays) -> tuple[FstArrays, np.ndarray]:
    """Relabel each arc by the index of its (ilabel, olabel) pair; (0, 0) stays 0 (epsilon).

    Returns the relabelled arrays and the table ``[num_pairs, 2]`` that decodes them.
    """
    pairs = np.stack([a.ilabel, a.olabel], axis=1)
    table, codes = np.unique(np.concatenate([[[0, 0]], pairs]), axis=0, return_inverse=True)
    codes = codes.reshape(-1)[1:]
    # (0, 0) sorts first, so its code is 0.
    encoded = FstArrays(a.start, a.num_states, a.src, a.dst, codes, codes, a.weight,
                        a.final_state, a.final_weight)
    return encoded, table


def _num_arcs(fst) -> int:
    return sum(fst.num_arcs(s) for s in range(fst.num_states))
