"""The :class:`Fsa` class: a single FSA or an FsaVec with per-arc attributes (k2's ``k2.Fsa``).

Storage: ``arcs`` is a :class:`RaggedArc` — a ragged shape ``[state][arc]`` (single FSA) or
``[fsa][state][arc]`` (FsaVec) plus an int32 ``[num_arcs, 4]`` tensor
``(src_state, dest_state, label, score_bits)`` with state numbers local to each FSA, exactly
k2's layout. ``scores`` (float32, autograd) and ``labels`` are views of / synced with it.

Example::

    >>> fsa = Fsa.from_str("0 1 3 0.5\\n1 2 -1 0\\n2")
    >>> fsa.scores
    tensor([0.5000, 0.0000])
    >>> vec = create_fsa_vec([fsa, fsa]); vec.shape
    (2, None, None)
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from icefall_lite.fsa import properties as props
from icefall_lite.fsa.ragged import (
    RaggedShape,
    RaggedTensor,
    splits_from_row_ids,
    splits_from_sizes,
)
from icefall_lite.fsa.ragged import cat as ragged_cat


def scores_to_bits(scores: torch.Tensor) -> torch.Tensor:
    return scores.detach().to(torch.float32).contiguous().view(torch.int32)


def bits_to_scores(bits: torch.Tensor) -> torch.Tensor:
    return bits.contiguous().view(torch.float32)


class RaggedArc:
    """k2's ``RaggedArc``: ``shape()`` ([state][arc] or [fsa][state][arc]) + ``values()``
    (int32 ``[num_arcs, 4]``)."""

    def __init__(self, shape: RaggedShape, values: torch.Tensor):
        self._shape = shape
        self._values = values
        # Fsa.arc_info's indexes where the constructor had them at hand (see
        # _vec_arcs_from_numpy); they depend on the shape and the src/dst columns only
        self._arc_info: dict[str, torch.Tensor] | None = None
        # the scores as a float32 tensor, where the constructor made them (taken once)
        self._scores: torch.Tensor | None = None

    def shape(self) -> RaggedShape:
        return self._shape

    def values(self) -> torch.Tensor:
        return self._values

    def num_axes(self) -> int:
        return self._shape.num_axes

    def dim0(self) -> int:
        return self._shape.dim0

    def num_elements(self) -> int:
        return self._values.shape[0]

    def row_splits(self, axis: int) -> torch.Tensor:
        return self._shape.row_splits(axis)

    def row_ids(self, axis: int) -> torch.Tensor:
        return self._shape.row_ids(axis)

    def tot_size(self, axis: int) -> int:
        return self._shape.tot_size(axis)

    def to(self, device) -> RaggedArc:
        return RaggedArc(self._shape.to(device), self._values.to(device))

    def __str__(self) -> str:
        return str(self._shape)


def _arcs_from_tensor(arcs: torch.Tensor) -> RaggedArc:
    """Build (and validate) a RaggedArc from k2's tensor format: ``[N, 4]`` int32 for one FSA
    or the 1-D FsaVec serialisation ``[num_fsas, 0, row_splits1, row_splits12, arcs...]``."""
    if arcs.dtype != torch.int32:
        raise ValueError(f"Fsa: arcs must be an int32 tensor, got {arcs.dtype}")
    if arcs.dim() == 2:
        if arcs.shape[1] != 4:
            raise ValueError(f"Fsa: arcs must have 4 columns, got shape {tuple(arcs.shape)}")
        n = arcs.shape[0]
        src, dst = arcs[:, 0].long(), arcs[:, 1].long()
        num_states = int(torch.maximum(src, dst).max()) + 1 if n > 0 else 0
        check_arcs(src, dst, arcs[:, 2].long(), torch.zeros_like(src),
                   torch.tensor([num_states], device=arcs.device))
        shape = RaggedShape([splits_from_row_ids(src, num_states)])
        return RaggedArc(shape, arcs)
    if arcs.dim() != 1 or arcs.numel() < 2:
        raise ValueError(f"Fsa: arcs tensor of shape {tuple(arcs.shape)} is not k2's format")
    num_fsas = int(arcs[0])
    head = 2 + 2 * (num_fsas + 1)
    if arcs.device.type == "cpu" and num_fsas >= 0 and arcs.numel() >= head:
        built = _vec_arcs_from_numpy(arcs, num_fsas, head)
        if built is not None:
            return built
    splits1 = arcs[2: 3 + num_fsas].long()
    splits12 = arcs[3 + num_fsas: head].long()
    values = arcs[head:].reshape(-1, 4)
    num_states = splits1.diff()
    n = values.shape[0]
    arc_fsa = torch.repeat_interleave(torch.arange(num_fsas, device=arcs.device),
                                      splits12.diff(), output_size=n)
    # column views: a transposing copy of [N, 3] costs ~10x more than the strided reads
    src, dst, labels = values[:, 0], values[:, 1], values[:, 2]
    # global source state of each arc; it is also the row_ids of the [state][arc] axis
    arc_state = src.to(torch.int64).add_(splits1.index_select(0, arc_fsa))
    # int32 throughout: mixed-dtype comparisons would copy every operand
    ns = num_states.to(torch.int32).index_select(0, arc_fsa)
    if not _vec_arcs_valid(src, dst, labels, ns, arc_state):
        # slow path, only to name the problem
        check_arcs(src.long(), dst.long(), labels.long(), arc_fsa, num_states)
    splits2 = splits_from_row_ids(arc_state, int(splits1[-1]))
    shape = RaggedShape([splits1, splits2])
    shape._ids[1] = arc_state
    return RaggedArc(shape, values)


def _vec_arcs_from_numpy(arcs: torch.Tensor, num_fsas: int, head: int) -> RaggedArc | None:
    """The 1-D FsaVec format on CPU, validated and indexed on a numpy view, in ~25 numpy
    calls (~1-7 us each on a lattice's arrays, where a torch op costs ~5-10 us); the shape's
    ``row_ids``, the int64 indexes of :meth:`Fsa.arc_info` and the scores come with it
    (``RaggedArc._arc_info``, ``RaggedArc._scores``), as they are by-products of the checks.
    None where the header is inconsistent or an arc is not valid (the torch path then names
    the problem).

    The checks are those of :func:`_vec_arcs_valid`, with fewer passes: the global source
    states are non-decreasing (so each FSA's ``src`` is), and each FSA's first ``src`` is
    >= 0 and its last < its final state, so every ``src`` is in range."""
    a = arcs.numpy()
    if (a.size - head) % 4:
        return None
    splits1 = a[2: 3 + num_fsas].astype(np.int64)
    splits12 = a[3 + num_fsas: head].astype(np.int64)
    v = a[head:].reshape(-1, 4)
    n = v.shape[0]
    num_states = np.diff(splits1)
    arcs_per_fsa = np.diff(splits12)
    if splits1[0] != 0 or splits12[0] != 0 or splits12[-1] != n or (
            num_fsas and min(num_states.min(), arcs_per_fsa.min()) < 0):
        return None
    fsa_ids = np.arange(num_fsas)
    arc_fsa = np.repeat(fsa_ids, arcs_per_fsa)
    src, dst, labels = v[:, 0], v[:, 1], v[:, 2]
    state0 = np.repeat(splits1[:-1], arcs_per_fsa)
    arc_state = state0 + src
    if n:
        has = arcs_per_fsa > 0
        first, last = splits12[:-1][has], splits12[1:][has] - 1
        final = num_states.astype(np.int32) - 1
        # to_final[i] = final state - dst: >= 0, and 0 exactly for the label -1 arcs
        to_final = np.repeat(final, arcs_per_fsa)
        to_final -= dst
        if not ((n < 2 or (arc_state[1:] >= arc_state[:-1]).all())
                and src.take(first).min() >= 0 and (src.take(last) < final[has]).all()
                and dst.min() >= 0 and to_final.min() >= 0
                and not ((to_final == 0) != (labels == -1)).any()):
            return None
    total = int(splits1[-1])
    splits2 = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(np.bincount(arc_state, minlength=total), out=splits2[1:])
    t = torch.from_numpy
    splits1_t, arc_state_t = t(splits1), t(arc_state)
    shape = RaggedShape([splits1_t, t(splits2)])
    shape._ids[1] = arc_state_t
    out = RaggedArc(shape, arcs[head:].reshape(-1, 4))
    out._scores = t(np.ascontiguousarray(v[:, 3]).view(np.float32))
    out._arc_info = {
        "src": arc_state_t,
        "dst": t(state0 + dst),
        "fsa": t(arc_fsa),
        "state_fsa": t(np.repeat(fsa_ids, num_states)),
        "start": splits1_t[:-1],
        "final": t(np.where(num_states > 0, splits1[1:] - 1, -1)),
        "num_states": t(num_states),
    }
    return out


def _vec_arcs_valid(src, dst, labels, ns, arc_state) -> bool:
    """The checks of :func:`check_arcs` in few passes (True if valid): states in range, the
    final state entered exactly by label -1 arcs and left by none, arcs sorted by source."""
    if src.numel() == 0:
        return True
    final = ns - 1
    if not bool(((src < final) & (dst <= final)).all()):
        return False
    if int(torch.minimum(src, dst).min()) < 0:
        return False
    if not bool(((labels == -1) == (dst == final)).all()):
        return False
    # with states in range, per-FSA sorted sources make the global ones non-decreasing
    return src.numel() < 2 or bool((arc_state[1:] >= arc_state[:-1]).all())


def check_arcs(src, dst, labels, arc_fsa, num_states) -> None:
    """Raise ValueError naming the problem if the arcs do not form valid k2 FSAs."""
    err = props.validity_error(src, dst, labels, arc_fsa, num_states)
    if err:
        raise ValueError(f"Fsa is not valid: {err}")


#: ``Fsa._cache`` entries that depend only on the shape and the arcs' src/dst columns, so
#: they stay valid when ``scores`` or ``labels`` are assigned (:mod:`.paths`' levels among
#: them); every other entry is dropped then
STRUCTURE_CACHE_KEYS = frozenset({
    "_arc_info", "_graded", "_levels", "_level_rank", "_in_levels", "_out_parts", "_lanes",
    ("_padded", False), ("_padded", True)})


class Fsa:
    """A single FSA (``shape == (num_states, None)``) or an FsaVec
    (``shape == (num_fsas, None, None)``), with k2's attribute semantics:
    tensor/ragged attributes have one entry per arc and follow arcs through algorithms; other
    attributes are copied; ``scores`` supports autograd.

    Example::

        >>> fsa = Fsa(torch.tensor([[0, 1, 2, 0], [1, 2, -1, 0]], dtype=torch.int32),
        ...           aux_labels=torch.tensor([5, -1], dtype=torch.int32))
    """

    def __init__(
        self,
        arcs: torch.Tensor | RaggedArc,
        aux_labels: torch.Tensor | RaggedTensor | None = None,
        properties: int | None = None,
    ) -> None:
        if isinstance(arcs, torch.Tensor):
            arcs = _arcs_from_tensor(arcs)
        if not isinstance(arcs, RaggedArc):
            raise ValueError(f"Fsa: arcs must be a tensor or RaggedArc, got {type(arcs)}")
        d = self.__dict__
        d["arcs"] = arcs
        d["_properties"] = properties
        d["_tensor_attr"] = {}
        d["_non_tensor_attr"] = {}
        d["_cache"] = {} if arcs._arc_info is None else {"_arc_info": arcs._arc_info}
        values = arcs.values()
        if arcs._scores is not None:
            self._tensor_attr["scores"] = arcs._scores
            arcs._scores = None  # a second Fsa of these arcs gets a copy of its own
        else:
            self._tensor_attr["scores"] = bits_to_scores(values[:, 3])
        self._tensor_attr["labels"] = values[:, 2]
        if aux_labels is not None:
            if isinstance(aux_labels, torch.Tensor):
                aux_labels = aux_labels.to(torch.int32)
            self.aux_labels = aux_labels

    # -- fast internal constructors ----------------------------------------------------------
    @classmethod
    def from_fsa_vec_parts(
        cls,
        row_splits1: torch.Tensor,
        row_splits2: torch.Tensor,
        arcs: torch.Tensor,
        scores: torch.Tensor | None = None,
        check: bool = False,
        **attrs: Any,
    ) -> Fsa:
        """An FsaVec straight from batched tensors, without loops or text.

        Args:
          row_splits1: ``[num_fsas + 1]`` state offsets of each FSA.
          row_splits2: ``[num_states_total + 1]`` arc offsets of each state (arcs grouped by
            global source state, FSA by FSA).
          arcs: int ``[num_arcs, 3]`` ``(src, dest, label)`` with states local to each FSA
            (or ``[num_arcs, 4]`` with score bits in column 3 when ``scores`` is None).
          scores: float ``[num_arcs]``; autograd is kept (it becomes ``fsa.scores``).
          check: validate like ``Fsa(tensor)`` does (costs a few reductions).
          attrs: per-arc tensors / RaggedTensors (``aux_labels=...``) or other attributes.
        """
        device = arcs.device
        row_splits1 = row_splits1.to(device=device, dtype=torch.int64)
        row_splits2 = row_splits2.to(device=device, dtype=torch.int64)
        n = arcs.shape[0]
        values = torch.empty(n, 4, dtype=torch.int32, device=device)
        values[:, :3] = arcs[:, :3].to(torch.int32)
        if scores is None:
            values[:, 3] = arcs[:, 3].to(torch.int32)
        else:
            values[:, 3] = scores_to_bits(scores)
        shape = RaggedShape([row_splits1, row_splits2])
        if check:
            arc_fsa = shape.row_ids_long(1)[shape.row_ids_long(2)]
            check_arcs(values[:, 0].long(), values[:, 1].long(), values[:, 2].long(), arc_fsa,
                       row_splits1.diff())
        fsa = cls(RaggedArc(shape, values))
        if scores is not None:
            fsa._tensor_attr["scores"] = scores
        for name, value in attrs.items():
            setattr(fsa, name, value)
        return fsa

    @classmethod
    def _from_parts(cls, shape: RaggedShape, src, dst, labels, scores) -> Fsa:
        """Internal: shape + per-arc local src/dst, labels and (autograd) scores."""
        n = labels.shape[0]
        values = torch.empty(n, 4, dtype=torch.int32, device=labels.device)
        values[:, 0] = src
        values[:, 1] = dst
        values[:, 2] = labels
        values[:, 3] = scores_to_bits(scores)
        fsa = cls(RaggedArc(shape, values))
        fsa._tensor_attr["scores"] = scores
        return fsa

    # -- attribute plumbing (k2 semantics) ------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_tensor_attr", "_non_tensor_attr", "arcs", "_cache", "_properties",
                    "properties"):
            raise AttributeError(f"Fsa: cannot set {name!r}")
        n = self.num_arcs
        if isinstance(value, torch.Tensor):
            if value.shape[0] != n:
                raise ValueError(f"Fsa.{name}: has {value.shape[0]} entries, expected {n} arcs")
            if value.device != self.device:
                raise ValueError(f"Fsa.{name}: on {value.device}, the Fsa is on {self.device}")
            if name == "labels":
                if value.dtype != torch.int32:
                    raise ValueError("Fsa.labels must be int32")
                self.arcs.values()[:, 2] = value
                self.__dict__["_properties"] = None
                self._clear_cache()
                return
            if name == "scores":
                if value.dtype != torch.float32:
                    raise ValueError(f"Fsa.scores must be float32, got {value.dtype}")
                self.arcs.values()[:, 3] = scores_to_bits(value)
                self._clear_cache()
            self._tensor_attr[name] = value
        elif isinstance(value, RaggedTensor):
            if value.dim0 != n:
                raise ValueError(f"Fsa.{name}: ragged dim0 {value.dim0} != {n} arcs")
            self._tensor_attr[name] = value
        else:
            self._non_tensor_attr[name] = value

    def _clear_cache(self) -> None:
        """Drop what depends on scores or labels; keep what depends only on the states and
        arcs' src/dst (indexes, levels: :data:`STRUCTURE_CACHE_KEYS`)."""
        cache = self._cache
        for key in [k for k in cache if k not in STRUCTURE_CACHE_KEYS]:
            del cache[key]

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_tensor_attr", "_non_tensor_attr", "_cache"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"Unknown attribute {name}")

    def __delattr__(self, name: str) -> None:
        for store in (self._tensor_attr, self._non_tensor_attr, self._cache):
            if name in store and name not in ("scores", "labels"):
                del store[name]
                return
        raise AttributeError(f"No such attribute in Fsa: {name}")

    def __dir__(self):
        return list(super().__dir__()) + list(self._tensor_attr) + list(self._non_tensor_attr)

    @property
    def labels(self) -> torch.Tensor:
        return self._tensor_attr["labels"]

    @labels.setter
    def labels(self, value: torch.Tensor) -> None:
        Fsa.__setattr__(self, "labels", value)

    def named_tensor_attr(self, include_scores: bool = True) -> Iterator[tuple[str, Any]]:
        for name, value in self._tensor_attr.items():
            if name == "labels" or (name == "scores" and not include_scores):
                continue
            yield name, value

    def named_non_tensor_attr(self) -> Iterator[tuple[str, Any]]:
        return iter(self._non_tensor_attr.items())

    def get_filler(self, attribute_name: str) -> int | float:
        return self._non_tensor_attr.get(attribute_name + "_filler", 0)

    def rename_tensor_attribute_(self, src_name: str, dest_name: str) -> Fsa:
        if src_name == dest_name:
            return self
        if src_name == "labels":
            value = self.labels.clone()
            if dest_name in self._tensor_attr:
                raise ValueError(f"rename: {dest_name} exists")
            setattr(self, dest_name, value)
            return self
        value = self._tensor_attr.pop(src_name)
        if dest_name == "labels":
            self.labels = value
        else:
            setattr(self, dest_name, value)
        return self

    # -- structure -----------------------------------------------------------------------------
    @property
    def num_arcs(self) -> int:
        return self.arcs.values().shape[0]

    @property
    def shape(self) -> tuple:
        s = self.arcs.shape()
        return (s.dim0, None) if s.num_axes == 2 else (s.dim0, None, None)

    @property
    def device(self) -> torch.device:
        return self.arcs.values().device

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def is_cpu(self) -> bool:
        return self.device.type == "cpu"

    @property
    def requires_grad(self) -> bool:
        return self.scores.requires_grad

    @property
    def grad(self):
        return self.scores.grad

    def requires_grad_(self, requires_grad: bool) -> Fsa:
        self.scores.requires_grad_(requires_grad)
        return self

    def as_vec_shape(self) -> RaggedShape:
        """The 3-axis ``[fsa][state][arc]`` shape (a single FSA counts as a vec of one)."""
        s = self.arcs.shape()
        if s.num_axes == 3:
            return s
        dev = self.device
        return RaggedShape([torch.tensor([0, s.dim0], device=dev), s.row_splits_long(1)])

    def arc_info(self) -> dict[str, torch.Tensor]:
        """Cached int64 per-arc/per-state indexes used by the algorithms: ``src``/``dst``
        (global state ids), ``fsa`` (FSA of each arc), ``state_fsa``, ``start`` (first state of
        each FSA), ``final`` (last state of each non-empty FSA, else -1)."""
        info = self._cache.get("_arc_info")
        if info is None:
            shape = self.as_vec_shape()
            values = self.arcs.values()
            arc_state = shape.row_ids_long(2)
            state_fsa = shape.row_ids_long(1)
            arc_fsa = state_fsa.index_select(0, arc_state)
            offsets = shape.row_splits_long(1)
            nstates = offsets.diff()
            info = {
                "src": arc_state,
                "dst": values[:, 1].to(torch.int64).add_(offsets[:-1].index_select(0, arc_fsa)),
                "fsa": arc_fsa,
                "state_fsa": state_fsa,
                "start": offsets[:-1],
                "final": torch.where(nstates > 0, offsets[1:] - 1, torch.full_like(nstates, -1)),
                "num_states": nstates,
            }
            self._cache["_arc_info"] = info
        return info

    @property
    def properties(self) -> int:
        p = self.__dict__.get("_properties")
        if p is None:
            info = self.arc_info()
            values = self.arcs.values()
            num_states = int(info["state_fsa"].numel())
            has_in = torch.zeros(num_states, dtype=torch.bool, device=self.device)
            has_out = torch.zeros_like(has_in)
            has_in[info["dst"]] = True
            has_out[info["src"]] = True
            is_start = torch.zeros_like(has_in)
            is_final = torch.zeros_like(has_in)
            nonempty = info["num_states"] > 0
            is_start[info["start"][nonempty]] = True
            is_final[info["final"][nonempty]] = True
            p = props.basic_properties(info["src"], info["dst"], values[:, 2], info["src"],
                                       has_in, has_out, is_start, is_final,
                                       bool((self.as_vec_shape().row_splits_long(2)[
                                           self.as_vec_shape().row_splits_long(1)].diff() > 0
                                       ).all()))
            self.__dict__["_properties"] = p
        return p

    @property
    def properties_str(self) -> str:
        return f"\"{props.to_str(self.properties)}\""

    # -- copies, devices -------------------------------------------------------------------
    def _copy_with(self, arcs: RaggedArc, attr_fn) -> Fsa:
        out = Fsa(arcs, properties=self._properties)
        for name, value in self.named_tensor_attr(include_scores=True):
            setattr(out, name, attr_fn(value))
        for name, value in self.named_non_tensor_attr():
            setattr(out, name, value)
        return out

    def to(self, device: str | torch.device) -> Fsa:
        device = torch.device(device)
        if device == self.device:
            return self
        out = self._copy_with(self.arcs.to(device), lambda v: v.to(device))
        return out

    def clone(self) -> Fsa:
        arcs = RaggedArc(self.arcs.shape().clone(), self.arcs.values().clone())
        return self._copy_with(arcs, lambda v: v.clone())

    def detach(self) -> Fsa:
        return self._copy_with(self.arcs, lambda v: v.detach() if isinstance(v, torch.Tensor)
                               else v)

    # -- indexing ---------------------------------------------------------------------------
    def __getitem__(self, i: int) -> Fsa:
        """FSA ``i`` of an FsaVec as a single Fsa (attributes sliced, autograd kept)."""
        if self.arcs.num_axes() != 3:
            raise ValueError("Only an FsaVec (3 axes) can be indexed")
        n = self.shape[0]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"FSA index {i} out of range for an FsaVec of {n}")
        shape = self.arcs.shape()
        s1 = shape.row_splits_long(1)
        s2 = shape.row_splits_long(2)
        st0, st1 = int(s1[i]), int(s1[i + 1])
        a0, a1 = int(s2[st0]), int(s2[st1])
        sub = RaggedShape([s2[st0: st1 + 1] - a0])
        out = Fsa(RaggedArc(sub, self.arcs.values()[a0:a1]))
        for name, value in self.named_tensor_attr(include_scores=True):
            if isinstance(value, torch.Tensor):
                setattr(out, name, value[a0:a1])
            else:
                idx = torch.arange(a0, a1, device=self.device)
                setattr(out, name, value.index(idx)[0])
        for name, value in self.named_non_tensor_attr():
            setattr(out, name, value)
        return out

    # -- serialisation ------------------------------------------------------------------------
    def arcs_as_tensor(self) -> torch.Tensor:
        """k2's tensor format (see ``Fsa.__init__``): ``[N, 4]`` or the 1-D FsaVec layout."""
        values = self.arcs.values().clone()
        values[:, 3] = scores_to_bits(self.scores)
        if self.arcs.num_axes() == 2:
            return values
        shape = self.arcs.shape()
        s1 = shape.row_splits_long(1)
        s12 = shape.row_splits_long(2)[s1]
        head = torch.cat([torch.tensor([shape.dim0, 0], device=self.device), s1, s12])
        return torch.cat([head.to(torch.int32), values.reshape(-1)])

    def as_dict(self) -> dict[str, Any]:
        """k2's serialisation dict (``{"arcs": tensor, <attrs>...}``); load with ``from_dict``
        in either backend."""
        ans: dict[str, Any] = {"arcs": self.arcs_as_tensor()}
        for name, value in self.named_tensor_attr(include_scores=False):
            ans[name] = value
        for name, value in self.named_non_tensor_attr():
            ans[name] = value
        ans.setdefault("labels_version", 0)
        return ans

    @classmethod
    def from_dict(cls, dict_in: dict[str, Any]) -> Fsa:
        fsa = cls(dict_in["arcs"], aux_labels=_to_ours(dict_in.get("aux_labels")))
        for key, value in dict_in.items():
            if key in ("arcs", "aux_labels", "labels_version"):
                continue
            setattr(fsa, key, _to_ours(value))
        return fsa

    @classmethod
    def from_str(cls, s: str, acceptor: bool | None = None,
                 num_aux_labels: int | None = None,
                 aux_label_names: list[str] | None = None,
                 ragged_label_names: list[str] | None = None,
                 openfst: bool = False) -> Fsa:
        from icefall_lite.fsa.text import fsa_from_str

        return fsa_from_str(s, acceptor, num_aux_labels, aux_label_names,
                            ragged_label_names or [], openfst)

    @classmethod
    def from_openfst(cls, s: str, acceptor: bool | None = None,
                     num_aux_labels: int | None = None,
                     aux_label_names: list[str] | None = None,
                     ragged_label_names: list[str] | None = None) -> Fsa:
        return cls.from_str(s, acceptor, num_aux_labels, aux_label_names, ragged_label_names,
                            openfst=True)

    @staticmethod
    def from_fsas(fsas: list[Fsa]) -> Fsa:
        return create_fsa_vec(fsas)

    def to_str(self, openfst: bool = False) -> str:
        from icefall_lite.fsa.text import fsa_to_str

        return fsa_to_str(self, openfst)

    def __str__(self) -> str:
        return self.to_str()

    def draw(self, filename: str | None, title: str | None = None) -> str:
        """Graphviz dot source of this FSA, rendered to ``filename`` when given (needs the
        ``dot`` program)."""
        from icefall_lite.fsa.dot import draw, to_dot

        return to_dot(self, title=title) if filename is None else draw(self, filename, title)

    __repr__ = __str__

    # -- scores along paths (see paths.py) ----------------------------------------------------
    def get_forward_scores(self, use_double_scores: bool, log_semiring: bool) -> torch.Tensor:
        from icefall_lite.fsa.paths import get_forward_scores

        return get_forward_scores(self, use_double_scores, log_semiring)

    def get_backward_scores(self, use_double_scores: bool, log_semiring: bool) -> torch.Tensor:
        from icefall_lite.fsa.paths import get_backward_scores

        return get_backward_scores(self, use_double_scores, log_semiring)

    def get_tot_scores(self, use_double_scores: bool, log_semiring: bool) -> torch.Tensor:
        from icefall_lite.fsa.paths import get_tot_scores

        return get_tot_scores(self, use_double_scores, log_semiring)

    def get_arc_post(self, use_double_scores: bool, log_semiring: bool) -> torch.Tensor:
        from icefall_lite.fsa.paths import get_arc_post

        return get_arc_post(self, use_double_scores, log_semiring)

    # -- inversion ----------------------------------------------------------------------------
    def invert_(self) -> Fsa:
        """Swap labels and (tensor) aux_labels in place."""
        if "aux_labels" not in self._tensor_attr:
            return self
        aux = self._tensor_attr["aux_labels"]
        if not isinstance(aux, torch.Tensor):
            raise ValueError("invert_: ragged aux_labels; use icefall_lite.fsa.invert")
        old = self.labels.clone()
        self.labels = aux.to(torch.int32)
        self._tensor_attr["aux_labels"] = old
        return self

    def invert(self) -> Fsa:
        return self.clone().invert_()


def _to_ours(value):
    """Convert a real-k2 RaggedTensor (from a file written by k2) into ours."""
    if value is not None and type(value).__name__ == "RaggedTensor" \
            and not isinstance(value, RaggedTensor):
        splits = [value.shape.row_splits(a) for a in range(1, value.num_axes)]
        return RaggedTensor(RaggedShape(splits), value.values)
    return value


def create_fsa_vec(fsas: list[Fsa]) -> Fsa:
    """Stack single FSAs into an FsaVec; tensor attributes are concatenated, other attributes
    are taken from the first FSA that has them."""
    if len(fsas) == 0:
        raise ValueError("create_fsa_vec: empty list")
    for i, f in enumerate(fsas):
        if len(f.shape) != 2:
            raise ValueError(f"create_fsa_vec: fsas[{i}] is not a single FSA")
    device = fsas[0].device
    nstates = torch.tensor([f.shape[0] for f in fsas], device=device)
    splits1 = splits_from_sizes(nstates)
    arc_offsets = torch.tensor([0] + [f.num_arcs for f in fsas], device=device).cumsum(0)
    splits2 = torch.cat([fsas[0].arcs.shape().row_splits_long(1)[:1]] + [
        f.arcs.shape().row_splits_long(1)[1:] + arc_offsets[i] for i, f in enumerate(fsas)])
    values = torch.cat([f.arcs.values() for f in fsas])
    out = Fsa(RaggedArc(RaggedShape([splits1, splits2]), values))
    names: dict[str, None] = {}
    for f in fsas:
        for name, _ in f.named_tensor_attr():
            names[name] = None
    for name in names:
        vals = [getattr(f, name) for f in fsas]
        if isinstance(vals[0], torch.Tensor):
            setattr(out, name, torch.cat(vals))
        else:
            setattr(out, name, ragged_cat(vals, axis=0))
    for f in fsas:
        for name, value in f.named_non_tensor_attr():
            if name not in out._non_tensor_attr:
                setattr(out, name, value)
    return out


def index_select_default(src: torch.Tensor, index: torch.Tensor, default=0) -> torch.Tensor:
    """``src[index]`` with ``default`` where ``index == -1``; differentiable w.r.t. ``src``."""
    index = index.long()
    valid = index >= 0
    if src.shape[0] == 0:
        return src.sum() * 0 + torch.full((index.shape[0],) + tuple(src.shape[1:]), default,
                                          dtype=src.dtype, device=src.device)
    out = src[index.clamp(min=0)]
    if bool(valid.all()):
        return out
    return torch.where(valid, out, torch.full_like(out, default))


def propagate_unary(src: Fsa, dest: Fsa, arc_map: torch.Tensor, scores: bool = True) -> Fsa:
    """Give ``dest`` (built with ``arc_map`` into ``src``, -1 = new arc) ``src``'s attributes
    and differentiable scores, like k2's ``fsa_from_unary_function_tensor``; with
    ``scores=False`` all but the scores (the caller set them)."""
    for name, value in src.named_tensor_attr(include_scores=False):
        if isinstance(value, torch.Tensor):
            setattr(dest, name, index_select_default(value, arc_map, src.get_filler(name)))
        else:
            setattr(dest, name, value.index(arc_map)[0])
    for name, value in src.named_non_tensor_attr():
        setattr(dest, name, value)
    if scores:
        dest.scores = index_select_default(src.scores, arc_map, 0.0)
    return dest


def linear_paths_fsa(src: Fsa, arc_map: np.ndarray, lengths: np.ndarray) -> Fsa:
    """The FsaVec of linear FSAs whose arcs are the arcs ``arc_map`` of ``src`` (CPU), FSA
    ``i`` taking the next ``lengths[i]`` of them (an FSA with no states where that is 0),
    with ``src``'s attributes and differentiable scores: what :func:`make_fsa` and
    :func:`propagate_unary` build for such paths, in ~20 numpy calls (a 2-axis FSA if
    ``src`` is one; then ``lengths`` has one entry)."""
    num_paths = lengths.size
    num_arcs = arc_map.size
    num_states = np.where(lengths > 0, lengths + 1, 0)
    splits1 = np.zeros(num_paths + 1, dtype=np.int64)
    np.cumsum(num_states, out=splits1[1:])
    total = int(splits1[-1])
    # every state has one leaving arc but each path's last
    out_deg = np.ones(total, dtype=np.int64)
    out_deg[splits1[1:][lengths > 0] - 1] = 0
    splits2 = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(out_deg, out=splits2[1:])
    arc_first = np.zeros(num_paths + 1, dtype=np.int64)
    np.cumsum(lengths, out=arc_first[1:])
    own = np.repeat(np.arange(num_paths), lengths)
    pos = np.arange(num_arcs) - arc_first[:-1].take(own)
    values = src.arcs.values().numpy().take(arc_map, 0)
    values[:, 0] = pos
    pos += 1
    values[:, 1] = pos
    t = torch.from_numpy
    splits2_t = t(splits2)
    if src.arcs.num_axes() == 2:
        shape = RaggedShape([splits2_t])
    else:
        shape = RaggedShape([t(splits1), splits2_t])
    scores = src.scores
    arc_map_t = t(arc_map)
    if scores.requires_grad:
        out_scores = scores.index_select(0, arc_map_t)
    else:
        out_scores = t(scores.numpy().take(arc_map))
    values[:, 3] = out_scores.detach().numpy().view(np.int32)
    arcs = RaggedArc(shape, t(values))
    arcs._scores = out_scores
    return propagate_unary(src, Fsa(arcs), arc_map_t, scores=False)


def make_fsa(
    num_states: torch.Tensor,
    src: torch.Tensor,
    dst: torch.Tensor,
    labels: torch.Tensor,
    scores: torch.Tensor,
    single: bool,
) -> Fsa:
    """Build an Fsa from per-FSA state counts and arcs with *global* state ids (arcs must be
    sorted by ``src``). ``single`` makes a 2-axis FSA (needs one FSA)."""
    num_states = num_states.long()
    splits1 = splits_from_sizes(num_states)
    total = int(splits1[-1])
    splits2 = splits_from_row_ids(src, total)
    state_fsa = torch.repeat_interleave(torch.arange(num_states.numel(), device=src.device),
                                        num_states, output_size=total)
    off = splits1[:-1][state_fsa[src]] if src.numel() > 0 else src
    shape = RaggedShape([splits2]) if single else RaggedShape([splits1, splits2])
    return Fsa._from_parts(shape, src - off, dst - off, labels, scores)


__all__ = ["Fsa", "RaggedArc", "create_fsa_vec", "linear_paths_fsa", "load_fsa", "load_fsa_dict",
           "make_fsa", "propagate_unary"]


class _K2RaggedState:
    """Stand-in for ``_k2.ragged.RaggedTensor`` when reading files written by real k2; its
    pickled state is ``(row_splits1, row_ids1, ..., row_splitsN, row_idsN, values)`` (row_ids
    may be a placeholder string)."""

    def __setstate__(self, state) -> None:
        self.state = state

    def to_ragged(self) -> RaggedTensor:
        parts = list(self.state)
        values = parts[-1]
        splits = parts[0:-1:2]
        return RaggedTensor(RaggedShape(splits), values)


#: The only Python objects an FSA file needs: tensors (torch resolves its storage classes
#: itself), the OrderedDict of a tensor's rebuild arguments, and ragged attributes (ours, or
#: real k2's, read into :class:`_K2RaggedState`).
_FSA_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"),
    ("collections", "OrderedDict"),
    ("icefall_lite.fsa.ragged", "RaggedTensor"),
    ("icefall_lite.fsa.ragged", "RaggedShape"),
}


