"""fast_beam_search: RNN-T decoding against a graph into a lattice, and the methods built on
the lattice (docs/design/algorithms.rst §4, §5).

The graph is ``k2.trivial_graph(vocab_size - 1)`` (no language model; outputs are token ids)
or an epsilon-free LG scaled by ``ngram_lm_scale`` (labels are token ids, ``aux_labels`` word
ids; outputs are word ids). Which k2 backend decodes follows the graph: a built-in ``Fsa``
decodes with the built-in code, a real ``k2.Fsa`` with real k2.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from icefall_lite.models import Decoder, Joiner
    >>> model = nn.Module()  # what a search needs of a transducer: decoder and joiner
    >>> model.decoder = Decoder(vocab_size=10, decoder_dim=16, blank_id=0, context_size=2)
    >>> model.joiner = Joiner(encoder_dim=8, decoder_dim=16, joiner_dim=16, vocab_size=10)
    >>> enc, enc_lens = torch.randn(2, 6, 8), torch.tensor([6, 4])  # [N, T, C], [N]
    >>> from icefall_lite import k2
    >>> graph = k2.trivial_graph(model.decoder.vocab_size - 1)
    >>> hyps = fast_beam_search_one_best(model, graph, enc, enc_lens)
    >>> [len(h) <= n for h, n in zip(hyps, [6, 4])]  # every arc consumes a frame
    [True, True]
"""

from __future__ import annotations

import torch

from icefall_lite.decoding.greedy import (
    _check_inputs,
    joiner_log_probs,
    run_decoder,
    stream_contexts,
)
from icefall_lite.decoding.lattice import (
    check_decoding_graph,
    clear_final_outputs,
    get_texts,
    namespace_of,
)
from icefall_lite.decoding.nbest import Nbest

__all__ = [
    "advance_frames",
    "edit_distance",
    "fast_beam_search",
    "fast_beam_search_nbest",
    "fast_beam_search_nbest_LG",
    "fast_beam_search_nbest_oracle",
    "fast_beam_search_one_best",
    "fast_beam_search_step",
    "lattice_of",
    "nbest_of",
    "one_best_of",
    "oracle_of",
    "rnnt_decoding_config",
]


def advance_frames(model, streams, projected: torch.Tensor, num_frames: int,
                   temperature: float = 1.0, blank_penalty: float = 0.0) -> None:
    """Advance ``RnntDecodingStreams`` over frames ``0..num_frames-1`` of ``projected``
    (``[N, T, J]``, the joiner's encoder projection): per frame, the decoder and joiner on the
    streams' distinct contexts (mapped to the training start context, :func:`stream_contexts`),
    then ``streams.advance``. Shared by the offline and the streaming (chunk-wise) search."""
    for t in range(num_frames):
        shape, contexts = streams.get_contexts()
        owner = shape.row_ids(1).long()
        decoder_out = run_decoder(model, stream_contexts(contexts, model.decoder.blank_id))
        streams.advance(joiner_log_probs(model, projected[owner, t], decoder_out, temperature,
                                         blank_penalty))


def rnnt_decoding_config(model, ns, beam: float = 20.0, max_states: int = 64,
                         max_contexts: int = 8):
    """``ns.RnntDecodingConfig`` (``ns``: the graph's k2 namespace) for ``model``'s decoder."""
    return ns.RnntDecodingConfig(vocab_size=model.decoder.vocab_size,
                                 decoder_history_len=model.decoder.context_size, beam=beam,
                                 max_states=max_states, max_contexts=max_contexts)


@torch.no_grad()
def fast_beam_search_step(model, streams: list, rnnt_config, ns, projected: torch.Tensor,
                          num_frames: int, temperature: float = 1.0,
                          blank_penalty: float = 0.0):
    """Advance the ``RnntDecodingStream`` s ``streams`` (one per row of ``projected``, ``[N, T,
    J]`` through ``joiner.encoder_proj``) over frames ``0..num_frames-1``, then flush the search
    state back into them. Returns the ``RnntDecodingStreams`` for :func:`lattice_of`. Offline
    decoding calls it once, streaming once per chunk."""
    decoding = ns.RnntDecodingStreams(streams, rnnt_config)
    advance_frames(model, decoding, projected, num_frames, temperature, blank_penalty)
    decoding.terminate_and_flush_to_streams()
    return decoding


