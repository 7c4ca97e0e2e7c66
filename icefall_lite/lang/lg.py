"""LG = L ∘ G, built with OpenFst through kaldifst and saved in k2's ``Fsa.as_dict()`` format.

Steps (docs/design/algorithms.rst §6):

1. L ∘ G, written out directly: every word arc ``g -> g'`` of G becomes a chain of arcs
   spelling one pronunciation of the word (``lexicon_disambig.txt`` without its ``#1, #2, ...``,
   which the pair determinization below does not need), with the word on the chain's last
   token and G's weight on its first arc; every backoff arc of G becomes a ``#0:#0`` arc (L's
   self-loop). With a silence token, an optional silence
   may follow each word and precede the first, as in
   :func:`icefall_lite.lang.lexicon_fst.make_lexicon_fst`. This equals composing that L (word on
   the last token) with G, without OpenFst's composition exploring every pronunciation at every
   G state before it meets the word (which costs minutes on a few hundred words).
2. Encode each arc's (token, word) pair as one label and determinize that acceptor in the log
   semiring (Kaldi's DeterminizeStar, which also removes epsilons). Determinizing the pairs
   rather than the transducer never delays a word, so every arc keeps at most one word and
   ``aux_labels`` stay a plain tensor; pronunciations sharing a prefix still share arcs.
3. Decode the pairs, replace the disambiguation tokens (``#k``) and words (``#0``) by epsilon,
   remove the (now epsilon:epsilon) arcs in the tropical semiring, connect, arc-sort.

The result has token ids as labels and word ids (0 = none) as aux_labels, no epsilon label, and
path scores ``ln P_LM(words)`` (plus L's silence log-probabilities for phone lexicons). Weights
are not pushed (DeterminizeStar emits a weight once the word is known), as in icefall's LG made
with k2's determinize and its default ``kNoWeightPushing``; a back-off G has no finite
log-semiring potential for global pushing anyway.

Example::

    LG = compile_lg(lexicon_disambig, token_table, word_table, load_g("G_3_gram.fst.txt"))
    torch.save(fst_to_k2_dict(LG), "LG.pt")
"""

from __future__ import annotations

import logging
import math

import numpy as np

from icefall_lite.lang.fst_convert import FstArrays, arrays_to_fst, fst_to_arrays
from icefall_lite.lang.lexicon import Lexicon
from icefall_lite.lang.symbol_table import SymbolTable, is_disambig_symbol


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

    lg = compose_lexicon_and_grammar(lexicon_disambig, token_table, word_table,
                                     fst_to_arrays(g_fst), sil_token, sil_prob)
    logging.info(f"L∘G: {lg.num_states} states, {len(lg.src)} arcs")
    encoded, table = _encode_pairs(lg)
    acceptor = arrays_to_fst(encoded)
    kaldifst.connect(acceptor)
    if acceptor.start < 0:
        raise ValueError("L∘G is empty: no sentence of G can be spelled with the lexicon")
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
    return LG


