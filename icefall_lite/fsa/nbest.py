"""k2's ``k2.Nbest`` (k2 1.23.4): linear FSAs, one per path, grouped by utterance.

An ``Nbest`` holds ``fsa``, an FsaVec of linear FSAs with axes ``[path][state][arc]``, and
``shape``, a 2-axis :class:`RaggedShape` ``[utt][path]`` (``shape.tot_size(1)`` equals the
number of FSAs). :meth:`Nbest.from_lattice` samples paths with ``random_paths`` and keeps one
path per distinct word sequence of each utterance, in the order of
:meth:`RaggedTensor.unique` (shorter sequences first, then lexicographic).

icefall's richer ``Nbest`` (scores from intersecting with a lattice or G, AM/LM parts) is
:class:`icefall_lite.decoding.nbest_ctc.Nbest`.

Example::

    >>> import torch
    >>> from icefall_lite.fsa import Fsa, create_fsa_vec
    >>> lat = Fsa.from_str("0 1 1 -0.5\\n0 1 2 -1.5\\n1 2 -1 0\\n2")
    >>> lat.aux_labels = torch.tensor([5, 6, -1], dtype=torch.int32)
    >>> nbest = Nbest.from_lattice(create_fsa_vec([lat]), num_paths=4, nbest_scale=1.0)
    >>> nbest.shape.row_splits(1), nbest.fsa.labels, nbest.fsa.aux_labels
    (tensor([0, 2], dtype=torch.int32), tensor([ 1, -1,  2, -1], dtype=torch.int32), \
tensor([ 5, -1,  6, -1], dtype=torch.int32))
    >>> nbest.total_scores().tolist()
    [[-0.5, -1.5]]
"""

from __future__ import annotations

import torch

from icefall_lite.fsa.fsa import Fsa
from icefall_lite.fsa.ragged import RaggedShape, RaggedTensor

__all__ = ["Nbest", "check_nbest_parts", "texts_as_ragged"]


def _ns(fsa):
    # the namespace (real k2 or built-in) of the FSA, so a k2 lattice stays in k2
    from icefall_lite.k2 import namespace_of  # noqa: PLC0415 (the facade imports this module)

    return namespace_of(fsa)


def texts_as_ragged(best_paths: Fsa) -> RaggedTensor:
    """The positive output labels (``aux_labels``) of each linear FSA of ``best_paths``, as
    a 2-axis ragged tensor ``[fsa][label]`` (icefall's ``get_texts(..., return_ragged=True)``).
    """
    ns = _ns(best_paths)
    aux = best_paths.aux_labels
    if isinstance(aux, torch.Tensor):
        shape = best_paths.arcs.shape().remove_axis(1)
        return ns.RaggedTensor(shape, aux).remove_values_leq(0)
    aux = aux.remove_values_leq(0)
    shape = best_paths.arcs.shape().compose(aux.shape).remove_axis(1).remove_axis(1)
    return ns.RaggedTensor(shape, aux.values)


def check_nbest_parts(fsa: Fsa, shape: RaggedShape) -> None:
    """An n-best list is an FsaVec with one FSA per path of a 2-axis ``[utt][path]`` shape."""
    if len(fsa.shape) != 3:
        raise ValueError(f"Nbest: fsa must be an FsaVec, got shape {fsa.shape}")
    if shape.num_axes != 2:
        raise ValueError(f"Nbest: shape must have 2 axes, got {shape.num_axes}")
    if fsa.shape[0] != shape.tot_size(1):
        raise ValueError(f"Nbest: {fsa.shape[0]} FSAs but the shape has {shape.tot_size(1)} "
                         "paths: the number of FSAs does not match the shape")