def lattice_of(decoding, num_frames: list[int], allow_partial: bool = True):
    """The lattice of the streams of :func:`fast_beam_search_step`'s result over their first
    ``num_frames`` frames (final arcs output nothing, see
    :func:`~icefall_lite.decoding.lattice.clear_final_outputs`)."""
    return clear_final_outputs(decoding.format_output(num_frames, allow_partial=allow_partial))


@torch.no_grad()
def fast_beam_search(
    model,
    decoding_graph,
    encoder_out: torch.Tensor,
    encoder_out_lens: torch.Tensor,
    beam: float = 20.0,
    max_states: int = 64,
    max_contexts: int = 8,
    temperature: float = 1.0,
    allow_partial: bool = True,
    blank_penalty: float = 0.0,
):
    """Decode a batch against ``decoding_graph`` and return the lattice (an FsaVec, one FSA per
    utterance; labels = token ids, scores = acoustic + graph, aux_labels from the graph, except
    that final arcs output nothing, see :func:`~icefall_lite.decoding.lattice.clear_final_outputs`).

    Args:
      model: transducer (see :mod:`icefall_lite.decoding.greedy`).
      decoding_graph: single epsilon-free FSA (trivial graph or scaled LG).
      encoder_out: ``[N, T, C]``; encoder_out_lens: ``[N]`` (each >= 1).
      beam, max_states, max_contexts: search limits (see ``k2.RnntDecodingConfig``).
      temperature: joiner logits are divided by it before the log-softmax.
      allow_partial: use all last-frame states as final where no final graph state is reached.
      blank_penalty: subtracted from the blank logit before the temperature and log-softmax.
    """
    _check_inputs(encoder_out, encoder_out_lens)
    check_decoding_graph(decoding_graph)
    if encoder_out.shape[0] == 0 or int(encoder_out_lens.min()) < 1:
        raise ValueError("fast_beam_search needs a non-empty batch with encoder_out_lens >= 1")
    ns = namespace_of(decoding_graph)
    config = rnnt_decoding_config(model, ns, beam, max_states, max_contexts)
    streams = [ns.RnntDecodingStream(decoding_graph) for _ in range(encoder_out.shape[0])]
    decoding = fast_beam_search_step(model, streams, config, ns,
                                     model.joiner.encoder_proj(encoder_out),
                                     int(encoder_out_lens.max()), temperature, blank_penalty)
    return lattice_of(decoding, encoder_out_lens.tolist(), allow_partial)


def one_best_of(lattice, use_double_scores: bool = True) -> list[list[int]]:
    """The best path's outputs of each lattice: token ids (trivial graph) or word ids (LG)."""
    ns = namespace_of(lattice)
    return get_texts(ns.shortest_path(lattice, use_double_scores=use_double_scores))


def nbest_of(lattice, num_paths: int = 200, nbest_scale: float = 0.5,
             use_double_scores: bool = True, log_semiring: bool = False) -> list[list[int]]:
    """Sample ``num_paths`` paths, keep the distinct output sequences, score each by its best
    alignment (``log_semiring`` False) or the total over its alignments, return the best."""
    nbest = Nbest.from_lattice(lattice, num_paths, use_double_scores, nbest_scale)
    scores = nbest.tot_scores(nbest.intersect(lattice), log_semiring, use_double_scores)
    return nbest.best(scores)


def edit_distance(ref: list[int], hyp: list[int]) -> int:
    """Levenshtein distance between two sequences (insertions, deletions, substitutions = 1),
    by kaldialign."""
    import kaldialign  # noqa: PLC0415 - needed by the oracle only

    return int(kaldialign.edit_distance(list(ref), list(hyp))["total"])


