"""Ragged shapes and ragged tensors (k2's ``k2.RaggedShape`` / ``k2.RaggedTensor``).

A ragged tensor of ``N`` axes is a 1-D ``values`` tensor plus a :class:`RaggedShape`: one
``row_splits`` vector per axis after the first (``row_splits(i)[j]:row_splits(i)[j+1]`` are the
children on axis ``i`` of element ``j`` on axis ``i-1``). ``row_ids(i)`` is the inverse map.
Everything is vectorised; index vectors returned to the user are int32 like k2's.

Example::

    >>> r = RaggedTensor([[1, 2], [], [3]])
    >>> r.shape.row_splits(1)
    tensor([0, 2, 2, 3], dtype=torch.int32)
    >>> r.remove_values_leq(1).tolist()
    [[2], [], [3]]
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np
import torch

# torch 1.13 flags scatter_reduce (used for segment max/argmax) as beta on every call
warnings.filterwarnings("ignore", message=r"scatter_reduce\(\) is in beta")


def _long(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.int64)


def row_ids_from_splits(row_splits: torch.Tensor, tot: int | None = None) -> torch.Tensor:
    """``row_ids`` (int64) of a ``row_splits`` vector: ``[0, 2, 3] -> [0, 0, 1]``."""
    counts = _long(row_splits[1:] - row_splits[:-1])
    n = counts.numel()
    ids = torch.arange(n, device=row_splits.device)
    if tot is None:
        return torch.repeat_interleave(ids, counts)
    return torch.repeat_interleave(ids, counts, output_size=tot)


def splits_from_row_ids(row_ids: torch.Tensor, dim0: int) -> torch.Tensor:
    """``row_splits`` (int64) of sorted ``row_ids`` with ``dim0`` rows."""
    counts = torch.bincount(_long(row_ids), minlength=dim0)
    out = torch.zeros(dim0 + 1, dtype=torch.int64, device=row_ids.device)
    out[1:] = torch.cumsum(counts[:dim0], 0)
    return out


def splits_from_sizes(sizes: torch.Tensor) -> torch.Tensor:
    """Exclusive cumulative sum with a trailing total: ``[2, 0, 1] -> [0, 2, 2, 3]``."""
    out = torch.zeros(sizes.numel() + 1, dtype=torch.int64, device=sizes.device)
    out[1:] = torch.cumsum(_long(sizes), 0)
    return out


def expand_ranges(starts: torch.Tensor, sizes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate ``arange(starts[i], starts[i] + sizes[i])`` over ``i``.

    Returns ``(indexes, owner)`` (both int64) where ``owner[k]`` is the ``i`` of ``indexes[k]``.
    """
    sizes = _long(sizes)
    device = sizes.device
    if sizes.numel() == 0:
        empty = torch.zeros(0, dtype=torch.int64, device=device)
        return empty, empty
    ends = torch.cumsum(sizes, 0)
    n = int(ends[-1])
    owner = torch.repeat_interleave(torch.arange(sizes.numel(), device=device), sizes,
                                    output_size=n)
    # start[i] - (first output position of i), repeated, plus the output position
    idx = torch.repeat_interleave(_long(starts) - ends + sizes, sizes, output_size=n)
    return idx.add_(torch.arange(n, device=device)), owner