class UnsafeFsaFileError(pickle.UnpicklingError):
    """An FSA file whose pickle names something an FSA never holds (loading it could run
    code); nothing of it was run."""


class _FsaUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == "_k2.ragged" and name == "RaggedTensor":
            return _K2RaggedState
        if (module, name) in _FSA_GLOBALS:
            return super().find_class(module, name)
        raise UnsafeFsaFileError(f"{module}.{name}")


def torch_load_restricted(path, unpickler: type[pickle.Unpickler],
                          map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path)`` with ``unpickler`` (a ``pickle.Unpickler`` whose ``find_class``
    admits only what the caller allows) building the objects.

    torch 1.13's ``torch.load`` ignores ``pickle_module`` unless ``weights_only`` (it then uses
    the standard unpickler), so there the archive is read with torch's own zip loader and
    ``unpickler``; files in torch's pre-1.6 (non-zip) format are refused there."""
    module = SimpleNamespace(Unpickler=unpickler, load=pickle.load, __name__="restricted_pickle")
    if int(torch.__version__.split(".")[0]) >= 2:
        return torch.load(path, map_location=map_location, pickle_module=module,
                          weights_only=False)  # `unpickler` decides what may be built
    from torch import serialization

    with open(path, "rb") as f:
        if not serialization._is_zipfile(f):
            raise pickle.UnpicklingError("not a zip-format torch file")
        f.seek(0)
        with serialization._open_zipfile_reader(f) as archive:
            return serialization._load(archive, map_location, module, encoding="utf-8")


