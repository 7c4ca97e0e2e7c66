"""Edit distance as FSA intersection (k2's ``levenshtein_graph`` / ``levenshtein_alignment``).

A Levenshtein graph of ``[s1 .. sn]`` has states ``0..n`` plus a final state; state ``i < n``
has an insertion self-loop (label 0, score ``ins_del_score``), a deletion arc (label 0,
aux_label ``s_{i+1}``, score -0.5) and a match arc (label ``s_{i+1}``, score 0). Intersecting
two of them and taking the best path gives the alignment; its negated tropical score is the
edit distance.

Example::

    >>> refs = levenshtein_graph([[1, 2, 4]])
    >>> hyps = levenshtein_graph([[1, 2, 3], [1, 3, 3, 2]])
    >>> ali = levenshtein_alignment(refs, hyps, torch.tensor([0, 0], dtype=torch.int32))
    >>> -ali.get_tot_scores(use_double_scores=False, log_semiring=False)
    tensor([1., 3.])
"""

from __future__ import annotations

import torch

from icefall_lite.fsa.fsa import Fsa, make_fsa
from icefall_lite.fsa.intersection import intersect_device
from icefall_lite.fsa.ops import remove_epsilon_self_loops
from icefall_lite.fsa.paths import shortest_path
from icefall_lite.fsa.ragged import RaggedTensor, expand_ranges, splits_from_sizes

OFFSET_ATTR = "__ins_del_score_offset_internal_attr_"


def levenshtein_graph(symbols: RaggedTensor | list[list[int]],
                      ins_del_score: float = -0.501,
                      device: str | torch.device | None = "cpu") -> Fsa:
    """Levenshtein graphs (an FsaVec) of each symbol list, with aux_labels and the score
    offsets that :func:`levenshtein_alignment` removes again."""
    if not isinstance(symbols, RaggedTensor):
        symbols = RaggedTensor([list(s) for s in symbols], dtype=torch.int32, device=device)
    dev = symbols.device
    lens = symbols.shape.row_splits_long(1).diff()
    num_states = lens + 2
    splits1 = splits_from_sizes(num_states)
    # arcs per FSA: 3 per symbol position, then the last self-loop and the final arc
    arcs_per = 3 * lens + 2
    k, owner = expand_ranges(torch.zeros_like(arcs_per), arcs_per)
    pos = k // 3
    kind = k % 3  # 0 self-loop, 1 deletion, 2 match (final part: 0 loop, 1 final arc)
    at_end = pos == lens[owner]
    sym_idx = (symbols.shape.row_splits_long(1)[:-1][owner] + pos).clamp(
        max=max(symbols.numel() - 1, 0))
    sym = symbols.values.long()[sym_idx] if symbols.numel() else torch.zeros_like(k)
    src = splits1[:-1][owner] + pos
    dst = torch.where(kind == 0, src, src + 1)
    labels = torch.where(kind == 2, sym, torch.zeros_like(k))
    aux = torch.where(kind == 0, torch.zeros_like(k), sym)
    scores = torch.where(kind == 0, torch.full_like(k, 0, dtype=torch.float32) + ins_del_score,
                         torch.where(kind == 1, torch.full_like(k, -0.5, dtype=torch.float32),
                                     torch.zeros_like(k, dtype=torch.float32)))
    final_arc = at_end & (kind == 1)
    labels = torch.where(final_arc, torch.full_like(k, -1), labels)
    aux = torch.where(final_arc, torch.full_like(k, -1), aux)
    scores = torch.where(final_arc, torch.zeros_like(scores), scores)
    offsets = torch.where(kind == 0, torch.full_like(scores, ins_del_score + 0.5),
                          torch.zeros_like(scores))
    fsa = make_fsa(num_states, src, dst, labels.to(torch.int32), scores.to(torch.float32),
                   single=False)
    fsa.aux_labels = aux.to(torch.int32)
    setattr(fsa, OFFSET_ATTR, offsets.to(torch.float32))
    return fsa.to(dev)


def levenshtein_alignment(refs: Fsa, hyps: Fsa, hyp_to_ref_map: torch.Tensor,
                          sorted_match_ref: bool = False) -> Fsa:
    """Best alignment of each hyp with its ref (both from :func:`levenshtein_graph`), with
    ``ref_labels``/``hyp_labels``; ``-get_tot_scores(False, False)`` is the edit distance.
    Like k2, renames ``hyps.aux_labels`` to ``hyp_labels`` in place."""
    if not hasattr(refs, "aux_labels") or not hasattr(hyps, "aux_labels"):
        raise ValueError("levenshtein_alignment: refs and hyps must come from "
                         "levenshtein_graph (they need aux_labels)")
    hyps.rename_tensor_attribute_("aux_labels", "hyp_labels")
    lattice = intersect_device(refs, hyps, b_to_a_map=hyp_to_ref_map,
                               sorted_match_a=sorted_match_ref)
    lattice = remove_epsilon_self_loops(lattice)
    alignment = shortest_path(lattice, use_double_scores=True).invert_()
    alignment.rename_tensor_attribute_("labels", "ref_labels")
    alignment.rename_tensor_attribute_("aux_labels", "labels")
    alignment.scores = alignment.scores - getattr(alignment, OFFSET_ATTR)
    return alignment