def oracle_of(lattice, ref_texts: list[list[int]], num_paths: int = 200,
              nbest_scale: float = 0.5, use_double_scores: bool = True) -> list[list[int]]:
    """Among the sampled distinct sequences of each lattice, the one with the fewest edits
    against ``ref_texts[i]`` (token ids): the best any rescoring of these paths could reach."""
    nbest = Nbest.from_lattice(lattice, num_paths, use_double_scores, nbest_scale)
    owner = nbest.path_to_utt.tolist()
    errors = torch.tensor(
        [float(edit_distance(ref_texts[u], s)) for u, s in zip(owner, nbest.sequences)],
        dtype=torch.float64,
    )
    return nbest.best(errors, largest=False)


def fast_beam_search_one_best(
    model, decoding_graph, encoder_out, encoder_out_lens, beam: float = 20.0,
    max_states: int = 64, max_contexts: int = 8, temperature: float = 1.0,
    allow_partial: bool = True, use_double_scores: bool = True, blank_penalty: float = 0.0,
) -> list[list[int]]:
    """The best path of the lattice: token ids (trivial graph) or word ids (LG)."""
    lattice = fast_beam_search(model, decoding_graph, encoder_out, encoder_out_lens, beam,
                               max_states, max_contexts, temperature, allow_partial,
                               blank_penalty)
    return one_best_of(lattice, use_double_scores)


def fast_beam_search_nbest(
    model, decoding_graph, encoder_out, encoder_out_lens, beam: float = 20.0,
    max_states: int = 64, max_contexts: int = 8, num_paths: int = 200, nbest_scale: float = 0.5,
    temperature: float = 1.0, allow_partial: bool = True, use_double_scores: bool = True,
    blank_penalty: float = 0.0,
) -> list[list[int]]:
    """Sample ``num_paths`` paths, keep the distinct token sequences, score each by its best
    alignment in the lattice (tropical), return the best sequence per utterance."""
    lattice = fast_beam_search(model, decoding_graph, encoder_out, encoder_out_lens, beam,
                               max_states, max_contexts, temperature, allow_partial,
                               blank_penalty)
    return nbest_of(lattice, num_paths, nbest_scale, use_double_scores, False)


def fast_beam_search_nbest_LG(
    model, decoding_graph, encoder_out, encoder_out_lens, beam: float = 20.0,
    max_states: int = 64, max_contexts: int = 8, num_paths: int = 200, nbest_scale: float = 0.5,
    temperature: float = 1.0, allow_partial: bool = True, use_double_scores: bool = True,
    blank_penalty: float = 0.0, log_semiring: bool = True,
) -> list[list[int]]:
    """As :func:`fast_beam_search_nbest` on an LG lattice: distinct word sequences, each scored
    by the log-semiring total over its token alignments (icefall), or with
    ``log_semiring=False`` by its best alignment; returns word ids."""
    lattice = fast_beam_search(model, decoding_graph, encoder_out, encoder_out_lens, beam,
                               max_states, max_contexts, temperature, allow_partial,
                               blank_penalty)
    return nbest_of(lattice, num_paths, nbest_scale, use_double_scores, log_semiring)


def fast_beam_search_nbest_oracle(
    model, decoding_graph, encoder_out, encoder_out_lens, ref_texts: list[list[int]],
    beam: float = 20.0, max_states: int = 64, max_contexts: int = 8, num_paths: int = 200,
    nbest_scale: float = 0.5, temperature: float = 1.0, allow_partial: bool = True,
    use_double_scores: bool = True, blank_penalty: float = 0.0,
) -> list[list[int]]:
    """Among the sampled distinct sequences, the one with the fewest edits against
    ``ref_texts[i]`` (token ids): the best any rescoring of these paths could reach."""
    if len(ref_texts) != encoder_out.shape[0]:
        raise ValueError(
            f"ref_texts has {len(ref_texts)} entries, expected one per utterance "
            f"({encoder_out.shape[0]})"
        )
    lattice = fast_beam_search(model, decoding_graph, encoder_out, encoder_out_lens, beam,
                               max_states, max_contexts, temperature, allow_partial,
                               blank_penalty)
    return oracle_of(lattice, ref_texts, num_paths, nbest_scale, use_double_scores)