def load_fsa_dict(path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The ``Fsa.as_dict()`` saved in ``path`` (by either backend), read by an unpickler that
    accepts only tensors and ragged tensors, so no file can run code.

    Raises FileNotFoundError, and ValueError naming the file for anything that is not such a
    dict (an object an FSA never holds, a truncated file, no ``arcs``)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"FSA file {path} does not exist")
    try:
        d = torch_load_restricted(path, _FsaUnpickler, map_location)
    except UnsafeFsaFileError as e:
        raise ValueError(f"FSA file {path} was not loaded: it holds {e}, which no FSA holds "
                         f"(loading it could run code)") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
        raise ValueError(f"cannot read FSA file {path} (truncated or not a torch file?): "
                         f"{e}") from e
    if not isinstance(d, dict) or "arcs" not in d:
        raise ValueError(f"FSA file {path} does not hold an Fsa dict (no 'arcs' key)")
    return {k: v.to_ragged() if isinstance(v, _K2RaggedState) else v for k, v in d.items()}


def load_fsa(path, map_location: str | torch.device = "cpu") -> Fsa:
    """Load an Fsa saved with ``torch.save(fsa.as_dict(), path)`` by either backend (ragged
    attributes written by real k2 included) without importing k2; see :func:`load_fsa_dict`."""
    return Fsa.from_dict(load_fsa_dict(path, map_location))
