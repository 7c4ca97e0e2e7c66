"""icefall's ``Nbest`` for HLG lattices: n-best lists that get their scores by intersection.

A path of the lattice outputs a word sequence (``aux_labels``); :meth:`Nbest.from_lattice`
samples paths and keeps one per distinct word sequence (scores 0). :meth:`Nbest.intersect`
then scores each word sequence by its best path through a lattice (or an n-gram G): the FSAs
become those best paths, with the lattice's scores and attributes (``lm_scores`` included).
:meth:`compute_am_scores` / :meth:`compute_lm_scores` / :meth:`tot_scores` sum them per path.

This is icefall's class (richer than k2's own ``k2.Nbest``); it works on either backend (it
follows the lattice's, :func:`icefall_lite.k2.namespace_of`).

Example::

    >>> import torch
    >>> from icefall_lite import k2
    >>> lat = k2.Fsa.from_str("0 1 1 -0.5\\n0 1 2 -1.5\\n1 2 -1 0\\n2")
    >>> lat.aux_labels = torch.tensor([5, 6, -1], dtype=torch.int32)
    >>> lat = k2.create_fsa_vec([lat])
    >>> nbest = Nbest.from_lattice(lat, num_paths=4, nbest_scale=1.0)
    >>> nbest.tot_scores().tolist()  # scores are 0 until intersected
    [[0.0, 0.0]]
    >>> nbest.intersect(lat).tot_scores().tolist()
    [[-0.5, -1.5]]
"""

from __future__ import annotations

import torch

from icefall_lite.decoding.lattice import namespace_of
from icefall_lite.fsa.nbest import check_nbest_parts, texts_as_ragged

__all__ = ["Nbest"]


class Nbest:
    """``fsa``: FsaVec of linear FSAs ``[path][state][arc]``; ``shape``: 2-axis ragged shape
    ``[utt][path]`` (``shape.tot_size(1) == fsa.shape[0]``)."""

    def __init__(self, fsa, shape) -> None:
        check_nbest_parts(fsa, shape)
        self.fsa = fsa
        self.shape = shape

    def __str__(self) -> str:
        return (f"Nbest(Number of utterances:{self.shape.dim0}, "
                f"Number of Paths:{self.fsa.shape[0]})")

    @staticmethod
    def from_lattice(lattice, num_paths: int, use_double_scores: bool = True,
                     nbest_scale: float = 0.5) -> Nbest:
        """``num_paths`` paths per utterance sampled from ``lattice`` (labels: tokens,
        ``aux_labels``: words) with scores scaled by ``nbest_scale``, one kept per distinct
        word sequence (k2's ``Nbest.from_lattice``), with scores 0."""
        sampled = namespace_of(lattice).Nbest.from_lattice(
            lattice, num_paths=num_paths, use_double_scores=use_double_scores,
            nbest_scale=nbest_scale)
        fsa = sampled.fsa
        fsa.scores = torch.zeros_like(fsa.scores.detach())
        return Nbest(fsa=fsa, shape=sampled.shape)

    def intersect(self, lattice, use_double_scores: bool = True) -> Nbest:
        """Score each word sequence by its best path through its utterance's ``lattice``.

        ``lattice``: FsaVec ``[utt][state][arc]``; with ``aux_labels`` its labels are tokens and
        aux_labels words, without them its labels are words (e.g. G, one FSA for all). Returns
        an Nbest of the same shape whose FSAs are those best paths (labels tokens, aux_labels
        words, the lattice's scores and other attributes)."""
        ns = namespace_of(lattice)
        word_fsa = ns.invert(self.fsa)
        word_fsa.scores = torch.zeros_like(word_fsa.scores.detach())
        if hasattr(lattice, "aux_labels"):
            del word_fsa.aux_labels
            word_loops = ns.linear_fsa_with_self_loops(word_fsa)
            inv_lattice = ns.arc_sort(ns.invert(lattice))
        else:
            word_loops = ns.linear_fst_with_self_loops(word_fsa)
            inv_lattice = ns.arc_sort(lattice)
        path_to_utt = self.shape.row_ids(1)
        if inv_lattice.shape[0] == 1:
            path_to_utt = torch.zeros_like(path_to_utt)
        path_lattice = ns.intersect_device(inv_lattice, word_loops, b_to_a_map=path_to_utt,
                                           sorted_match_a=True)
        path_lattice = ns.top_sort(ns.connect(path_lattice))
        one_best = ns.shortest_path(path_lattice, use_double_scores=use_double_scores)
        return Nbest(fsa=ns.invert(one_best), shape=self.shape)

    def _per_path_sum(self, arc_values: torch.Tensor):
        ns = namespace_of(self.fsa)
        per_arc = ns.RaggedTensor(self.fsa.arcs.shape().remove_axis(1), arc_values.contiguous())
        return ns.RaggedTensor(self.shape, per_arc.sum())

    def compute_am_scores(self):
        """AM score (``scores - lm_scores``) of each path, ragged ``[utt][path]``."""
        return self._per_path_sum(self.fsa.scores - self.fsa.lm_scores)

    def compute_lm_scores(self):
        """LM score (``lm_scores``) of each path, ragged ``[utt][path]``."""
        return self._per_path_sum(self.fsa.lm_scores)

    def tot_scores(self):
        """Total score of each path (linear FSAs: both semirings agree), ``[utt][path]``."""
        return self._per_path_sum(self.fsa.scores)

    def build_levenshtein_graphs(self):
        """Levenshtein graphs of each path's word sequence (FsaVec ``[path][state][arc]``)."""
        return namespace_of(self.fsa).levenshtein_graph(texts_as_ragged(self.fsa))