def compose_lexicon_and_grammar(
    lexicon_disambig: Lexicon,
    token_table: SymbolTable,
    word_table: SymbolTable,
    g: FstArrays,
    sil_token: str | None = None,
    sil_prob: float = 0.5,
) -> FstArrays:
    """L ∘ G for a lexicon L (word on the last token of each pronunciation, ``#0:#0``
    self-loop, optional silence) and a grammar acceptor G (``#0`` on backoff arcs, maybe
    epsilon arcs); see the module doc. Words of G without a pronunciation are dropped.

    States: ``0..N_G-1`` are G's states at a word boundary; with silence, ``N_G..2N_G-1`` the
    same after a word that a silence follows, and ``2N_G`` the start; then the chains' states.
    """
    word_disambig, token_disambig = word_table["#0"], token_table["#0"]
    prons = _pronunciation_table(lexicon_disambig, token_table, word_table)
    num_g = g.num_states
    is_backoff = g.ilabel == word_disambig
    is_epsilon = g.ilabel == 0
    has_pron = np.zeros(len(g.src), dtype=bool)
    in_range = g.ilabel < len(prons.first)
    has_pron[in_range] = prons.count[g.ilabel[in_range]] > 0
    dropped = int((~is_backoff & ~is_epsilon & ~has_pron).sum())
    if dropped:
        logging.warning(f"{dropped} arcs of G carry words without a pronunciation; dropped")

    # one (G arc, pronunciation) pair per chain
    word_arcs = np.nonzero(~is_backoff & has_pron)[0]
    per_arc = prons.count[g.ilabel[word_arcs]]
    pair_arc = np.repeat(word_arcs, per_arc)
    pair_pron = prons.first[g.ilabel[pair_arc]] + _rank_in_groups(per_arc)
    length = prons.length[pair_pron]

    with_sil = sil_token is not None
    first_chain_state = 2 * num_g + 1 if with_sil else num_g
    chain_base = first_chain_state + np.cumsum(length - 1) - (length - 1)
    num_states = first_chain_state + int((length - 1).sum())

    arc_pair = np.repeat(np.arange(len(pair_arc)), length)
    k = _rank_in_groups(length)
    last = k == length[arc_pair] - 1
    g_arc = pair_arc[arc_pair]
    src = np.where(k == 0, g.src[g_arc], chain_base[arc_pair] + k - 1)
    dst = np.where(last, g.dst[g_arc], chain_base[arc_pair] + k)
    ilabel = prons.tokens[prons.start[pair_pron][arc_pair] + k]
    olabel = np.where(last, g.ilabel[g_arc], 0)
    weight = np.where(k == 0, g.weight[g_arc], 0.0)
    parts = [(src, dst, ilabel, olabel, weight)]
    backoff = np.nonzero(is_backoff)[0]
    parts.append((g.src[backoff], g.dst[backoff], np.full(len(backoff), token_disambig),
                  np.full(len(backoff), word_disambig), g.weight[backoff]))
    epsilon = np.nonzero(is_epsilon)[0]
    parts.append((g.src[epsilon], g.dst[epsilon], np.zeros(len(epsilon), dtype=np.int64),
                  np.zeros(len(epsilon), dtype=np.int64), g.weight[epsilon]))
    start = g.start
    if with_sil:
        sil_cost, no_sil_cost = -math.log(sil_prob), -math.log(1.0 - sil_prob)
        # a word ends at the boundary state, or at its silence twin that the silence leaves
        parts[0] = (src, dst, ilabel, olabel, weight + np.where(last, no_sil_cost, 0.0))
        parts.append((src[last], dst[last] + num_g, ilabel[last], olabel[last],
                      weight[last] + sil_cost))
        states = np.arange(num_g)
        parts.append((states + num_g, states, np.full(num_g, token_table[sil_token]),
                      np.zeros(num_g, dtype=np.int64), np.zeros(num_g)))
        start = 2 * num_g
        parts.append((np.array([start, start]), np.array([g.start, g.start + num_g]),
                      np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64),
                      np.array([no_sil_cost, sil_cost])))
    columns = [np.concatenate([p[i] for p in parts]) for i in range(5)]
    return FstArrays(start, num_states, columns[0].astype(np.int64), columns[1].astype(np.int64),
                     columns[2].astype(np.int64), columns[3].astype(np.int64),
                     columns[4].astype(np.float64), g.final_state, g.final_weight)


class _Pronunciations:
    """The lexicon as flat arrays, pronunciations grouped by word id: ``first[w]``/``count[w]``
    index ``start``/``length``, which index ``tokens``."""

    def __init__(self, num_words: int) -> None:
        self.first = np.zeros(num_words, dtype=np.int64)
        self.count = np.zeros(num_words, dtype=np.int64)
        self.start = np.zeros(0, dtype=np.int64)
        self.length = np.zeros(0, dtype=np.int64)
        self.tokens = np.zeros(0, dtype=np.int64)


def _pronunciation_table(lexicon: Lexicon, token_table: SymbolTable,
                         word_table: SymbolTable) -> _Pronunciations:
    by_word: dict[int, list[list[str]]] = {}
    for word, tokens in lexicon:
        if word not in word_table:
            raise ValueError(f"lexicon word {word!r} is not in words.txt")
        if all(is_disambig_symbol(t) for t in tokens):
            raise ValueError(f"lexicon word {word!r} has no real token")
        missing = [t for t in tokens if t not in token_table]
        if missing:
            raise ValueError(f"lexicon word {word!r}: token {missing[0]!r} is not in tokens.txt")
        # The pronunciation disambiguation symbols #1, #2, ... are dropped: they make an L∘G
        # transducer determinizable, but here the (token, word) pairs are determinized, and
        # after a word's last token they would only keep apart states with equal futures.
        by_word.setdefault(word_table[word], []).append([t for t in tokens
                                                          if not is_disambig_symbol(t)])
    table = _Pronunciations(max(word_table.ids) + 1)
    starts, lengths, tokens_flat = [], [], []
    for word_id in sorted(by_word):
        table.first[word_id] = len(starts)
        table.count[word_id] = len(by_word[word_id])
        for tokens in by_word[word_id]:
            starts.append(len(tokens_flat))
            lengths.append(len(tokens))
            tokens_flat.extend(token_table[t] for t in tokens)
    table.start = np.asarray(starts, dtype=np.int64)
    table.length = np.asarray(lengths, dtype=np.int64)
    table.tokens = np.asarray(tokens_flat, dtype=np.int64)
    return table


def _rank_in_groups(sizes: np.ndarray) -> np.ndarray:
    """``[0..sizes[0]-1, 0..sizes[1]-1, ...]`` as one array."""
    total = int(sizes.sum())
    return np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)


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
