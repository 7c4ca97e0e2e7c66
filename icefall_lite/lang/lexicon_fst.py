"""The lexicon transducer L: token sequences → words (OpenFst, through kaldifst).

Without a silence token (BPE lexicons) L has one loop state, start and final; each
pronunciation is a chain of arcs leaving and re-entering it. With a silence token (phone
lexicons) an optional silence may follow every word and precede the first one, taken with
probability ``sil_prob``, as in icefall's L with silence. With ``disambig_self_loop`` the loop
state gets a ``#0:#0`` self-loop, so that G's backoff symbol passes through L in L∘G.

The word label sits on the first token of each pronunciation, as in icefall's L.

Example::

    lexicon = [("HI", ["▁HI"]), ("HO", ["▁H", "O"])]
    L = make_lexicon_fst(lexicon, token_table, word_table)        # kaldifst.StdVectorFst
"""

from __future__ import annotations

import math

from icefall_lite.lang.lexicon import Lexicon
from icefall_lite.lang.symbol_table import SymbolTable, is_disambig_symbol


def make_lexicon_fst(
    lexicon: Lexicon,
    token_table: SymbolTable,
    word_table: SymbolTable,
    sil_token: str | None = None,
    sil_prob: float = 0.5,
    disambig_self_loop: bool = False,
):
    """Build L (input: token ids, output: word ids) as a kaldifst ``StdVectorFst``.

    Args:
      lexicon: ``(word, tokens)`` pairs; tokens may end with disambiguation symbols ``#k``.
      token_table, word_table: ids of the tokens and words (every symbol must be present).
      sil_token: the optional-silence token (e.g. ``"SIL"``), or None for no silence.
      sil_prob: probability of a silence after each word (and before the first).
      disambig_self_loop: add the ``#0:#0`` self-loop at the loop state (for L_disambig).
    """
    import kaldifst  # noqa: PLC0415

    if sil_token is not None and not 0.0 < sil_prob < 1.0:
        raise ValueError(f"sil_prob={sil_prob}: must be in (0, 1)")

    def token_id(word: str, token: str) -> int:
        if token not in token_table:
            raise ValueError(f"lexicon entry {word!r}: token {token!r} is not in tokens.txt")
        return token_table[token]

    def word_id(word: str) -> int:
        if word not in word_table:
            raise ValueError(f"lexicon word {word!r} is not in words.txt")
        return word_table[word]

    fst = kaldifst.StdVectorFst()
    if sil_token is None:
        loop = fst.add_state()
        fst.start = loop
        ends = [(loop, 0.0)]
    else:
        start, loop, sil_state = fst.add_state(), fst.add_state(), fst.add_state()
        fst.start = start
        sil_cost, no_sil_cost = -math.log(sil_prob), -math.log(1.0 - sil_prob)
        fst.add_arc(start, kaldifst.StdArc(0, 0, no_sil_cost, loop))
        fst.add_arc(start, kaldifst.StdArc(0, 0, sil_cost, sil_state))
        fst.add_arc(sil_state, kaldifst.StdArc(token_id("<sil>", sil_token), 0, 0.0, loop))
        ends = [(loop, no_sil_cost), (sil_state, sil_cost)]
    fst.set_final(loop, 0.0)

    for word, tokens in lexicon:
        if not tokens:
            raise ValueError(f"lexicon word {word!r} has no tokens")
        ids = [token_id(word, t) for t in tokens]
        if is_disambig_symbol(tokens[0]):
            raise ValueError(f"lexicon word {word!r} starts with a disambiguation symbol")
        state = loop
        for pos, tid in enumerate(ids[:-1]):
            nxt = fst.add_state()
            olabel = word_id(word) if pos == 0 else 0
            fst.add_arc(state, kaldifst.StdArc(tid, olabel, 0.0, nxt))
            state = nxt
        olabel = word_id(word) if len(ids) == 1 else 0
        for end, cost in ends:
            fst.add_arc(state, kaldifst.StdArc(ids[-1], olabel, cost, end))

    if disambig_self_loop:
        fst.add_arc(loop, kaldifst.StdArc(token_table["#0"], word_table["#0"], 0.0, loop))
    return fst
