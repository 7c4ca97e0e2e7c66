"""Transducer decoding: greedy, beam, modified beam, fast_beam_search (trivial graph or LG)
with one-best / n-best / oracle answers, a registry by icefall's method names, and result files.

Example::

    >>> from icefall_lite.decoding import DECODING_METHODS, DecodingConfig, decode
    >>> "fast_beam_search_nbest_LG" in DECODING_METHODS
    True
    >>> import torch
    >>> from torch import nn
    >>> from icefall_lite.models import Decoder, Joiner
    >>> model = nn.Module()
    >>> model.decoder = Decoder(vocab_size=10, decoder_dim=16, blank_id=0, context_size=2)
    >>> model.joiner = Joiner(encoder_dim=8, decoder_dim=16, joiner_dim=16, vocab_size=10)
    >>> hyps = decode("modified_beam_search", model, torch.randn(2, 6, 8), torch.tensor([6, 4]))
    >>> len(hyps), all(0 < t < 10 for h in hyps for t in h)  # token ids, blank (0) removed
    (2, True)
"""

from icefall_lite.decoding.beam_search import (
    beam_search,
    beam_search_step,
    modified_beam_search,
    modified_beam_search_step,
)
from icefall_lite.decoding.config import DecodingConfig
from icefall_lite.decoding.fast_beam_search import (
    edit_distance,
    fast_beam_search,
    fast_beam_search_nbest,
    fast_beam_search_nbest_LG,
    fast_beam_search_nbest_oracle,
    fast_beam_search_one_best,
    fast_beam_search_step,
)
from icefall_lite.decoding.greedy import greedy_search_batch, greedy_search_step
from icefall_lite.decoding.lattice import get_texts, scale_graph
from icefall_lite.decoding.nbest import Nbest
from icefall_lite.decoding.registry import (
    DECODING_METHODS,
    DecodingMethod,
    decode,
    make_decoding_graph,
)
from icefall_lite.decoding.results import (
    kaldi_wer_line,
    real_time_factor,
    result_suffix,
    wer_stats,
    write_results,
)
from icefall_lite.decoding.stream_search import StreamSearch, lattice_answer

__all__ = [
    "DECODING_METHODS",
    "DecodingConfig",
    "DecodingMethod",
    "Nbest",
    "StreamSearch",
    "beam_search",
    "beam_search_step",
    "decode",
    "edit_distance",
    "fast_beam_search",
    "fast_beam_search_nbest",
    "fast_beam_search_nbest_LG",
    "fast_beam_search_nbest_oracle",
    "fast_beam_search_one_best",
    "fast_beam_search_step",
    "get_texts",
    "greedy_search_batch",
    "greedy_search_step",
    "kaldi_wer_line",
    "lattice_answer",
    "make_decoding_graph",
    "modified_beam_search",
    "modified_beam_search_step",
    "real_time_factor",
    "result_suffix",
    "scale_graph",
    "wer_stats",
    "write_results",
]
