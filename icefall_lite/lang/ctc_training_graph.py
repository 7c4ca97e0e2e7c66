"""CTC training graphs through the lexicon: each transcript becomes ``H o (L o W)``, where W
is the linear acceptor of its word ids, L the lang dir's lexicon transducer (``L.pt``, token
ids -> word ids) and H the standard CTC topology.

Why through L and not straight from the token sequence: L carries the lang dir's optional
silence (a phone lang dir's ``SIL`` before the first word and after every word, probability
``sil_prob`` each), so the training graph lets the model emit ``SIL`` in the pauses or not,
weighted as in decoding with HLG. A plain ``ctc_graph`` of the pronunciations leaves the
pauses to blank only, and its model never learns the ``SIL`` that HLG offers.

The graphs are built with k2's operations, as icefall's CTC graph compiler does: W with
epsilon self-loops intersected with ``invert(L)`` (epsilons matched as ordinary labels), the
result inverted (labels tokens, aux_labels words), its token epsilons removed, epsilon
self-loops added, and composed with H. All runs in the backend of the given L (real k2 or the
built-in one; :meth:`CtcTrainingGraphCompiler.from_lang_dir` loads L for the facade's).

Example::

    compiler = CtcTrainingGraphCompiler.from_lang_dir("data/lang_phone")
    graphs = compiler.compile(["YES NO", "NO"])         # FsaVec: labels tokens, aux words
    loss = k2.ctc_loss(graphs, dense_fsa_vec, reduction="sum")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from icefall_lite import k2
from icefall_lite.fsa import load_fsa
from icefall_lite.k2 import namespace_of
from icefall_lite.lang.files import require_file
from icefall_lite.lang.symbol_table import SymbolTable, is_disambig_symbol


class CtcTrainingGraphCompiler:
    """Transcripts -> CTC training graphs through the lexicon L (see the module doc).

    Args:
      L: the lexicon transducer (labels token ids, aux_labels word ids, no disambiguation
        symbols: ``L.pt``, not ``L_disambig.pt``), of the facade's backend.
      words: the word table; words of a transcript that it lacks become ``oov``.
      max_token_id: the largest token id (blank 0 included in the model's classes
        ``0..max_token_id``).
      oov: the word standing for unknown words (must be in ``words``); None: a transcript
        word missing from ``words`` is an error (a lang dir without ``<unk>``).
    """

    def __init__(self, L, words: SymbolTable, max_token_id: int, oov: str | None = "<unk>",
                 device: str | torch.device = "cpu"):
        if oov is not None and oov not in words:
            raise ValueError(f"the OOV word {oov!r} is not in the word table")
        top = int(L.labels.max()) if L.num_arcs else 0
        if top > max_token_id:
            raise ValueError(f"L has token id {top} but the tokens end at {max_token_id}")
        self.words = words
        self.oov_id = words[oov] if oov is not None else None
        self.device = torch.device(device)
        self.k2 = namespace_of(L)
        self.L_inv = self.k2.arc_sort(self.k2.invert(L.to(self.device)))
        self.H = self.k2.ctc_topo(max_token_id, modified=False, device=self.device)

    @classmethod
    def from_lang_dir(cls, lang_dir: str | Path, oov: str | None = "<unk>",
                      device: str | torch.device = "cpu") -> CtcTrainingGraphCompiler:
        """The compiler of a lang dir: its ``L.pt``, ``words.txt`` and ``tokens.txt`` (the
        largest token id that is not a disambiguation symbol ``#k``). ``oov=None`` for a lang
        dir without an OOV word (``prepare_lang --unk-phone none``)."""
        lang_dir = Path(lang_dir)
        tokens = SymbolTable.from_file(require_file(lang_dir / "tokens.txt", "token table"))
        words = SymbolTable.from_file(require_file(lang_dir / "words.txt", "word table"))
        L = load_fsa(require_file(lang_dir / "L.pt", "lexicon FSA L.pt (prepare_lang)"))
        if k2.backend == "k2":
            L = k2.Fsa.from_dict(L.as_dict())
        max_token = max(tokens[s] for s in tokens.symbols if not is_disambig_symbol(s))
        return cls(L, words, max_token, oov, device)

    def word_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The word ids of each transcript (unknown words -> the OOV id)."""
        if self.oov_id is None:
            missing = sorted({w for text in texts for w in text.split() if w not in self.words})
            if missing:
                raise ValueError(f"words {missing} are not in the word table, and it has no "
                                 "OOV word to map them to")
        return [[self.words[w] if w in self.words else self.oov_id for w in text.split()]
                for text in texts]

    def transcript_fsa(self, texts: Sequence[str]):
        """FsaVec of ``L o W`` per transcript: labels token ids (epsilons where L has them),
        aux_labels word ids, scores L's (the silence log-probabilities); arc-sorted."""
        ns = self.k2
        W = ns.add_epsilon_self_loops(ns.linear_fsa(self.word_ids(texts), self.device))
        lw = ns.intersect(self.L_inv, W, treat_epsilons_specially=False)
        return ns.arc_sort(ns.invert(lw))

    def compile(self, texts: Sequence[str]):
        """FsaVec of the CTC training graphs ``H o L o W``, one per transcript (labels token
        ids with blank 0, aux_labels word ids)."""
        ns = self.k2
        lw = ns.arc_sort(ns.remove_epsilon_and_add_self_loops(self.transcript_fsa(texts)))
        return ns.compose(self.H, lw, treat_epsilons_specially=False)


__all__ = ["CtcTrainingGraphCompiler"]
