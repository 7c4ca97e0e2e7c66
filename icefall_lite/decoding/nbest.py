"""N-best lists drawn from a lattice (docs/design/algorithms.rst §5).

An :class:`Nbest` holds, per utterance, the distinct output-label sequences (token ids for a
trivial-graph lattice, word ids for an LG lattice) of ``num_paths`` paths sampled from the
lattice, as a vector of linear acceptors ``fsa`` plus ``row_splits`` (utterance → paths).
Sequences are sorted within each utterance (as k2's ``RaggedTensor.unique``), so ties between
scores resolve the same way everywhere.

Example::

    >>> from icefall_lite import k2
    >>> lattice = k2.create_fsa_vec([k2.Fsa.from_str("0 1 3 -1.0\\n0 1 4 -0.2\\n1 2 -1 0\\n2")])
    >>> nbest = Nbest.from_lattice(lattice, num_paths=4, nbest_scale=1.0)
    >>> nbest.sequences  # the two distinct label sequences, sorted
    [[3], [4]]
    >>> scores = nbest.tot_scores(nbest.intersect(lattice), log_semiring=False)
    >>> scores
    tensor([-1.0000, -0.2000], dtype=torch.float64)
    >>> nbest.best(scores)
    [[4]]
"""

from __future__ import annotations

import torch

from icefall_lite.decoding.lattice import namespace_of, output_labels

__all__ = ["Nbest"]


class Nbest:
    """Distinct label sequences per utterance.

    Attributes:
      fsa: FsaVec of linear acceptors, one per sequence (labels = the sequence; scores 0);
        None when no utterance has a path.
      sequences: the same sequences as Python lists.
      row_splits: int64 ``[num_utts + 1]``: sequences of utterance ``i`` are
        ``row_splits[i]:row_splits[i+1]``.
    """

    def __init__(self, fsa, sequences: list[list[int]], row_splits: torch.Tensor) -> None:
        self.fsa = fsa
        self.sequences = sequences
        self.row_splits = row_splits

    @property
    def num_utts(self) -> int:
        return self.row_splits.numel() - 1

    @property
    def path_to_utt(self) -> torch.Tensor:
        """int64 ``[num_sequences]``: the utterance of each sequence."""
        counts = self.row_splits[1:] - self.row_splits[:-1]
        return torch.repeat_interleave(torch.arange(self.num_utts, device=counts.device), counts)

    def __str__(self) -> str:
        return f"Nbest(num_utts={self.num_utts}, num_sequences={len(self.sequences)})"

    @staticmethod
    def from_lattice(
        lattice, num_paths: int, use_double_scores: bool = True, nbest_scale: float = 0.5
    ) -> Nbest:
        """Sample ``num_paths`` paths per utterance from ``lattice`` (scores scaled by
        ``nbest_scale``), and keep the distinct output-label sequences."""
        ns = namespace_of(lattice)
        saved = lattice.scores.clone()
        lattice.scores = saved * nbest_scale
        paths = ns.random_paths(lattice, use_double_scores=use_double_scores, num_paths=num_paths)
        lattice.scores = saved
        num_utts = lattice.arcs.dim0()
        path_splits = paths.shape.row_splits(1).long()
        arc_splits = paths.shape.row_splits(2).long()
        num_sampled = path_splits[-1].item()
        arc_owner = torch.repeat_interleave(
            torch.arange(num_sampled, device=arc_splits.device), arc_splits[1:] - arc_splits[:-1]
        )
        seqs = output_labels(lattice, paths.values.long(), arc_owner, num_sampled)
        utt_of_path = torch.repeat_interleave(
            torch.arange(num_utts), (path_splits[1:] - path_splits[:-1]).cpu()
        ).tolist()
        per_utt: list[set[tuple[int, ...]]] = [set() for _ in range(num_utts)]
        for u, s in zip(utt_of_path, seqs):
            per_utt[u].add(tuple(s))
        sequences = [list(s) for u in range(num_utts) for s in sorted(per_utt[u])]
        counts = torch.tensor([len(p) for p in per_utt], dtype=torch.int64)
        row_splits = torch.zeros(num_utts + 1, dtype=torch.int64)
        row_splits[1:] = torch.cumsum(counts, 0)
        fsa = ns.linear_fsa(sequences, device=lattice.device) if sequences else None
        return Nbest(fsa, sequences, row_splits.to(lattice.device))

    def intersect(self, lattice):
        """Each sequence (with epsilon self-loops) intersected with its utterance's lattice,
        on the lattice's output labels: an FsaVec (connected, top-sorted), one per sequence,
        whose paths are the lattice paths that output that sequence."""
        if self.fsa is None:
            return None
        ns = namespace_of(lattice)
        has_aux = hasattr(lattice, "aux_labels")
        inv = ns.invert(lattice) if has_aux else lattice
        inv = ns.arc_sort(inv)
        with_loops = ns.linear_fsa_with_self_loops(self.fsa)
        b_to_a = self.path_to_utt.to(torch.int32)
        if inv.arcs.dim0() == 1:
            b_to_a = torch.zeros_like(b_to_a)
        out = ns.intersect_device(inv, with_loops, b_to_a_map=b_to_a, sorted_match_a=True)
        return ns.top_sort(ns.connect(out))

    def tot_scores(self, path_lattice, log_semiring: bool, use_double_scores: bool = True):
        """Per sequence: best (tropical) or total (log) score of its paths in ``path_lattice``
        (from :meth:`intersect`); -inf where the lattice has none."""
        if path_lattice is None:
            return torch.zeros(0, dtype=torch.float64, device=self.row_splits.device)
        return path_lattice.get_tot_scores(
            use_double_scores=use_double_scores, log_semiring=log_semiring
        )

    def top_k(self, scores: torch.Tensor, k: int = 1, largest: bool = True) -> list[list[int]]:
        """Indexes (into :attr:`sequences`) of the ``k`` best sequences per utterance, best
        first; the first sequence wins a tie. ``largest=False`` takes the smallest scores."""
        out = []
        splits = self.row_splits.tolist()
        for u in range(self.num_utts):
            lo, hi = splits[u], splits[u + 1]
            s = scores[lo:hi].double()
            s = s if largest else -s
            order = torch.sort(-s, stable=True)[1][:k]
            out.append([lo + int(i) for i in order])
        return out

    def best(self, scores: torch.Tensor, largest: bool = True) -> list[list[int]]:
        """The best sequence per utterance (empty where the utterance has none)."""
        return [self.sequences[i[0]] if i else [] for i in self.top_k(scores, 1, largest)]
