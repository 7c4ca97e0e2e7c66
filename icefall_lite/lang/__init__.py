"""Lang directories: symbol tables, lexicons, BPE models, n-gram LMs and the L / G / LG graphs.

The ``lang/`` command-line tools are thin wrappers over these modules:

- :mod:`~icefall_lite.lang.symbol_table`: ``words.txt`` / ``tokens.txt``.
- :mod:`~icefall_lite.lang.lexicon`: ``lexicon.txt``, CMU dictionaries, disambiguation symbols.
- :mod:`~icefall_lite.lang.bpe`: sentencepiece models (``<blk>`` 0, ``<sos/eos>`` 1, ``<unk>`` 2).
- :mod:`~icefall_lite.lang.ngram`: interpolated modified Kneser-Ney, ARPA output;
  :mod:`~icefall_lite.lang.arpa`: structural checks of an ARPA file before kaldilm reads it.
- :mod:`~icefall_lite.lang.files`: input files named in every error (missing, non-UTF-8 lines).
- :mod:`~icefall_lite.lang.lexicon_fst`, :mod:`~icefall_lite.lang.grammar`,
  :mod:`~icefall_lite.lang.lg`: L, G (kaldilm) and LG (kaldifst).
- :mod:`~icefall_lite.lang.fst_convert`: OpenFst graphs to k2's ``Fsa.as_dict()`` format.
- :mod:`~icefall_lite.lang.lang_dir`: a whole lang directory (``prepare_lang``, ``build_lg``).
"""

from icefall_lite.lang.symbol_table import SymbolTable

__all__ = ["SymbolTable"]
