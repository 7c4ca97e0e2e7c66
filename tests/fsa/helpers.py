"""Random FSAs as plain data (text / lists), so both backends build them from the same input,
and conversions of results to plain tensors/lists for comparison."""

from __future__ import annotations

import random

import torch


def random_acyclic_arcs(rng: random.Random, max_states: int = 8, max_label: int = 5,
                        max_out: int = 3, empty: bool = False) -> tuple[list, int]:
    """Arcs ``(src, dst, label, score)`` of a random top-sorted acyclic FSA with epsilons.

    Some FSAs have no successful path (nothing reaches the final state); scores are distinct
    random values so best paths have no ties. Returns (arcs, num_states).
    """
    if empty:
        return [], 0
    n = rng.randint(2, max_states)
    final = n - 1
    arcs = []
    seen = set()
    for s in range(n - 1):
        for _ in range(rng.randint(0, max_out)):
            d = rng.randint(s + 1, final)
            lab = -1 if d == final else rng.randint(0, max_label)
            if (s, d, lab) in seen:
                continue
            seen.add((s, d, lab))
            arcs.append((s, d, lab, round(rng.uniform(-2.0, 2.0), 4)))
    return arcs, n


def arcs_to_text(arcs: list, num_states: int, aux: list | None = None) -> str:
    lines = []
    for i, (s, d, lab, sc) in enumerate(arcs):
        extra = f" {aux[i]}" if aux is not None else ""
        lines.append(f"{s} {d} {lab}{extra} {sc}")
    if num_states > 0:
        lines.append(str(num_states - 1))
    return "\n".join(lines)


def random_aux(rng: random.Random, arcs: list, max_word: int = 9) -> list:
    return [-1 if lab == -1 else rng.randint(0, max_word) for (_, _, lab, _) in arcs]


def random_ragged_aux(rng: random.Random, arcs: list, max_word: int = 9) -> list[list[int]]:
    out = []
    for (_, _, lab, _) in arcs:
        words = [rng.randint(1, max_word) for _ in range(rng.choice([0, 0, 1, 1, 2, 3]))]
        if lab == -1 and rng.random() < 0.7:  # k2 appends the -1 itself when it is missing
            words = words + [-1]
        out.append(words)
    return out


class RandomVec:
    """A random FsaVec description: per-FSA arcs, states, int aux and ragged aux."""

    def __init__(self, rng: random.Random, num_fsas: int | None = None, **kw):
        self.num_fsas = num_fsas or rng.randint(1, 6)
        self.fsas = []
        for _ in range(self.num_fsas):
            arcs, n = random_acyclic_arcs(rng, empty=rng.random() < 0.1, **kw)
            self.fsas.append((arcs, n, random_aux(rng, arcs), random_ragged_aux(rng, arcs)))

    def build(self, k2, aux: str = "int", requires_grad: bool = False):
        """Build with namespace ``k2`` (real or built-in). aux: none | int | ragged."""
        fsas = []
        for arcs, n, int_aux, rag_aux in self.fsas:
            f = k2.Fsa.from_str(arcs_to_text(arcs, n))
            if aux == "int":
                f.aux_labels = torch.tensor(int_aux, dtype=torch.int32)
            elif aux == "ragged":
                f.aux_labels = k2.RaggedTensor(rag_aux, dtype=torch.int32)
            f.extra_float = torch.arange(len(arcs), dtype=torch.float32) * 0.5
            fsas.append(f)
        vec = k2.create_fsa_vec(fsas)
        if requires_grad:
            vec.requires_grad_(True)
        return vec


def plain_ragged(r) -> list:
    return r.tolist()


def plain_fsa(fsa, with_attrs: bool = True) -> dict:
    """An Fsa as plain tensors: shape row_splits, arcs (src, dst, label), scores, attributes."""
    arcs = fsa.arcs
    out = {"num_axes": arcs.num_axes(),
           "row_splits": [arcs.row_splits(a).clone() for a in range(1, arcs.num_axes())],
           "arcs": arcs.values()[:, :3].clone(),
           "scores": fsa.scores.detach().clone()}
    if with_attrs:
        for name, value in fsa.named_tensor_attr(include_scores=False):
            if name.startswith("__"):
                continue
            out[name] = value.clone() if isinstance(value, torch.Tensor) else value.tolist()
    return out


def assert_same(a, b, path: str = "fsa") -> None:
    """Exact equality of nested dicts/lists of tensors and numbers."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), path
    elif isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


def force_pruned_steps(monkeypatch, steps: str) -> None:
    """Make the built-in ``intersect_dense_pruned`` step every frame of a shared graph with
    the dense tables (``"dense"``, whatever their padding) or with the sparse arc expansion
    (``"sparse"``); ``"auto"`` leaves its per-frame choice alone."""
    from icefall_lite.fsa import pruned_dense  # noqa: PLC0415

    if steps == "auto":
        return
    monkeypatch.setattr(pruned_dense, "_MAX_PADDING", 10 ** 6)
    monkeypatch.setattr(pruned_dense.SharedGraphTables, "worth_it",
                        lambda self, active_arcs: steps == "dense")


def random_banded_arcs(rng: random.Random, max_states: int = 6, max_offset: int = 3,
                       max_label: int = 3, parallel: bool = False) -> tuple[list, int]:
    """Arcs ``(src, dst, label, score)`` of a random FSA whose arcs go ``0..max_offset``
    states forward (self-loops included), at most one arc per pair of states unless
    ``parallel`` adds two self-loops to the start state - the shape of ``ctc_graph``'s graphs,
    with scores. Arcs into the final state carry -1; some FSAs have no path."""
    n = rng.randint(2, max_states)
    final = n - 1
    arcs = []
    for s in range(final):
        for d in range(s, min(s + max_offset, final) + 1):
            if rng.random() < 0.6:
                lab = -1 if d == final else rng.randint(0, max_label)
                arcs.append((s, d, lab, round(rng.uniform(-2.0, 2.0), 4)))
    if parallel:  # two self-loops on the start state
        arcs += [(0, 0, lab, round(rng.uniform(-2.0, 2.0), 4)) for lab in (0, 1)]
    return sorted(arcs, key=lambda a: a[0]), n