def group_positions(fsa_of: torch.Tensor, sizes: list[int], num_fsas: int,
                   fsa_base: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """A stable counting sort by group: items listed in blocks (``sizes[k]`` items in block
    k), each block sorted by group id ``fsa_of``, get positions grouped by group (list order
    kept within a group), from a [blocks x groups] count table instead of a sort. Returns
    (positions, count per group); the group blocks start at ``fsa_base`` (default: packed).

    E.g. BFS steps x FSAs (regroup by FSA), or FSAs x levels (regroup by level)."""
    device = fsa_of.device
    num_steps = max(len(sizes), 1)
    n = fsa_of.numel()
    step_off = torch.arange(num_steps, device=device) * num_fsas
    cell = fsa_of + torch.repeat_interleave(
        step_off[:len(sizes)], torch.tensor(sizes, dtype=torch.int64, device=device),
        output_size=n)
    flat = torch.bincount(cell, minlength=num_steps * num_fsas)
    counts = flat.view(num_steps, num_fsas)
    per_fsa = counts.sum(0)
    if fsa_base is None:
        fsa_base = torch.cumsum(per_fsa, 0) - per_fsa
    # position = base of the FSA + its items in earlier steps + rank within the cell
    delta = (fsa_base + torch.cumsum(counts, 0) - counts).reshape(-1) - \
        (torch.cumsum(flat, 0) - flat)
    return delta.index_select(0, cell).add_(torch.arange(n, device=device)), per_fsa



class RaggedShape:
    """The shape of a ragged tensor: a list of ``row_splits`` vectors, one per axis after 0.

    ``RaggedShape(row_splits_list)`` or ``RaggedShape("[ [ x x ] [ x ] ]")``.
    """

    def __init__(self, row_splits: str | Sequence[torch.Tensor]):
        if isinstance(row_splits, str):
            row_splits = _parse_ragged_str(row_splits, with_values=False)[0]._splits
        if len(row_splits) < 1:
            raise ValueError("RaggedShape needs at least 2 axes (one row_splits vector)")
        self._splits: list[torch.Tensor] = [_long(s) for s in row_splits]
        self._ids: list[torch.Tensor | None] = [None] * len(self._splits)

    # -- structure -------------------------------------------------------------------------
    @property
    def num_axes(self) -> int:
        return len(self._splits) + 1

    @property
    def dim0(self) -> int:
        return self._splits[0].numel() - 1

    @property
    def device(self) -> torch.device:
        return self._splits[0].device

    def _check_axis(self, axis: int) -> None:
        if not 1 <= axis < self.num_axes:
            raise ValueError(f"axis must be in [1, {self.num_axes}), got {axis}")

    def row_splits(self, axis: int) -> torch.Tensor:
        self._check_axis(axis)
        return self._splits[axis - 1].to(torch.int32)

    def row_ids(self, axis: int) -> torch.Tensor:
        return self.row_ids_long(axis).to(torch.int32)

    def row_splits_long(self, axis: int) -> torch.Tensor:
        self._check_axis(axis)
        return self._splits[axis - 1]

    def row_ids_long(self, axis: int) -> torch.Tensor:
        self._check_axis(axis)
        if self._ids[axis - 1] is None:
            self._ids[axis - 1] = row_ids_from_splits(self._splits[axis - 1])
        return self._ids[axis - 1]

    def tot_size(self, axis: int) -> int:
        if axis == 0:
            return self.dim0
        self._check_axis(axis)
        return int(self._splits[axis - 1][-1])

    def tot_sizes(self) -> tuple[int, ...]:
        return tuple(self.tot_size(a) for a in range(self.num_axes))

    def numel(self) -> int:
        return self.tot_size(self.num_axes - 1)

    def max_size(self, axis: int) -> int:
        s = self.row_splits_long(axis)
        return int((s[1:] - s[:-1]).max()) if s.numel() > 1 else 0

    def to(self, device: str | torch.device) -> RaggedShape:
        return RaggedShape([s.to(device) for s in self._splits])

    def clone(self) -> RaggedShape:
        return RaggedShape([s.clone() for s in self._splits])

    def remove_axis(self, axis: int) -> RaggedShape:
        """Merge axis ``axis`` into its parent (``0 <= axis < num_axes - 1``; needs 3+ axes)."""
        if self.num_axes <= 2 or not 0 <= axis < self.num_axes - 1:
            raise ValueError(f"cannot remove axis {axis} of a shape with {self.num_axes} axes")
        s = list(self._splits)
        if axis == 0:
            return RaggedShape(s[1:])
        merged = s[axis][s[axis - 1]]
        return RaggedShape(s[: axis - 1] + [merged] + s[axis + 1:])

    def compose(self, other: RaggedShape) -> RaggedShape:
        """Append ``other``'s axes below this shape's last axis (``other.dim0 == numel()``)."""
        if other.dim0 != self.numel():
            raise ValueError(f"compose: other.dim0={other.dim0} != numel()={self.numel()}")
        return RaggedShape(self._splits + other._splits)

    def get_layer(self, layer: int) -> RaggedShape:
        return RaggedShape([self._splits[layer]])

    def index(
        self, axis: int, indexes: torch.Tensor, need_value_indexes: bool = True
    ) -> tuple[RaggedShape, torch.Tensor | None]:
        """Select elements ``indexes`` of axis 0 (``-1`` gives an empty row)."""
        if axis != 0:
            raise NotImplementedError("RaggedShape.index supports axis=0 only")
        shape, value_indexes = _index_axis0(self, _long(indexes))
        return shape, value_indexes.to(torch.int32) if need_value_indexes else None

    # -- text ------------------------------------------------------------------------------
    def __str__(self) -> str:
        return _to_str(self, None)

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RaggedShape) or other.num_axes != self.num_axes:
            return False
        return all(
            a.shape == b.shape and bool(torch.equal(a.cpu(), b.cpu()))
            for a, b in zip(self._splits, other._splits)
        )


