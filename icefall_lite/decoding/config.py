"""Decoding hyperparameters: one dataclass, icefall's decode.py defaults
(docs/design/algorithms.rst §4).

Example::

    >>> cfg = DecodingConfig()
    >>> (cfg.beam, cfg.max_contexts, cfg.max_states, cfg.num_paths)
    (20.0, 8, 64, 200)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class DecodingConfig:
    """Settings shared by the decoding methods; each method reads the fields it needs.

    Args:
      beam: ``fast_beam_search*`` — score beam of the search (per stream, per frame).
      max_contexts: ``fast_beam_search*`` — most decoder contexts kept per stream and frame.
      max_states: ``fast_beam_search*`` — most (context, graph state) pairs kept per stream and
        frame.
      beam_size: beam_search / modified_beam_search — number of hypotheses kept.
      num_paths: ``fast_beam_search_nbest*`` — paths sampled from the lattice.
      nbest_scale: ``fast_beam_search_nbest*`` — lattice scores are scaled by this before sampling
        (smaller = more diverse paths).
      ngram_lm_scale: ``*_LG`` — LG scores are scaled by this once (see :func:`scale_graph`).
      allow_partial: ``fast_beam_search*`` — when no state reaches a final graph state on the last
        frame, use every last-frame state as final instead of returning nothing.
      temperature: joiner logits are divided by this before the log-softmax.
      blank_penalty: every method subtracts this from the joiner's blank logit (before the
        temperature; icefall's ``--blank-penalty``): a positive value trades deletions for
        insertions.
      use_double_scores: lattice algorithms work in float64.
      nbest_lg_log_semiring: ``fast_beam_search_nbest_LG`` — score each sampled word sequence by
        the log-semiring total over all its alignments in the lattice (icefall's choice, the
        default); false: by its best alignment, as ``fast_beam_search_nbest`` scores token
        sequences (AN4's RESULTS.md measures both).
    """

    beam: float = 20.0
    max_contexts: int = 8
    max_states: int = 64
    beam_size: int = 4
    num_paths: int = 200
    nbest_scale: float = 0.5
    ngram_lm_scale: float = 0.01
    allow_partial: bool = True
    temperature: float = 1.0
    blank_penalty: float = 0.0
    use_double_scores: bool = True
    nbest_lg_log_semiring: bool = field(default=True, metadata={
        "help": "fast_beam_search_nbest_LG: 1 = score a word sequence by the log-semiring total "
                "over its alignments (icefall); 0 = by its best alignment"})

    def __post_init__(self) -> None:
        for name in ("max_contexts", "max_states", "beam_size", "num_paths"):
            if getattr(self, name) < 1:
                raise ValueError(f"DecodingConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("beam", "nbest_scale", "temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"DecodingConfig.{name} must be > 0, got {getattr(self, name)}")
        if not math.isfinite(self.blank_penalty):
            raise ValueError(f"DecodingConfig.blank_penalty must be finite, got "
                             f"{self.blank_penalty}")
