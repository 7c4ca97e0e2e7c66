"""CTC decoding methods by icefall's names, on the CTC head's log-probs ``[N, T, C]``.

- ``ctc-greedy-search``: arg-max per frame, repeats merged, blanks dropped (token ids);
- ``ctc-decoding``: the best path of ``intersect_dense_pruned(H, ...)`` with H =
  ``ctc_topo(C - 1)`` (token ids);
- ``1best``: the best path through HLG (word ids).

The n-best and rescoring methods (``nbest``, ``nbest-rescoring``, ``whole-lattice-rescoring``,
``nbest-oracle``) need ``compose`` and ``k2.Nbest``, which the built-in backend does not
have yet; :func:`ctc_decode` names them and raises.

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

import torch

from icefall_lite import k2
from icefall_lite.decoding.lattice import get_texts

CTC_METHODS = ("ctc-greedy-search", "ctc-decoding", "1best")
PENDING_METHODS = ("nbest", "nbest-rescoring", "whole-lattice-rescoring", "nbest-oracle")


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
    dense = k2.DenseFsaVec(nnet_output, supervision_segments,
                           allow_truncate=subsampling_factor - 1)
    return k2.intersect_dense_pruned(decoding_graph, dense, search_beam=search_beam,
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


def one_best_decoding(lattice, use_double_scores: bool = True):
    """The best path of each lattice (tropical semiring)."""
    return k2.shortest_path(lattice, use_double_scores=use_double_scores)


def ctc_decode(method: str, ctc_output: torch.Tensor, encoder_out_lens: torch.Tensor,
               graph=None, search_beam: float = 20.0, output_beam: float = 8.0,
               min_active_states: int = 30, max_active_states: int = 10000,
               subsampling_factor: int = 1, use_double_scores: bool = True,
               blank_id: int = 0) -> list[list[int]]:
    """Decode a batch with one of :data:`CTC_METHODS` (icefall's defaults for the beams);
    returns token ids (``ctc-greedy-search``, ``ctc-decoding``) or word ids (``1best``).
    ``graph``: H for ``ctc-decoding`` (default ``ctc_topo(C - 1)``), HLG for ``1best``."""
    if method in PENDING_METHODS:
        raise NotImplementedError(
            f"CTC method {method!r} needs k2.compose and k2.Nbest, which the built-in backend "
            f"does not implement yet; available: {', '.join(CTC_METHODS)}")
    if method not in CTC_METHODS:
        raise ValueError(f"unknown CTC method {method!r}; expected one of "
                         f"{', '.join(CTC_METHODS + PENDING_METHODS)}")
    if method == "ctc-greedy-search":
        return ctc_greedy_search(ctc_output, encoder_out_lens, blank_id)
    if graph is None:
        if method == "1best":
            raise ValueError("1best needs the HLG graph")
        graph = k2.ctc_topo(ctc_output.shape[-1] - 1, modified=False,
                            device=ctc_output.device)
    lattice = get_lattice(ctc_output, graph, supervision_segments(encoder_out_lens),
                          search_beam, output_beam, min_active_states, max_active_states,
                          subsampling_factor)
    return get_texts(one_best_decoding(lattice, use_double_scores))


__all__ = ["CTC_METHODS", "PENDING_METHODS", "check_graph_vocabulary", "ctc_decode",
           "ctc_greedy_search", "get_lattice", "one_best_decoding", "supervision_segments"]