def _index_axis0(shape: RaggedShape, indexes: torch.Tensor) -> tuple[RaggedShape, torch.Tensor]:
    """Rows ``indexes`` (int64, -1 = empty) of ``shape``; returns new shape and value indexes."""
    valid = indexes >= 0
    cur = torch.where(valid, indexes, torch.zeros_like(indexes))
    cur_valid = valid
    splits = []
    for s in shape._splits:
        starts = s[cur]
        sizes = torch.where(cur_valid, s[cur + 1] - starts, torch.zeros_like(starts))
        splits.append(splits_from_sizes(sizes))
        cur, _ = expand_ranges(starts, sizes)
        cur_valid = torch.ones_like(cur, dtype=torch.bool)
    return RaggedShape(splits), cur


def _index_axis1(shape: RaggedShape, indexes: torch.Tensor) -> tuple[RaggedShape, torch.Tensor]:
    """Elements ``indexes`` (int64 idx01, their rows non-decreasing) of axis 1 of ``shape``:
    each stays in its row of axis 0 (k2's ``Index(src, 1, indexes)``); returns the new shape
    and value indexes."""
    n1 = shape.tot_size(1)
    if indexes.numel() and (int(indexes.min()) < 0 or int(indexes.max()) >= n1):
        raise ValueError(f"index along axis 1: indexes must be in [0, {n1})")
    rows = shape.row_ids_long(1)[indexes]
    if rows.numel() > 1 and bool((rows[1:] < rows[:-1]).any()):
        raise ValueError("index along axis 1: the rows of the indexes must be non-decreasing")
    first = splits_from_row_ids(rows, shape.dim0)
    if shape.num_axes == 2:
        return RaggedShape([first]), indexes
    sub, vidx = _index_axis0(RaggedShape(shape._splits[1:]), indexes)
    return RaggedShape([first] + sub._splits), vidx


def _to_str(shape: RaggedShape, values: torch.Tensor | None) -> str:
    """k2-like nested text; ``x`` for each element when ``values`` is None."""
    flat = ["x"] * shape.numel() if values is None else [_fmt(v) for v in values.tolist()]
    items: list = flat
    for axis in range(shape.num_axes - 1, 0, -1):
        s = shape.row_splits_long(axis).tolist()
        items = ["[ " + " ".join(items[s[i]: s[i + 1]]) + (" ]" if s[i + 1] > s[i] else "]")
                 for i in range(len(s) - 1)]
    return "[ " + " ".join(items) + " ]"


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _parse_ragged_str(text: str, with_values: bool) -> tuple[RaggedShape, list]:
    tokens = text.replace("[", " [ ").replace("]", " ] ").split()
    stack: list = [[]]
    for tok in tokens:
        if tok == "[":
            stack.append([])
        elif tok == "]":
            if len(stack) < 2:
                raise ValueError(f"unbalanced brackets in ragged text {text!r}")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(tok if not with_values else float(tok) if "." in tok else int(tok))
    if len(stack) != 1 or len(stack[0]) != 1:
        raise ValueError(f"unbalanced brackets in ragged text {text!r}")
    nested = stack[0][0]
    shape, flat, _ = _shape_from_nested(nested)
    return shape, flat


