"""One search, offline or chunk by chunk: the per-utterance state each method carries between
calls, and the step that advances it (the same step functions the offline methods use).

=============================  ===================================================
method                         state of one utterance
=============================  ===================================================
greedy_search                  decoder context + tokens (a list)
beam_search                    :class:`~icefall_lite.decoding.beam_search.HypothesisList`
modified_beam_search           :class:`~icefall_lite.decoding.beam_search.HypothesisList`
fast_beam_search* (5 methods)  ``RnntDecodingStream`` on the method's graph
=============================  ===================================================

Example::

    >>> import torch
    >>> from torch import nn
    >>> from icefall_lite.decoding.beam_search import modified_beam_search
    >>> from icefall_lite.models import Decoder, Joiner
    >>> model = nn.Module()  # what a search needs of a transducer: decoder and joiner
    >>> model.decoder = Decoder(vocab_size=10, decoder_dim=16, blank_id=0, context_size=2)
    >>> model.joiner = Joiner(encoder_dim=8, decoder_dim=16, joiner_dim=16, vocab_size=10)
    >>> search = StreamSearch("modified_beam_search", model, DecodingConfig())
    >>> states = [search.init_state() for _ in range(2)]
    >>> encoder_out = torch.randn(2, 8, 8)  # [N, T, C]
    >>> for chunk in encoder_out.split(4, dim=1):  # two chunks of 4 frames
    ...     search.step(states, model.joiner.encoder_proj(chunk))
    >>> hyps = search.finish(states, num_frames=[8, 8])
    >>> hyps == modified_beam_search(model, encoder_out, torch.tensor([8, 8]), beam_size=4)
    True
"""

from __future__ import annotations

from typing import Any

import torch

from icefall_lite.decoding.beam_search import (
    beam_search_step,
    best_tokens,
    initial_beam,
    modified_beam_search_step,
)
from icefall_lite.decoding.config import DecodingConfig
from icefall_lite.decoding.fast_beam_search import (
    fast_beam_search_step,
    lattice_of,
    nbest_of,
    one_best_of,
    oracle_of,
    rnnt_decoding_config,
)
from icefall_lite.decoding.greedy import greedy_search_step, initial_context
from icefall_lite.decoding.lattice import check_decoding_graph, get_texts, namespace_of
from icefall_lite.decoding.registry import DECODING_METHODS

__all__ = ["Alignment", "StreamSearch", "lattice_answer"]

#: One utterance's best path: its tokens, the encoder frame of each token, and its output ids
#: (the tokens, or the words of an LG graph).
Alignment = tuple[list[int], list[int], list[int]]


def lattice_answer(method: str, lattice, config: DecodingConfig,
                   ref_texts: list[list[int]] | None = None) -> list[list[int]]:
    """The answer of the lattice-based ``method`` (a ``fast_beam_search*`` name) on
    ``lattice``."""
    c = config
    if method in ("fast_beam_search", "fast_beam_search_LG"):
        return one_best_of(lattice, c.use_double_scores)
    if method == "fast_beam_search_nbest":
        return nbest_of(lattice, c.num_paths, c.nbest_scale, c.use_double_scores, False)
    if method == "fast_beam_search_nbest_LG":
        return nbest_of(lattice, c.num_paths, c.nbest_scale, c.use_double_scores,
                        c.nbest_lg_log_semiring)
    if method == "fast_beam_search_nbest_oracle":
        if ref_texts is None:
            raise ValueError(f"{method} needs ref_texts (reference token ids)")
        return oracle_of(lattice, ref_texts, c.num_paths, c.nbest_scale, c.use_double_scores)
    raise ValueError(f"{method!r} is not a lattice-based method")