class Nbest:
    """``fsa`` (linear FSAs ``[path][state][arc]``) plus ``shape`` (``[utt][path]``);
    ``kept_path`` (``[path][arc_pos]``, arc indexes into the lattice) when made by
    :meth:`from_lattice`."""

    def __init__(self, fsa: Fsa, shape: RaggedShape, kept_path: RaggedTensor | None = None
                 ) -> None:
        check_nbest_parts(fsa, shape)
        self.fsa = fsa
        self.shape = shape
        self.kept_path = kept_path

    def __str__(self) -> str:
        return f"Nbest(num_seqs:{self.shape.dim0}, num_fsas:{self.fsa.shape[0]})"

    @staticmethod
    def from_lattice(lattice: Fsa, num_paths: int, use_double_scores: bool = True,
                     nbest_scale: float = 0.5) -> Nbest:
        """Sample ``num_paths`` paths per utterance of ``lattice`` (labels: token ids,
        ``aux_labels``: word ids, tensor or ragged) with scores scaled by ``nbest_scale``, and
        keep the first path of each distinct word sequence. The FSAs carry the lattice's labels,
        aux_labels and (unscaled, differentiable) scores of the kept paths' arcs."""
        ns = _ns(lattice)
        saved = lattice.scores.clone()
        lattice.scores = saved * nbest_scale
        path = ns.random_paths(lattice, num_paths=num_paths, use_double_scores=use_double_scores)
        lattice.scores = saved
        aux = lattice.aux_labels
        if isinstance(aux, torch.Tensor):
            word_seq = ns.ragged.index(aux, path)
        else:
            word_seq = aux.index(path)
            word_seq = word_seq.remove_axis(word_seq.num_axes - 2)
        word_seq = word_seq.remove_values_leq(0)
        _, _, new2old = word_seq.unique(need_num_repeats=False, need_new2old_indexes=True)
        kept_path, _ = path.index(new2old, axis=1, need_value_indexes=False)
        utt_to_path = kept_path.shape.get_layer(0)
        kept_path = kept_path.remove_axis(0)
        labels = ns.ragged.index(lattice.labels.contiguous(), kept_path).remove_values_eq(-1)
        if isinstance(aux, torch.Tensor):
            kept_aux = ns.index_select(aux, kept_path.values)
        else:
            kept_aux, _ = aux.index(indexes=kept_path.values, axis=0, need_value_indexes=False)
        fsa = ns.linear_fsa(labels)
        fsa.aux_labels = kept_aux
        fsa.scores = ns.index_select(lattice.scores, kept_path.values.to(lattice.scores.device))
        return Nbest(fsa=fsa, shape=utt_to_path, kept_path=kept_path)

    def intersect(self, lats: Fsa) -> Nbest:
        """The best path of each FSA (token ids, with epsilon self-loops) intersected with its
        utterance's lattice ``lats``, epsilons removed; same shape."""
        if self.fsa.device != lats.device:
            raise ValueError(f"Nbest.intersect: {self.fsa.device} vs {lats.device}")
        if len(lats.shape) != 3 or lats.arcs.dim0() != self.shape.dim0:
            raise ValueError(f"Nbest.intersect: lats must be an FsaVec of {self.shape.dim0} "
                             f"FSAs, got shape {lats.shape}")
        ns = _ns(lats)
        lats = ns.arc_sort(lats)
        with_loops = ns.add_epsilon_self_loops(self.fsa)
        ans = ns.intersect_device(a_fsas=lats, b_fsas=with_loops,
                                  b_to_a_map=self.shape.row_ids(1), sorted_match_a=True)
        one_best = ns.shortest_path(ans, use_double_scores=True)
        return Nbest(fsa=ns.remove_epsilon(one_best), shape=self.shape)

    def total_scores(self) -> RaggedTensor:
        """Score of each path (float32), as a ragged tensor ``[utt][path]``."""
        scores = self.fsa.get_tot_scores(use_double_scores=True, log_semiring=False)
        return _ns(self.fsa).RaggedTensor(self.shape, scores.float())

    def top_k(self, k: int) -> Nbest:
        """The ``k`` best paths of each utterance by :meth:`total_scores`, best first; an
        utterance with fewer repeats its worst path (a regular ``[utt][k]`` shape)."""
        ns = _ns(self.fsa)
        scores = self.total_scores()
        indexes = scores.sort_(descending=True, need_new2old_indexes=True)
        padded = ns.RaggedTensor(self.shape, indexes).pad(mode="replicate", padding_value=-1)
        if not bool(torch.ge(padded, 0).all()):
            raise ValueError(f"Nbest.top_k: some utterances have no path: "
                             f"{self.shape.row_splits(1)}")
        top = padded[:, :k].flatten().contiguous()
        return Nbest(ns.index_fsa(self.fsa, top),
                     ns.ragged.regular_ragged_shape(dim0=self.shape.dim0, dim1=k))

    def build_levenshtein_graphs(self) -> Fsa:
        """Levenshtein graphs of each path's word sequence (an FsaVec ``[path][state][arc]``)."""
        return _ns(self.fsa).levenshtein_graph(texts_as_ragged(self.fsa))