def _shape_from_nested(data: list) -> tuple[RaggedShape, list, set]:
    """Shape, flattened values and the set of the values' types of a nested Python list
    (leaves are numbers). Each depth is checked and flattened by C-level passes (the element
    types as a set, ``map(len)``, ``chain``), so 100k-element lists cost milliseconds."""
    splits = []
    level = list(data)
    while True:
        kinds = set(map(type, level))
        lists = [k for k in kinds if issubclass(k, (list, tuple))]
        if len(lists) < len(kinds):
            if not splits:
                raise ValueError("a RaggedTensor needs a list of lists (at least 2 axes), "
                                 "without numbers and lists mixed at one depth")
            if lists:
                raise ValueError("ragged list mixes lists and numbers at one depth")
            break
        if splits and not level:
            break
        splits.append(torch.tensor([0, *itertools.accumulate(map(len, level))],
                                   dtype=torch.int64))
        level = list(itertools.chain.from_iterable(level))
    return RaggedShape(splits), level, kinds


_NUMPY_DTYPES = {torch.int32: np.int32, torch.int64: np.int64, torch.float32: np.float32,
                 torch.float64: np.float64}


def _values_tensor(flat: list, dtype: torch.dtype) -> torch.Tensor:
    """``torch.tensor(flat, dtype=dtype)``; for the usual dtypes through ``np.fromiter``,
    which reads a list of Python numbers ~4x faster."""
    if dtype in _NUMPY_DTYPES:
        try:
            return torch.from_numpy(np.fromiter(flat, dtype=_NUMPY_DTYPES[dtype],
                                                count=len(flat)))
        except (TypeError, ValueError, OverflowError):
            pass  # not plain numbers: torch.tensor gives its own error or converts them
    return torch.tensor(flat, dtype=dtype)