class StreamSearch:
    """The search of ``method`` over utterances whose encoder frames come in pieces.

    ``step(states, projected)`` advances the states of a batch of utterances over the
    projected encoder frames ``[N, T, J]`` (``joiner.encoder_proj`` applied); ``finish`` gives
    the token (or word) ids of some of them. States of different utterances may join and leave
    the batch between steps (streaming with a changing set of active streams).
    """

    def __init__(self, method: str, model, config: DecodingConfig | None = None,
                 graph=None) -> None:
        if method not in DECODING_METHODS:
            raise ValueError(f"unknown decoding method {method!r}; choose one of "
                             f"{', '.join(DECODING_METHODS)}")
        self.method = method
        self.model = model
        self.config = config or DecodingConfig()
        self.context_size = model.decoder.context_size
        self.blank_id = model.decoder.blank_id
        self.graph = graph
        self._decoding = None  # fast_beam_search*: the streams of the last step
        if DECODING_METHODS[method].graph is not None:
            if graph is None:
                raise ValueError(f"decoding method {method!r} needs a decoding graph "
                                 "(see make_decoding_graph)")
            check_decoding_graph(graph)
            self.ns = namespace_of(graph)
            c = self.config
            self.rnnt_config = rnnt_decoding_config(model, self.ns, c.beam, c.max_states,
                                                    c.max_contexts)

    @property
    def is_lattice_method(self) -> bool:
        return self.graph is not None

    def init_state(self) -> Any:
        """The state of a new utterance."""
        if self.method == "greedy_search":
            return initial_context(self.context_size, self.blank_id)
        if self.method in ("beam_search", "modified_beam_search"):
            return initial_beam(self.context_size, self.blank_id)
        return self.ns.RnntDecodingStream(self.graph)

    @torch.no_grad()
    def step(self, states: list, projected: torch.Tensor,
             lens: torch.Tensor | None = None,
             token_frames: list[list[int]] | None = None) -> None:
        """Advance ``states`` (one per row of ``projected``; updated in place) over the frames
        of ``projected``; row ``n`` only over its first ``lens[n]`` frames (default all).
        ``token_frames`` (greedy_search only; one list per state, extended in place) receives
        the frame (index into ``projected``'s frames) of each token the step adds."""
        c, model = self.config, self.model
        if token_frames is not None and self.method != "greedy_search":
            raise ValueError(f"token_frames is for greedy_search, not {self.method!r}")
        if self.method == "greedy_search":
            greedy_search_step(model, projected, states, lens, c.blank_penalty, token_frames)
        elif self.method == "modified_beam_search":
            modified_beam_search_step(model, projected, states, lens, c.beam_size,
                                      c.temperature, c.blank_penalty)
        elif self.method == "beam_search":
            for n in range(len(states)):
                frames = projected[n] if lens is None else projected[n, : int(lens[n])]
                states[n] = beam_search_step(model, frames, states[n], c.beam_size,
                                             c.temperature, c.blank_penalty)
        else:
            num_frames = projected.shape[1] if lens is None else int(lens.max())
            self._decoding = fast_beam_search_step(model, states, self.rnnt_config, self.ns,
                                                   projected, num_frames, c.temperature,
                                                   c.blank_penalty)

    def finish(self, states: list, num_frames: list[int], which: list[int] | None = None,
               ref_texts: list[list[int]] | None = None) -> list[list[int]]:
        """Ids of the utterances ``which`` (indexes into ``states``, default all); for the
        lattice methods ``states`` must be those of the last :meth:`step`, ``num_frames`` their
        frames decoded so far, ``ref_texts`` the references of ``which`` (oracle)."""
        which = list(range(len(states))) if which is None else which
        if self.method == "greedy_search":
            return [states[i][self.context_size:] for i in which]
        if self.method in ("beam_search", "modified_beam_search"):
            return [best_tokens(states[i], self.context_size) for i in which]
        if self._decoding is None:
            raise ValueError("finish() of a lattice method needs a step() first")
        lattice = lattice_of(self._decoding, list(num_frames), self.config.allow_partial)
        if which != list(range(len(states))):
            lattice = self.ns.index_fsa(lattice, torch.tensor(which, dtype=torch.int32))
        return lattice_answer(self.method, lattice, self.config, ref_texts)

    def best_alignments(self, states: list, num_frames: list[int]) -> list[Alignment]:
        """``fast_beam_search`` / ``fast_beam_search_LG`` after a :meth:`step` of ``states``:
        each utterance's best path over its first ``num_frames`` frames as (tokens, the frame
        of each token, output ids); the output ids are :meth:`finish`'s answer. The lattice has
        one arc per frame (a token or blank) before its final arc, so a token's frame is the
        position of its arc on the path."""
        if self.method not in ("fast_beam_search", "fast_beam_search_LG"):
            raise ValueError(f"best_alignments is for the one-best lattice methods, not "
                             f"{self.method!r}")
        if self._decoding is None or len(num_frames) != len(states):
            raise ValueError("best_alignments() needs a step() of the same states first")
        lattice = lattice_of(self._decoding, list(num_frames), self.config.allow_partial)
        best = self.ns.shortest_path(lattice, use_double_scores=self.config.use_double_scores)
        outputs = get_texts(best)
        shape = best.arcs.shape()
        splits = shape.row_splits(2)[shape.row_splits(1).long()].tolist()
        labels = best.labels.tolist()
        alignments = []
        for n, words in enumerate(outputs):
            path = labels[splits[n] : splits[n + 1]]
            frames = [t for t, y in enumerate(path) if y > 0]
            alignments.append(([path[t] for t in frames], frames, words))
        return alignments
