"""Helpers shared by the lattice-based methods: output label sequences of linear FSAs, and
scaling a decoding graph. The backend of a graph is the facade's answer
(:func:`icefall_lite.k2.namespace_of`, re-exported here for the decoding modules).

Example::

    >>> from icefall_lite import k2
    >>> ns = namespace_of(k2.trivial_graph(3))
    >>> ns.__name__ in ("k2", "icefall_lite.k2_builtin")
    True
"""

from __future__ import annotations

import torch

from icefall_lite.k2 import namespace_of

__all__ = [
    "check_decoding_graph",
    "clear_final_outputs",
    "get_texts",
    "namespace_of",
    "output_labels",
    "scale_graph",
]


def check_decoding_graph(graph) -> None:
    """Reject graphs that fast_beam_search cannot use: FsaVecs and epsilon (label 0) arcs (a
    label-0 arc would be read as "consume a frame with the blank probability")."""
    if graph.arcs.num_axes() != 2:
        raise ValueError("decoding_graph must be a single FSA, not an FsaVec")
    labels = graph.arcs.values()[:, 2]
    num_eps = int((labels == 0).sum())
    if num_eps:
        raise ValueError(
            f"decoding_graph has {num_eps} epsilon (label 0) arcs; fast_beam_search needs an "
            "epsilon-free graph (remove epsilons from LG, e.g. with kaldifst.rmepsilon, before "
            "decoding)"
        )


def scale_graph(graph, scale: float):
    """A copy of ``graph`` with its scores multiplied by ``scale`` (``LG.scores *=
    ngram_lm_scale``, done once before decoding)."""
    out = graph.clone() if hasattr(graph, "clone") else graph
    out.scores = graph.scores.detach() * scale
    return out


def output_labels(fsas, arc_indexes: torch.Tensor, owner: torch.Tensor, num_rows: int):
    """Positive output labels (``aux_labels`` if present, else ``labels``) of the arcs
    ``arc_indexes`` (int64, in row order), grouped by ``owner`` (int64, sorted) into
    ``num_rows`` lists."""
    aux = getattr(fsas, "aux_labels", None) if hasattr(fsas, "aux_labels") else None
    if aux is None:
        aux = fsas.labels
    if isinstance(aux, torch.Tensor):
        values = aux[arc_indexes].long()
        rows = owner
    else:
        splits = aux.shape.row_splits(1).long() if hasattr(aux, "shape") else None
        if splits is None:
            raise TypeError("aux_labels must be a tensor or a RaggedTensor")
        starts, ends = splits[arc_indexes], splits[arc_indexes + 1]
        sizes = ends - starts
        rep = torch.repeat_interleave(torch.arange(arc_indexes.numel(), device=sizes.device),
                                      sizes)
        pos = torch.arange(rep.numel(), device=sizes.device) - (torch.cumsum(sizes, 0) - sizes)[rep]
        values = aux.values.long()[starts[rep] + pos]
        rows = owner[rep]
    keep = values > 0
    values, rows = values[keep], rows[keep]
    counts = torch.bincount(rows, minlength=num_rows).tolist()
    return [v.tolist() for v in torch.split(values, counts)]


def get_texts(best_paths) -> list[list[int]]:
    """Output label sequences (positive ``aux_labels``, else ``labels``) of each FSA of a vector
    of linear FSAs (e.g. from ``shortest_path``)."""
    shape = best_paths.arcs.shape()
    num_fsas = shape.row_splits(1).numel() - 1
    states_to_fsa = shape.row_ids(1).long()
    arc_to_state = shape.row_ids(2).long()
    owner = states_to_fsa[arc_to_state]
    arcs = torch.arange(owner.numel(), device=owner.device)
    return output_labels(best_paths, arcs, owner, num_fsas)


def clear_final_outputs(lattice):
    """Make every arc entering a final state output nothing (aux_labels -1, k2's convention).

    With ``allow_partial``, k2's lattice may give a final arc the output of a last-frame graph
    arc, whose acoustic score is never counted; such an output would also break ``invert``
    (a final arc must keep label -1). Modifies ``lattice`` in place and returns it.
    """
    if not hasattr(lattice, "aux_labels"):
        return lattice
    final = lattice.labels == -1
    aux = lattice.aux_labels
    if isinstance(aux, torch.Tensor):
        lattice.aux_labels = torch.where(final, torch.full_like(aux, -1), aux)
        return lattice
    ns = namespace_of(lattice)
    splits = aux.shape.row_splits(1).long()
    sizes = splits[1:] - splits[:-1]
    new_sizes = torch.where(final, torch.ones_like(sizes), sizes)
    owner = torch.repeat_interleave(torch.arange(sizes.numel(), device=sizes.device), new_sizes)
    new_splits = torch.zeros_like(splits)
    new_splits[1:] = torch.cumsum(new_sizes, 0)
    pos = torch.arange(owner.numel(), device=owner.device) - new_splits[:-1][owner]
    # final arcs read the appended -1, the others their own values
    padded = torch.cat([aux.values.long(), torch.full((1,), -1, device=owner.device)])
    index = torch.where(final[owner], torch.full_like(pos, aux.values.numel()),
                        splits[:-1][owner] + pos)
    values = padded[index]
    shape = ns.ragged.create_ragged_shape2(row_splits=new_splits.to(torch.int32))
    lattice.aux_labels = ns.RaggedTensor(shape, values.to(torch.int32))
    return lattice