class RaggedTensor:
    """A ragged tensor: :class:`RaggedShape` + 1-D ``values`` (k2's ``k2.RaggedTensor``).

    ``RaggedTensor([[1, 2], [3]])``, ``RaggedTensor("[[1 2] [3]]")``,
    ``RaggedTensor(shape, values)``, ``RaggedTensor(torch.tensor([[1, 2], [3, 4]]))``.
    """

    def __init__(self, data, values_or_dtype=None, device=None, dtype=None):
        if isinstance(data, RaggedShape):
            if not isinstance(values_or_dtype, torch.Tensor):
                raise ValueError("RaggedTensor(shape, values): values must be a tensor")
            values = values_or_dtype
            if values.dim() != 1 or values.numel() != data.numel():
                raise ValueError(
                    f"RaggedTensor(shape, values): values has shape {tuple(values.shape)}, "
                    f"the shape has {data.numel()} elements")
            self.shape = data if data.device == values.device else data.to(values.device)
            self.values = values
            return
        if isinstance(values_or_dtype, torch.dtype):
            dtype = values_or_dtype
        if isinstance(data, torch.Tensor):
            if data.dim() != 2:
                raise ValueError("RaggedTensor(tensor) needs a 2-D tensor")
            n, m = data.shape
            splits = torch.arange(n + 1, device=data.device) * m
            self.shape = RaggedShape([splits])
            self.values = data.reshape(-1) if dtype is None else data.reshape(-1).to(dtype)
            if device is not None:
                self.shape, self.values = self.shape.to(device), self.values.to(device)
            return
        if isinstance(data, str):
            shape, flat = _parse_ragged_str(data, with_values=True)
            kinds = set(map(type, flat))
        else:
            shape, flat, kinds = _shape_from_nested(list(data))
        if dtype is None:
            dtype = torch.float32 if any(issubclass(k, float) for k in kinds) else torch.int32
        dev = torch.device(device) if device is not None else torch.device("cpu")
        self.shape = shape.to(dev)
        self.values = _values_tensor(flat, dtype).to(dev)

    # -- basic properties -------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    @property
    def device(self) -> torch.device:
        return self.values.device

    @property
    def is_cuda(self) -> bool:
        return self.values.is_cuda

    @property
    def num_axes(self) -> int:
        return self.shape.num_axes

    @property
    def dim0(self) -> int:
        return self.shape.dim0

    @property
    def requires_grad(self) -> bool:
        return self.values.requires_grad

    @property
    def grad(self):
        return self.values.grad

    def requires_grad_(self, requires_grad: bool = True) -> RaggedTensor:
        self.values.requires_grad_(requires_grad)
        return self

    def numel(self) -> int:
        return self.values.numel()

    def tot_size(self, axis: int) -> int:
        return self.shape.tot_size(axis)

    def to(self, device: str | torch.device | torch.dtype) -> RaggedTensor:
        if isinstance(device, torch.dtype):
            return RaggedTensor(self.shape, self.values.to(device))
        return RaggedTensor(self.shape.to(device), self.values.to(device))

    def clone(self) -> RaggedTensor:
        return RaggedTensor(self.shape.clone(), self.values.clone())

    def tolist(self) -> list:
        items = self.values.tolist()
        for axis in range(self.num_axes - 1, 0, -1):
            s = self.shape.row_splits_long(axis).tolist()
            items = [items[s[i]: s[i + 1]] for i in range(len(s) - 1)]
        return items

    def __str__(self) -> str:
        return f"RaggedTensor({self.tolist()}, dtype={self.dtype})"

    __repr__ = __str__

    def to_str_simple(self) -> str:
        return _to_str(self.shape, self.values)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, RaggedTensor) and self.shape == other.shape
                and bool(torch.equal(self.values.cpu(), other.values.cpu())))

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __getitem__(self, i: int) -> RaggedTensor | torch.Tensor:
        if not isinstance(i, int):
            raise ValueError("RaggedTensor indexing takes an int; use .index() for tensors")
        if i < 0:
            i += self.dim0
        if not 0 <= i < self.dim0:
            raise IndexError(f"index {i} out of range for dim0 {self.dim0}")
        shape, vidx = _index_axis0(self.shape, torch.tensor([i], device=self.device))
        values = self.values[vidx]
        if self.num_axes == 2:
            return values
        return RaggedTensor(shape.remove_axis(0), values)

    # -- structure-changing ops -------------------------------------------------------------
    def remove_axis(self, axis: int) -> RaggedTensor:
        return RaggedTensor(self.shape.remove_axis(axis), self.values)

    def _keep_values(self, keep: torch.Tensor) -> RaggedTensor:
        last = self.num_axes - 1
        ids = self.shape.row_ids_long(last)[keep]
        dim = self.shape.tot_size(last - 1)
        splits = self.shape._splits[:-1] + [splits_from_row_ids(ids, dim)]
        return RaggedTensor(RaggedShape(splits), self.values[keep])

    def remove_values_leq(self, cutoff) -> RaggedTensor:
        return self._keep_values(self.values > cutoff)

    def remove_values_eq(self, target) -> RaggedTensor:
        return self._keep_values(self.values != target)

    def index(self, indexes, axis: int = 0, need_value_indexes: bool = False):
        """``self[indexes]``.

        - ``indexes`` a 1-D int tensor: rows of axis 0 (``-1`` = empty row); returns
          ``(ragged, value_indexes or None)`` like k2.
        - ``indexes`` a RaggedTensor: returns a ragged tensor whose shape is ``indexes.shape``
          composed with the selected rows.
        """
        if isinstance(indexes, RaggedTensor):
            sub, vidx = _index_axis0(self.shape, _long(indexes.values))
            return RaggedTensor(indexes.shape.compose(sub), self.values[vidx])
        if axis == 0:
            shape, vidx = _index_axis0(self.shape, _long(indexes))
        elif axis == 1:
            shape, vidx = _index_axis1(self.shape, _long(indexes))
        else:
            raise NotImplementedError("RaggedTensor.index supports axis 0 and 1")
        out = RaggedTensor(shape, self.values[vidx])
        return out, (vidx.to(torch.int32) if need_value_indexes else None)

    def pad(self, mode: str = "constant", padding_value=0) -> torch.Tensor:
        """A 2-axis ragged tensor as a ``[dim0, max_len]`` tensor."""
        if self.num_axes != 2:
            raise ValueError("pad needs a RaggedTensor with 2 axes")
        n, m = self.dim0, self.shape.max_size(1)
        ids = self.shape.row_ids_long(1)
        pos = torch.arange(self.numel(), device=self.device) - self.shape.row_splits_long(1)[ids]
        out = torch.full((n, m), padding_value, dtype=self.dtype, device=self.device)
        if mode == "replicate" and self.numel():
            lens = self.shape.row_splits_long(1).diff()
            last = self.shape.row_splits_long(1)[1:] - 1
            fill = torch.where(lens > 0, self.values[last.clamp(min=0)],
                               torch.full_like(last, padding_value, dtype=self.dtype))
            out[:] = fill.unsqueeze(1)
        if mode not in ("constant", "replicate"):
            raise ValueError(f"pad: unknown mode {mode!r}")
        out[ids, pos] = self.values
        return out

    # -- reductions over the last axis ------------------------------------------------------
    def _last_ids_dim(self) -> tuple[torch.Tensor, int]:
        last = self.num_axes - 1
        return self.shape.row_ids_long(last), self.shape.tot_size(last - 1)

    def _lowest(self):
        if self.dtype.is_floating_point:
            return torch.finfo(self.dtype).min
        return torch.iinfo(self.dtype).min

    def max(self, initial_value=None) -> torch.Tensor:
        ids, n = self._last_ids_dim()
        init = self._lowest() if initial_value is None else initial_value
        out = torch.full((n,), init, dtype=self.dtype, device=self.device)
        return out.scatter_reduce(0, ids, self.values, reduce="amax", include_self=True)

    def min(self, initial_value=None) -> torch.Tensor:
        ids, n = self._last_ids_dim()
        if initial_value is None:
            initial_value = (torch.finfo(self.dtype).max if self.dtype.is_floating_point
                             else torch.iinfo(self.dtype).max)
        out = torch.full((n,), initial_value, dtype=self.dtype, device=self.device)
        return out.scatter_reduce(0, ids, self.values, reduce="amin", include_self=True)

    def argmax(self, initial_value=None) -> torch.Tensor:
        """Index into ``values`` of the max of each last-axis row (the last one on ties;
        -1 for an empty row)."""
        ids, n = self._last_ids_dim()
        best = self.max(initial_value)
        pos = torch.arange(self.numel(), device=self.device)
        hit = self.values == best[ids]
        if initial_value is not None:
            hit = hit & (self.values >= initial_value)
        cand = torch.where(hit, pos, torch.full_like(pos, -1))
        out = torch.full((n,), -1, dtype=torch.int64, device=self.device)
        return out.scatter_reduce(0, ids, cand, reduce="amax", include_self=True).to(torch.int32)

    def sum(self, initial_value=0) -> torch.Tensor:
        ids, n = self._last_ids_dim()
        out = torch.full((n,), initial_value, dtype=self.dtype, device=self.device)
        return out.index_add(0, ids, self.values)

    def logsumexp(self, initial_value=float("-inf")) -> torch.Tensor:
        ids, n = self._last_ids_dim()
        with torch.no_grad():
            m = torch.full((n,), float("-inf"), dtype=self.dtype, device=self.device)
            m = m.scatter_reduce(0, ids, self.values, reduce="amax", include_self=True)
            m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        e = torch.zeros(n, dtype=self.dtype, device=self.device).index_add(
            0, ids, torch.exp(self.values - m[ids]))
        out = torch.log(e) + m
        if initial_value != float("-inf"):
            out = torch.logaddexp(out, torch.full_like(out, initial_value))
        return out

    def normalize(self, use_log: bool) -> RaggedTensor:
        ids, _ = self._last_ids_dim()
        if use_log:
            return RaggedTensor(self.shape, self.values - self.logsumexp()[ids])
        return RaggedTensor(self.shape, self.values / self.sum()[ids])

    def unique(
        self, need_num_repeats: bool = False, need_new2old_indexes: bool = False
    ) -> tuple[RaggedTensor, RaggedTensor | None, torch.Tensor | None]:
        """Unique sublists (last axis) within each row of axis 0, in k2's order: by k2's
        int64 hash of each sublist (see :func:`_sequence_hash`), first occurrences first.

        Returns ``(unique, num_repeats [row][count] (one row for 2 axes) or None, new2old
        (int32) or None)``;
        ``new2old[i]`` is the first sublist (index on axis ``num_axes - 2``) equal to unique
        sublist ``i``. Works on 2 axes (one implicit row) or 3 axes.
        """
        if self.num_axes not in (2, 3):
            raise ValueError("unique needs a RaggedTensor with 2 or 3 axes")
        if self.num_axes == 2:
            outer = torch.tensor([0, self.dim0], device=self.device)
            r3 = RaggedTensor(RaggedShape([outer] + self.shape._splits), self.values)
            u, reps, new2old = r3.unique(need_num_repeats, need_new2old_indexes)
            # k2 keeps num_repeats as one row [1][count]
            return u.remove_axis(0), reps, new2old
        n_sub = self.shape.tot_size(1)
        sub_row = self.shape.row_ids_long(1)
        lens = self.shape.row_splits_long(2).diff()
        width = int(lens.max()) if n_sub > 0 else 0
        vals = _long(self.values)
        # rows (row, k2's hash, length, values...): sorting them orders the sublists of a row
        # as k2 does (by hash), the rest of the columns makes equal rows equal sequences
        mat = torch.zeros((n_sub, width + 3), dtype=torch.int64, device=self.device)
        mat[:, 0] = sub_row
        mat[:, 2] = lens
        ids = self.shape.row_ids_long(2)
        pos = torch.arange(vals.numel(), device=self.device) - self.shape.row_splits_long(2)[ids]
        mat[ids, pos + 3] = vals
        mat[:, 1] = _sequence_hash(mat[:, 3:], lens)
        if n_sub == 0:
            uniq = mat
            inverse = torch.zeros(0, dtype=torch.int64, device=self.device)
            counts = inverse
        else:
            uniq, inverse, counts = torch.unique(mat, dim=0, return_inverse=True,
                                                 return_counts=True)
        n_u = uniq.shape[0]
        first = torch.full((n_u,), n_sub, dtype=torch.int64, device=self.device)
        first = first.scatter_reduce(0, inverse, torch.arange(n_sub, device=self.device),
                                     reduce="amin", include_self=True)
        u_row = uniq[:, 0]
        shape1 = splits_from_row_ids(u_row, self.dim0)
        u_lens = lens[first]
        val_idx, _ = expand_ranges(self.shape.row_splits_long(2)[first], u_lens)
        out = RaggedTensor(RaggedShape([shape1, splits_from_sizes(u_lens)]), self.values[val_idx])
        reps = (RaggedTensor(RaggedShape([shape1]), counts.to(torch.int32))
                if need_num_repeats else None)
        new2old = first.to(torch.int32) if need_new2old_indexes else None
        return out, reps, new2old

    def sort_(self, descending: bool = False, need_new2old_indexes: bool = False):
        """Sort each last-axis row in place; returns new2old (int32) if asked."""
        ids, _ = self._last_ids_dim()
        order = torch.sort(self.values, descending=descending, stable=True)[1]
        order = order[torch.sort(ids[order], stable=True)[1]]
        self.values = self.values[order]
        return order.to(torch.int32) if need_new2old_indexes else None


