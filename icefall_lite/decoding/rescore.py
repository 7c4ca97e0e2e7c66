"""icefall's lattice decoding and rescoring functions for HLG lattices (``icefall/decode.py``).

Each takes a lattice from :func:`icefall_lite.decoding.ctc.get_lattice` (labels: token ids,
``aux_labels``: word ids, ``lm_scores``: the graph's LM part of ``scores``) and returns an
FsaVec of best paths, or a dict of them keyed ``"lm_scale_{s}"`` for an LM-scale sweep:

- :func:`one_best_decoding`: the best path (with a sweep: scores ``am / s + lm``);
- :func:`nbest_decoding`: sampled paths, one per word sequence, each scored by its best path
  through the lattice; the best-scoring one;
- :func:`nbest_oracle`: of the sampled word sequences, the one closest (edit distance) to the
  reference;
- :func:`rescore_with_n_best_list`: the sampled sequences rescored with a larger LM ``G``:
  ``am / s + lm_G``;
- :func:`rescore_with_whole_lattice`: the lattice's LM part replaced by ``G`` (intersection
  with ``G`` carrying epsilon self-loops), then the best path for each scale.

Deviation from icefall: icefall retries a failed (out-of-memory) intersection after pruning the
lattice with ``prune_on_arc_post`` or halving ``num_paths``; here the intersection runs once
(the built-in code has no GPU memory limit to meet) and an error propagates.

Example::

    >>> import torch
    >>> from icefall_lite import k2
    >>> lat = k2.Fsa.from_str("0 1 1 -1.0\\n0 1 2 -1.2\\n1 2 -1 0\\n2")
    >>> lat.aux_labels = torch.tensor([5, 6, -1], dtype=torch.int32)
    >>> lat.lm_scores = torch.tensor([-0.9, -0.1, 0.0])  # am: word 5 -0.1, word 6 -1.1
    >>> lat = k2.create_fsa_vec([lat])
    >>> best = one_best_decoding(lat, lm_scale_list=[0.5, 2.0])
    >>> {k: v.aux_labels.tolist() for k, v in best.items()}
    {'lm_scale_0.5': [5, -1], 'lm_scale_2.0': [6, -1]}
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from icefall_lite.decoding.lattice import namespace_of
from icefall_lite.decoding.nbest_ctc import Nbest

__all__ = ["DEFAULT_LM_SCALE", "nbest_decoding", "nbest_oracle", "one_best_decoding",
           "rescore_with_n_best_list", "rescore_with_whole_lattice", "word_ids_of"]

# icefall's sweep of LM scales for the rescoring methods
DEFAULT_LM_SCALE = (0.01, 0.05, 0.08, 0.1, 0.3, 0.5, 0.6, 0.7, 0.9, 1.0, 1.1, 1.2, 1.3, 1.5, 1.7,
                    1.9, 2.0, 2.1, 2.2, 2.3, 2.5, 3.0, 4.0, 5.0)


def _sweep(lattice, lm_scale_list: Sequence[float], use_double_scores: bool) -> dict:
    """Best paths of ``lattice`` with scores ``am / s + lm`` for each scale ``s`` (icefall
    divides the AM part rather than multiplying the LM part)."""
    ns = namespace_of(lattice)
    am = lattice.scores - lattice.lm_scores
    out = {}
    for s in lm_scale_list:
        lattice.scores = am / s + lattice.lm_scores
        out[f"lm_scale_{s}"] = ns.shortest_path(lattice, use_double_scores=use_double_scores)
    return out


def one_best_decoding(lattice, use_double_scores: bool = True,
                      lm_scale_list: Sequence[float] | None = None):
    """The best path of each lattice, or (``lm_scale_list``) a dict ``"lm_scale_{s}"`` ->
    best paths with scores ``am / s + lm`` (``lattice.scores`` is changed)."""
    if lm_scale_list is not None:
        return _sweep(lattice, lm_scale_list, use_double_scores)
    return namespace_of(lattice).shortest_path(lattice, use_double_scores=use_double_scores)


def nbest_decoding(lattice, num_paths: int, use_double_scores: bool = True,
                   nbest_scale: float = 1.0):
    """Sample ``num_paths`` paths, keep one per word sequence, score each sequence by its
    best path through ``lattice`` and return the best one per utterance (FsaVec)."""
    nbest = Nbest.from_lattice(lattice, num_paths, use_double_scores, nbest_scale)
    nbest = nbest.intersect(lattice)
    best = nbest.tot_scores().argmax()
    return namespace_of(lattice).index_fsa(nbest.fsa, best)


def word_ids_of(texts: Sequence[str], word_table, oov: str = "<UNK>") -> list[list[int]]:
    """Word ids of space-separated ``texts`` (words missing from ``word_table`` -> ``oov``)."""
    if oov not in word_table:
        raise ValueError(f"the OOV word {oov!r} is not in the word table")
    oov_id = word_table[oov]
    return [[word_table[w] if w in word_table else oov_id for w in t.split()] for t in texts]


def nbest_oracle(lattice, num_paths: int, ref_texts: Sequence[str], word_table,
                 use_double_scores: bool = True, nbest_scale: float = 0.5,
                 oov: str = "<UNK>"):
    """Of the sampled word sequences of each utterance, the one with the smallest edit
    distance to ``ref_texts[i]`` (words looked up in ``word_table``, a SymbolTable)."""
    ns = namespace_of(lattice)
    nbest = Nbest.from_lattice(lattice, num_paths, use_double_scores, nbest_scale)
    hyps = nbest.build_levenshtein_graphs()
    refs = ns.levenshtein_graph(word_ids_of(ref_texts, word_table, oov), device=lattice.device)
    alignment = ns.levenshtein_alignment(refs=refs, hyps=hyps,
                                         hyp_to_ref_map=nbest.shape.row_ids(1),
                                         sorted_match_ref=True)
    scores = alignment.get_tot_scores(use_double_scores=False, log_semiring=False)
    best = ns.RaggedTensor(nbest.shape, scores).argmax()
    return ns.index_fsa(nbest.fsa, best)


def rescore_with_n_best_list(lattice, G, num_paths: int, lm_scale_list: Sequence[float],
                             nbest_scale: float = 1.0, use_double_scores: bool = True) -> dict:
    """Sampled word sequences scored ``am / s + lm_G`` (am from the lattice, lm_G from the
    n-gram acceptor ``G``, one FSA without aux_labels); per scale the best one, keyed
    ``"lm_scale_{s}"``."""
    if len(lattice.shape) != 3 or not hasattr(lattice, "aux_labels") or \
            not hasattr(lattice, "lm_scores"):
        raise ValueError("rescore_with_n_best_list: the lattice must be an FsaVec with "
                         "aux_labels and lm_scores")
    _check_single_acceptor(G, lattice.device)
    ns = namespace_of(lattice)
    nbest = Nbest.from_lattice(lattice, num_paths, use_double_scores, nbest_scale)
    nbest = nbest.intersect(lattice)
    am_scores = nbest.compute_am_scores()
    nbest = nbest.intersect(G)
    lm_scores = nbest.tot_scores()
    out = {}
    for s in lm_scale_list:
        tot = ns.RaggedTensor(nbest.shape, am_scores.values / s + lm_scores.values)
        out[f"lm_scale_{s}"] = ns.index_fsa(nbest.fsa, tot.argmax())
    return out


def rescore_with_whole_lattice(lattice, G_with_epsilon_loops,
                               lm_scale_list: Sequence[float] | None = None,
                               use_double_scores: bool = True):
    """Replace the lattice's LM scores by those of ``G_with_epsilon_loops`` (one acceptor
    on word ids, arc-sorted, with epsilon self-loops and ``lm_scores``): the rescored lattice,
    or (``lm_scale_list``) a dict ``"lm_scale_{s}"`` of its best paths for ``am / s + lm``.
    ``lattice`` loses its ``lm_scores`` and keeps only AM scores, as in icefall."""
    if not hasattr(lattice, "lm_scores"):
        raise ValueError("rescore_with_whole_lattice: the lattice has no lm_scores")
    _check_single_acceptor(G_with_epsilon_loops, lattice.device)
    if not hasattr(G_with_epsilon_loops, "lm_scores"):
        raise ValueError("rescore_with_whole_lattice: G needs lm_scores (G.lm_scores = "
                         "G.scores.clone())")
    ns = namespace_of(lattice)
    lattice.scores = lattice.scores - lattice.lm_scores
    del lattice.lm_scores
    inv_lattice = ns.invert(lattice)
    b_to_a = torch.zeros(lattice.shape[0], dtype=torch.int32, device=lattice.device)
    rescored = ns.intersect_device(G_with_epsilon_loops, inv_lattice, b_to_a,
                                   sorted_match_a=True)
    lat = ns.invert(ns.top_sort(ns.connect(rescored)))
    if lm_scale_list is None:
        return lat
    return _sweep(lat, lm_scale_list, use_double_scores)


def _check_single_acceptor(G, device) -> None:
    if G.shape[0] != 1 or len(G.shape) != 3:
        raise ValueError(f"G must be an FsaVec of one FSA, got shape {G.shape}")
    if G.device != device:
        raise ValueError(f"G is on {G.device}, the lattice on {device}")
