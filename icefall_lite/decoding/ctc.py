"""CTC decoding methods by icefall's names, on the CTC head's log-probs ``[N, T, C]``.

- ``ctc-greedy-search``: arg-max per frame, repeats merged, blanks dropped (token ids);
- ``ctc-decoding``: the best path of ``intersect_dense_pruned(H, ...)`` with H =
  ``ctc_topo(C - 1)`` (token ids);
- ``1best``: the best path through HLG (word ids).

The lattice methods (:data:`LATTICE_METHODS`, word ids, on the HLG lattice; see
:mod:`icefall_lite.decoding.rescore`):

- ``nbest``: ``num_paths`` sampled paths, one per word sequence, the best-scoring one;
- ``nbest-rescoring``: those sequences rescored with a larger n-gram ``G``, one result per
  LM scale (``am / lm_scale + lm``);
- ``whole-lattice-rescoring``: the lattice's LM scores replaced by ``G``'s (intersection with
  ``G`` carrying epsilon self-loops), one best path per LM scale;
- ``nbest-oracle``: the sampled sequence closest to the reference (needs ``ref_texts`` and
  ``word_table``).

:func:`ctc_decode_keyed` returns every result under icefall's key (``no_rescore``,
``no_rescore-nbest-scale-0.5-100``, ``lm_scale_0.5``, ``oracle_100_nbest_scale_0.5``, ...);
:func:`ctc_decode` returns the only one (a sweep over several LM scales needs the keyed form).

Example::

    >>> import torch
    >>> log_probs = torch.full((1, 5, 4), -10.0)  # [N, T, C]: frames peaked on 1 1 0 2 2
    >>> for t, c in enumerate([1, 1, 0, 2, 2]):
    ...     log_probs[0, t, c] = 0.0
    >>> lens = torch.tensor([5])
    >>> ctc_decode("ctc-greedy-search", log_probs, lens)  # repeats merged, blank dropped
    [[1, 2]]
    >>> ctc_decode("ctc-decoding", log_probs, lens, graph=k2.ctc_topo(3))
    [[1, 2]]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from icefall_lite import k2
from icefall_lite.decoding import rescore
from icefall_lite.decoding.lattice import get_texts, namespace_of
from icefall_lite.decoding.rescore import one_best_decoding
from icefall_lite.lang.symbol_table import SymbolTable, is_disambig_symbol

CTC_METHODS = ("ctc-greedy-search", "ctc-decoding", "1best")
LATTICE_METHODS = ("nbest", "nbest-rescoring", "whole-lattice-rescoring", "nbest-oracle")
_NEEDS_G = ("nbest-rescoring", "whole-lattice-rescoring")


def ctc_greedy_search(ctc_output: torch.Tensor, encoder_out_lens: torch.Tensor,
                      blank_id: int = 0) -> list[list[int]]:
    """Arg-max token of each frame within ``encoder_out_lens``, consecutive repeats merged
    and blanks removed (icefall's ``ctc_greedy_search``), for the whole batch at once."""
    best = ctc_output.argmax(dim=-1)  # [N, T]
    n, t = best.shape
    lens = encoder_out_lens.to(best.device).long()
    valid = torch.arange(t, device=best.device).unsqueeze(0) < lens.unsqueeze(1)
    new = torch.ones_like(valid)
    new[:, 1:] = best[:, 1:] != best[:, :-1]
    keep = valid & new & (best != blank_id)
    counts = keep.sum(1).tolist()
    return [v.tolist() for v in torch.split(best[keep], counts)]


def supervision_segments(encoder_out_lens: torch.Tensor) -> torch.Tensor:
    """``[N, 3]`` int32 CPU rows ``(i, 0, length_i)``: one segment per utterance."""
    lens = encoder_out_lens.detach().cpu().to(torch.int32)
    idx = torch.arange(lens.numel(), dtype=torch.int32)
    return torch.stack([idx, torch.zeros_like(idx), lens], 1)


def get_lattice(nnet_output: torch.Tensor, decoding_graph, supervision_segments: torch.Tensor,
                search_beam: float, output_beam: float, min_active_states: int,
                max_active_states: int, subsampling_factor: int = 1):
    """icefall's ``get_lattice``: the pruned intersection of ``decoding_graph`` with the
    log-probs cut into ``supervision_segments`` (``allow_truncate = subsampling_factor - 1``).
    """
    check_graph_vocabulary(decoding_graph, nnet_output.shape[-1])
    ns = namespace_of(decoding_graph)  # the graph's backend decodes it
    dense = ns.DenseFsaVec(nnet_output, supervision_segments,
                           allow_truncate=subsampling_factor - 1)
    return ns.intersect_dense_pruned(decoding_graph, dense, search_beam=search_beam,
                                     output_beam=output_beam,
                                     min_active_states=min_active_states,
                                     max_active_states=max_active_states)


def check_graph_vocabulary(graph, num_classes: int) -> None:
    """A clear error when the graph's labels do not fit the model's output classes (e.g. an
    HLG built from a lang dir with more tokens than the model)."""
    labels = graph.labels
    if labels.numel() and int(labels.max()) >= num_classes:
        raise ValueError(
            f"the decoding graph has token ids up to {int(labels.max())}, but the model "
            f"outputs {num_classes} classes (ids 0..{num_classes - 1}): the graph was built "
            "from a lang dir whose tokens disagree with the model's")


def check_lang_tokens(tokens_path: str | Path, model_tokens: Sequence[str] | None = None,
                      vocab_size: int | None = None) -> None:
    """A ValueError naming ``tokens_path`` unless the lang dir's tokens are the model's, so an
    HLG/LG built from that lang dir decodes the model's output classes: the tokens
    (disambiguation symbols ``#k`` aside) must have the ids ``0..V-1`` with ``V`` the model's
    vocabulary size (``len(model_tokens)`` or ``vocab_size``), and when the model lists its
    tokens (a checkpoint's ``lang["tokens"]``), the same symbol at every id."""
    table = SymbolTable.from_file(tokens_path)
    ids = sorted(i for i in table.ids if not is_disambig_symbol(table[i]))
    size = len(model_tokens) if model_tokens is not None else vocab_size
    if size is None:
        raise ValueError("check_lang_tokens needs the model's tokens or its vocabulary size")
    hint = ("its HLG/LG would decode another vocabulary than the model's; pass the lang dir "
            "the model was trained with")
    if ids != list(range(len(ids))):
        gap = next(i for i, j in enumerate(ids) if i != j)
        raise ValueError(f"{tokens_path}: the token ids are not 0..{len(ids) - 1} (no token "
                         f"has id {gap})")
    if len(ids) != size:
        raise ValueError(f"{tokens_path}: {len(ids)} tokens (ids 0..{len(ids) - 1}), but the "
                         f"model outputs {size} classes: {hint}")
    for i, want in enumerate(model_tokens or ()):
        if table[i] != want:
            raise ValueError(f"{tokens_path}: token {i} is {table[i]!r}, but the model's token "
                             f"{i} is {want!r}: {hint}")


def prepare_G(G, method: str):
    """icefall's preparation of the rescoring LM ``G`` (an acceptor on word ids, its
    disambiguation symbols already 0): an FsaVec of one FSA, arc-sorted, for
    ``whole-lattice-rescoring`` with epsilon self-loops, and ``lm_scores = scores``."""
    ns = namespace_of(G)
    if hasattr(G, "aux_labels"):
        raise ValueError("G must be an acceptor (no aux_labels): the rescoring LM on word ids")
    if len(G.shape) == 2:
        G = ns.create_fsa_vec([G])
    if method == "whole-lattice-rescoring":
        G = ns.add_epsilon_self_loops(G)
    G = ns.arc_sort(G)
    G.lm_scores = G.scores.clone()
    return G


def ctc_decode_keyed(method: str, ctc_output: torch.Tensor, encoder_out_lens: torch.Tensor,
                     graph=None, G=None, search_beam: float = 20.0, output_beam: float = 8.0,
                     min_active_states: int = 30, max_active_states: int = 10000,
                     subsampling_factor: int = 1, use_double_scores: bool = True,
                     blank_id: int = 0, num_paths: int = 100, nbest_scale: float = 0.5,
                     lm_scale_list: Sequence[float] | None = None,
                     ref_texts: Sequence[str] | None = None, word_table=None,
                     oov: str = "<UNK>") -> dict[str, list[list[int]]]:
    """Decode a batch with one of :data:`CTC_METHODS` or :data:`LATTICE_METHODS`; returns
    icefall's result key(s) -> hypotheses (token ids for ``ctc-greedy-search`` and
    ``ctc-decoding``, word ids otherwise).

    ``graph``: H for ``ctc-decoding`` (default ``ctc_topo(C - 1)``), HLG for the others
    (labels tokens, aux_labels words; its scores count as LM scores, as icefall's
    ``HLG.lm_scores = HLG.scores``). ``G``: the rescoring LM; one without ``lm_scores`` is
    prepared here by :func:`prepare_G` (a loop over batches passes ``prepare_G(G, method)``).
    ``lm_scale_list``: the sweep (default icefall's :data:`rescore.DEFAULT_LM_SCALE`).
    ``nbest-oracle`` needs ``ref_texts`` and ``word_table`` (a ``SymbolTable`` with ``oov``).
    """
    if method not in CTC_METHODS + LATTICE_METHODS:
        raise ValueError(f"unknown CTC method {method!r}; expected one of "
                         f"{', '.join(CTC_METHODS + LATTICE_METHODS)}")
    if method == "ctc-greedy-search":
        return {method: ctc_greedy_search(ctc_output, encoder_out_lens, blank_id)}
    if graph is None:
        if method != "ctc-decoding":
            raise ValueError(f"{method} needs the HLG graph")
        graph = k2.ctc_topo(ctc_output.shape[-1] - 1, modified=False,
                            device=ctc_output.device)
    if method in _NEEDS_G and G is None:
        raise ValueError(f"{method} needs the rescoring LM G")
    if method == "nbest-oracle" and (ref_texts is None or word_table is None):
        raise ValueError("nbest-oracle needs ref_texts and word_table")
    if method in _NEEDS_G and not hasattr(graph, "lm_scores"):
        graph = graph.clone()
        graph.lm_scores = graph.scores.clone()
    lattice = get_lattice(ctc_output, graph, supervision_segments(encoder_out_lens),
                          search_beam, output_beam, min_active_states, max_active_states,
                          subsampling_factor)
    if method in ("ctc-decoding", "1best"):
        key = method if method == "ctc-decoding" else "no_rescore"
        return {key: get_texts(one_best_decoding(lattice, use_double_scores))}
    if method == "nbest":
        best = rescore.nbest_decoding(lattice, num_paths, use_double_scores, nbest_scale)
        return {f"no_rescore-nbest-scale-{nbest_scale}-{num_paths}": get_texts(best)}
    if method == "nbest-oracle":
        best = rescore.nbest_oracle(lattice, num_paths, ref_texts, word_table,
                                    use_double_scores, nbest_scale, oov)
        return {f"oracle_{num_paths}_nbest_scale_{nbest_scale}": get_texts(best)}
    scales = list(rescore.DEFAULT_LM_SCALE if lm_scale_list is None else lm_scale_list)
    if not hasattr(G, "lm_scores"):  # not prepared yet (a decoding loop prepares it once)
        G = prepare_G(G, method)
    if method == "nbest-rescoring":
        paths = rescore.rescore_with_n_best_list(lattice, G, num_paths, scales, nbest_scale,
                                                 use_double_scores)
    else:
        paths = rescore.rescore_with_whole_lattice(lattice, G, scales, use_double_scores)
    return {key: get_texts(best) for key, best in paths.items()}


def ctc_decode(method: str, ctc_output: torch.Tensor, encoder_out_lens: torch.Tensor,
               graph=None, **kwargs) -> list[list[int]]:
    """The hypotheses of :func:`ctc_decode_keyed` (same arguments) for a method with one
    result: token ids (``ctc-greedy-search``, ``ctc-decoding``) or word ids (the others); a
    rescoring method needs a one-scale ``lm_scale_list``."""
    results = ctc_decode_keyed(method, ctc_output, encoder_out_lens, graph=graph, **kwargs)
    if len(results) != 1:
        raise ValueError(f"{method} gives {len(results)} results ({', '.join(results)}); "
                         "use ctc_decode_keyed, or pass lm_scale_list=[one scale]")
    return next(iter(results.values()))


__all__ = ["CTC_METHODS", "LATTICE_METHODS", "check_graph_vocabulary", "check_lang_tokens",
           "ctc_decode",
           "ctc_decode_keyed", "ctc_greedy_search", "get_lattice", "one_best_decoding",
           "prepare_G", "supervision_segments"]