def _sequence_hash(padded: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """k2's (CPU) hash of each sequence (int64, wrapping): ``h1 = 31 h1 + x`` from 13,
    ``h2 = 167 h2 + x`` from 787, hash ``h1 + 104729 h2``. ``padded`` ``[n, width]`` holds
    the sequences left-aligned, ``lens`` ``[n]`` their lengths. k2 sorts sublists by it, so
    the same order needs the same hash."""
    h1 = torch.full_like(lens, 13)
    h2 = torch.full_like(lens, 787)
    for k in range(padded.shape[1]):
        live = lens > k
        h1 = torch.where(live, h1 * 31 + padded[:, k], h1)
        h2 = torch.where(live, h2 * 167 + padded[:, k], h2)
    return h1 + h2 * 104729


def create_ragged_shape2(
    row_splits: torch.Tensor | None = None,
    row_ids: torch.Tensor | None = None,
    cached_tot_size: int = -1,
) -> RaggedShape:
    """A 2-axis shape from ``row_splits`` (preferred) or ``row_ids`` (then dim0 =
    ``row_ids[-1] + 1``)."""
    if row_splits is None:
        if row_ids is None:
            raise ValueError("create_ragged_shape2: give row_splits or row_ids")
        dim0 = int(row_ids[-1]) + 1 if row_ids.numel() > 0 else 0
        row_splits = splits_from_row_ids(row_ids, dim0)
    if cached_tot_size >= 0 and int(row_splits[-1]) != cached_tot_size:
        raise ValueError(
            f"create_ragged_shape2: cached_tot_size={cached_tot_size} != {int(row_splits[-1])}")
    return RaggedShape([row_splits])


def regular_ragged_shape(dim0: int, dim1: int, device="cpu") -> RaggedShape:
    return RaggedShape([torch.arange(dim0 + 1, device=device) * dim1])


def create_ragged_tensor(data, dtype=None, device=None) -> RaggedTensor:
    return RaggedTensor(data, dtype=dtype, device=device)


def cat(srcs: Sequence[RaggedTensor], axis: int = 0) -> RaggedTensor:
    """Concatenate along axis 0 (stack rows) or axis 1 (append rows of 2-axis tensors)."""
    if not srcs:
        raise ValueError("cat: empty list")
    if axis == 0:
        splits = []
        for a in range(1, srcs[0].num_axes):
            parts, off = [], 0
            for i, r in enumerate(srcs):
                s = r.shape.row_splits_long(a)
                parts.append((s if i == 0 else s[1:]) + off)
                off += int(s[-1])
            splits.append(torch.cat(parts))
        return RaggedTensor(RaggedShape(splits), torch.cat([r.values for r in srcs]))
    if axis == 1 and all(r.num_axes == 2 for r in srcs):
        lens = torch.stack([r.shape.row_splits_long(1).diff() for r in srcs], 1)
        values, _ = [], None
        starts = torch.stack([r.shape.row_splits_long(1)[:-1] for r in srcs], 1)
        offsets = torch.tensor([0] + [r.numel() for r in srcs], device=srcs[0].device).cumsum(0)
        flat_starts = (starts + offsets[:-1]).reshape(-1)
        idx, _ = expand_ranges(flat_starts, lens.reshape(-1))
        values = torch.cat([r.values for r in srcs])[idx]
        return RaggedTensor(RaggedShape([splits_from_sizes(lens.sum(1))]), values)
    raise NotImplementedError("cat supports axis 0, or axis 1 of 2-axis tensors")


def index(src, indexes, axis: int = 0, need_value_indexes: bool = False, default_value=0):
    """k2.ragged.index: a tensor indexed by a ragged tensor (``-1`` gives ``default_value``),
    a ragged tensor indexed by a ragged tensor, or by a 1-D tensor (see
    :meth:`RaggedTensor.index`)."""
    if isinstance(src, torch.Tensor):
        if not isinstance(indexes, RaggedTensor):
            raise ValueError("ragged.index(tensor, ...) needs RaggedTensor indexes")
        idx = _long(indexes.values)
        vals = src[idx.clamp(min=0)]
        vals = torch.where(idx >= 0, vals, torch.full_like(vals, default_value))
        return RaggedTensor(indexes.shape, vals)
    if isinstance(indexes, RaggedTensor):
        return src.index(indexes)
    return src.index(indexes, axis=axis, need_value_indexes=need_value_indexes)


def index_and_sum(src: torch.Tensor, indexes: RaggedTensor) -> torch.Tensor:
    """Sum of ``src[indexes]`` over the last axis of ``indexes`` (``-1`` contributes 0)."""
    return index(src, indexes).sum()
