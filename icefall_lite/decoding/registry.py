"""Decoding methods by icefall's names, with one calling convention.

Each entry says which graph the method needs (``None``, ``"trivial"``, ``"LG"``) and whether
it returns token ids or word ids, so a recipe's decode.py needs no if/elif chain.

Example::

    >>> sorted(DECODING_METHODS)[:3]
    ['beam_search', 'fast_beam_search', 'fast_beam_search_LG']
    >>> DECODING_METHODS["fast_beam_search_nbest_LG"].graph
    'LG'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from icefall_lite.decoding.beam_search import beam_search, modified_beam_search
from icefall_lite.decoding.config import DecodingConfig
from icefall_lite.decoding.fast_beam_search import (
    fast_beam_search_nbest,
    fast_beam_search_nbest_LG,
    fast_beam_search_nbest_oracle,
    fast_beam_search_one_best,
)
from icefall_lite.decoding.greedy import greedy_search_batch
from icefall_lite.decoding.lattice import scale_graph

__all__ = ["DECODING_METHODS", "DecodingMethod", "decode", "make_decoding_graph"]


@dataclass(frozen=True)
class DecodingMethod:
    """A registered method. ``run(model, encoder_out, encoder_out_lens, config, graph,
    ref_texts)`` returns one id list per utterance (token ids if ``output == "tokens"``)."""

    name: str
    run: Callable
    graph: str | None
    output: str
    needs_ref: bool = False


def _fast_args(cfg: DecodingConfig) -> dict:
    return dict(beam=cfg.beam, max_states=cfg.max_states, max_contexts=cfg.max_contexts,
                temperature=cfg.temperature, allow_partial=cfg.allow_partial,
                use_double_scores=cfg.use_double_scores, blank_penalty=cfg.blank_penalty)


def _nbest_args(cfg: DecodingConfig) -> dict:
    return dict(_fast_args(cfg), num_paths=cfg.num_paths, nbest_scale=cfg.nbest_scale)


def _greedy(model, enc, lens, cfg, graph, refs):
    return greedy_search_batch(model, enc, lens, cfg.temperature, cfg.blank_penalty)


def _beam(model, enc, lens, cfg, graph, refs):
    return beam_search(model, enc, lens, cfg.beam_size, cfg.temperature,
                       blank_penalty=cfg.blank_penalty)


def _modified(model, enc, lens, cfg, graph, refs):
    return modified_beam_search(model, enc, lens, cfg.beam_size, cfg.temperature,
                                cfg.blank_penalty)


def _one_best(model, enc, lens, cfg, graph, refs):
    return fast_beam_search_one_best(model, graph, enc, lens, **_fast_args(cfg))


def _nbest(model, enc, lens, cfg, graph, refs):
    return fast_beam_search_nbest(model, graph, enc, lens, **_nbest_args(cfg))


def _nbest_lg(model, enc, lens, cfg, graph, refs):
    return fast_beam_search_nbest_LG(model, graph, enc, lens, **_nbest_args(cfg),
                                     log_semiring=cfg.nbest_lg_log_semiring)


def _oracle(model, enc, lens, cfg, graph, refs):
    return fast_beam_search_nbest_oracle(model, graph, enc, lens, refs, **_nbest_args(cfg))


DECODING_METHODS: dict[str, DecodingMethod] = {
    m.name: m
    for m in [
        DecodingMethod("greedy_search", _greedy, None, "tokens"),
        DecodingMethod("beam_search", _beam, None, "tokens"),
        DecodingMethod("modified_beam_search", _modified, None, "tokens"),
        DecodingMethod("fast_beam_search", _one_best, "trivial", "tokens"),
        DecodingMethod("fast_beam_search_LG", _one_best, "LG", "words"),
        DecodingMethod("fast_beam_search_nbest", _nbest, "trivial", "tokens"),
        DecodingMethod("fast_beam_search_nbest_LG", _nbest_lg, "LG", "words"),
        DecodingMethod("fast_beam_search_nbest_oracle", _oracle, "trivial", "tokens",
                       needs_ref=True),
    ]
}


def make_decoding_graph(method: str, vocab_size: int, LG=None,
                        ngram_lm_scale: float = DecodingConfig.ngram_lm_scale):
    """The graph ``method`` needs: None, ``trivial_graph(vocab_size - 1)``, or ``LG`` with its
    scores scaled by ``ngram_lm_scale`` (a copy; ``LG`` is left unchanged)."""
    kind = _lookup(method).graph
    if kind is None:
        return None
    if kind == "trivial":
        from icefall_lite import k2

        return k2.trivial_graph(vocab_size - 1)
    if LG is None:
        raise ValueError(f"decoding method {method!r} needs an LG graph (pass LG=...)")
    return scale_graph(LG, ngram_lm_scale)


def _lookup(method: str) -> DecodingMethod:
    if method not in DECODING_METHODS:
        raise ValueError(
            f"unknown decoding method {method!r}; choose one of {', '.join(DECODING_METHODS)}"
        )
    return DECODING_METHODS[method]


def decode(method: str, model, encoder_out: torch.Tensor, encoder_out_lens: torch.Tensor,
           config: DecodingConfig | None = None, graph=None,
           ref_texts: list[list[int]] | None = None) -> list[list[int]]:
    """Run the method called ``method`` (icefall's name) on a batch."""
    m = _lookup(method)
    if m.graph is not None and graph is None:
        raise ValueError(f"decoding method {method!r} needs a decoding graph "
                         "(see make_decoding_graph)")
    if m.needs_ref and ref_texts is None:
        raise ValueError(f"decoding method {method!r} needs ref_texts (reference token ids)")
    return m.run(model, encoder_out, encoder_out_lens, config or DecodingConfig(), graph,
                 ref_texts)
