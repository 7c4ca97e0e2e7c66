"""FSA intersection (k2's ``intersect_device``): product construction of ``b_fsas[i]`` with
``a_fsas[b_to_a_map[i]]``, labels matched exactly (epsilon is an ordinary symbol).

The product is explored breadth-first from the pair of start states, all FSAs at once: each
iteration expands the newest pair-states, matching their arcs by label with a sorted search
(``torch.searchsorted``), and assigns ids to pair-states never seen before. Seen pairs are kept
in a dense array when the pair space is small, else in a vectorised hash table. Output state
ids follow discovery order per FSA, the final pair last; arcs of a state are in the order of
(a-arc, b-arc), or (b-arc, a-arc) with ``sorted_match_a``, as k2 orders them. The result is not
connected (call ``connect``).

Speed: the dense table is one int32 array; new pairs get ids in order of first occurrence
via a scatter-min of positions (no sort). A state's arcs with a label are found with one
``searchsorted`` in arcs sorted by (state, label). The output is laid out by FSA from
per-(BFS step, FSA) counts, again without sorting.

Example::

    >>> import torch
    >>> from icefall_lite.fsa import Fsa, create_fsa_vec
    >>> a = create_fsa_vec([Fsa.from_str("0 1 1 0.5\\n0 1 2 0.25\\n1 2 -1 0\\n2")])
    >>> b = create_fsa_vec([Fsa.from_str("0 1 2 1.0\\n1 2 -1 0\\n2")])
    >>> out, a_map, b_map = intersect_device(a, b, torch.tensor([0], dtype=torch.int32),
    ...                                      ret_arc_maps=True)
    >>> out.labels.tolist(), out.scores.tolist(), a_map.tolist(), b_map.tolist()
    ([2, -1], [1.25, 0.0], [1, 2], [0, 1])
"""

from __future__ import annotations

import torch

from icefall_lite.fsa.fsa import Fsa
from icefall_lite.fsa.paths import graded_levels
from icefall_lite.fsa.ragged import (
    RaggedShape,
    expand_ranges,
    group_positions,
    splits_from_sizes,
)

_LABEL_SHIFT = 1 << 33


# pair-state spaces up to this many entries (512 MB) use a dense int32 array, else a hash
_DENSE_LIMIT = 1 << 27


class _HashPairTable:
    """Pair keys -> ids in an open-addressing hash table (linear probing), every probe
    round one batch of tensor ops; grows (rehashes) at half load."""

    def __init__(self, device: torch.device, capacity: int = 1 << 16):
        self.device = device
        self._alloc(capacity)
        self.count = 0

    def _alloc(self, capacity: int) -> None:
        self.cap = capacity
        self.keys = torch.full((capacity,), -1, dtype=torch.int64, device=self.device)
        self.vals = torch.full((capacity,), -1, dtype=torch.int64, device=self.device)

    def _hash(self, keys: torch.Tensor) -> torch.Tensor:
        return ((keys * 0x9E3779B1) ^ (keys >> 29)) & (self.cap - 1)

    def lookup(self, keys: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(keys, -1)
        pending = torch.arange(keys.numel(), device=keys.device)
        slot = self._hash(keys)
        while pending.numel() > 0:
            stored = self.keys[slot]
            hit = stored == keys[pending]
            out[pending[hit]] = self.vals[slot[hit]]
            go_on = ~hit & (stored != -1)
            pending, slot = pending[go_on], (slot[go_on] + 1) & (self.cap - 1)
        return out

    def _insert(self, keys: torch.Tensor, vals: torch.Tensor) -> None:
        """Insert distinct keys that are not in the table yet."""
        if 2 * (self.count + keys.numel()) > self.cap:
            old_keys, old_vals = self.keys, self.vals
            used = old_keys != -1
            cap = self.cap
            while 2 * (self.count + keys.numel()) > cap:
                cap *= 2
            self._alloc(cap)
            self.count = 0
            self._insert(old_keys[used], old_vals[used])
        self.count += keys.numel()
        slot = self._hash(keys)
        while keys.numel() > 0:
            free = self.keys[slot] == -1
            self.keys[slot[free]] = keys[free]  # one of the keys aiming at a slot wins
            won = self.keys[slot] == keys
            self.vals[slot[won]] = vals[won]
            keys, vals, slot = keys[~won], vals[~won], (slot[~won] + 1) & (self.cap - 1)

    def resolve(self, keys: torch.Tensor, next_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Ids of ``keys``; unseen keys get new ids in order of first occurrence. Returns
        (ids, positions in ``keys`` of the first occurrences of new keys)."""
        ids = self.lookup(keys)
        pos_new = (ids < 0).nonzero().squeeze(1)
        if pos_new.numel() == 0:
            return ids, pos_new
        uniq, rank, item_rank, first_sorted = _number_by_first_occurrence(keys[pos_new])
        ids[pos_new] = next_id + item_rank
        self._insert(uniq, next_id + rank)
        return ids, pos_new[first_sorted]


def _number_by_first_occurrence(keys: torch.Tensor
                                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Number the distinct ``keys`` 0, 1, ... in order of first occurrence (one sort).
    Returns (distinct keys, their numbers, the number of each item, positions of the first
    occurrences in increasing order)."""
    uniq, inv = torch.unique(keys, return_inverse=True)
    first = torch.full((uniq.numel(),), keys.numel(), dtype=torch.int64, device=keys.device)
    first = first.scatter_reduce(0, inv, torch.arange(keys.numel(), device=keys.device),
                                 reduce="amin", include_self=True)
    first_sorted, by_first = torch.sort(first)
    rank = torch.empty_like(first)
    rank[by_first] = torch.arange(first.numel(), device=keys.device)
    return uniq, rank, rank[inv], first_sorted


class _DensePairTable:
    """Pair keys -> ids in one dense int32 array (keys are < ``size``; -1 = unseen).

    Key order puts the pairs of one FSA and one a-state next to each other, so one BFS
    iteration touches a compact region of the array."""

    def __init__(self, size: int, device: torch.device):
        self.ids = torch.full((size,), -1, dtype=torch.int32, device=device)

    def lookup(self, keys: torch.Tensor) -> torch.Tensor:
        return self.ids.index_select(0, keys).long()

    def resolve(self, keys: torch.Tensor, next_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.ids.index_select(0, keys)
        pos_new = (ids < 0).nonzero().squeeze(1)
        num_new = pos_new.numel()
        if num_new == 0:
            return ids.long(), pos_new
        if keys.numel() >= _MARK_OFFSET:
            raise ValueError("intersect_device: too many arcs in one BFS step")
        all_new = num_new == keys.numel()
        nkeys = keys if all_new else keys.index_select(0, pos_new)
        # mark unseen slots with (position - offset) < -1, smallest position wins: the first
        # occurrence of each new key, found without sorting
        mark = pos_new.to(torch.int32) - _MARK_OFFSET
        self.ids.scatter_reduce_(0, nkeys, mark, reduce="amin")
        won = self.ids.index_select(0, nkeys) == mark
        if bool(won.all()):  # the new keys are distinct (common): ids in order
            new_ids = torch.arange(next_id, next_id + num_new, dtype=torch.int32,
                                   device=keys.device)
            self.ids.index_copy_(0, nkeys, new_ids)
            if all_new:
                return new_ids.long(), pos_new
            ids.index_copy_(0, pos_new, new_ids)
            return ids.long(), pos_new
        first_pos = pos_new[won]
        self.ids.index_copy_(0, keys.index_select(0, first_pos), torch.arange(
            next_id, next_id + first_pos.numel(), dtype=torch.int32, device=keys.device))
        ids.index_copy_(0, pos_new, self.ids.index_select(0, nkeys))
        return ids.long(), first_pos


_MARK_OFFSET = 1 << 30


class _LabelIndex:
    """Arcs sorted by (global src state, label, arc index), to find the arcs of a state with
    a given label: one ``searchsorted`` plus a lookup of where each run of equal keys ends."""

    def __init__(self, src: torch.Tensor, labels: torch.Tensor):
        key = src * _LABEL_SHIFT + (labels.long() + 1)
        n = key.numel()
        if n < 2 or bool((key[1:] >= key[:-1]).all()):  # e.g. arc-sorted, no final arcs
            self.keys, self.order = key, torch.arange(n, device=key.device)
        else:
            self.keys, self.order = torch.sort(key, stable=True)
        # run_end_ext[i]: one past the last sorted position with the key of position i
        new_run = torch.ones(n, dtype=torch.bool, device=key.device)
        if n > 1:
            new_run[1:] = self.keys[1:] != self.keys[:-1]
        run_start = new_run.nonzero().squeeze(1)
        run_len = torch.diff(run_start, append=torch.tensor([n], device=key.device))
        run_end = torch.repeat_interleave(run_start + run_len, run_len, output_size=n)
        self.run_end_ext = torch.cat([run_end, run_end.new_full((1,), n)])
        self.unique_keys = run_start.numel() == n
        # a sentinel that matches no query, so lookups at position n need no clamp
        self.keys_ext = torch.cat([self.keys, self.keys.new_full((1,), -1)])
        self._shift = torch.tensor(_LABEL_SHIFT, dtype=torch.int64, device=key.device)
        self.n = n

    def match(self, q_state: torch.Tensor, q_label1: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """For each query (state, label + 1), the arcs of that state with that label (by
        index). Returns (arc indexes, query owner)."""
        if self.n == 0:
            empty = q_state[:0]
            return empty, empty
        q = torch.addcmul(q_label1, q_state, self._shift)
        lo = torch.searchsorted(self.keys, q)
        hit = self.keys_ext.index_select(0, lo) == q
        if self.unique_keys:
            # at most one arc per (state, label): the common case needs no range expansion
            owner = hit.nonzero().squeeze(1)
            return self.order.index_select(0, lo.index_select(0, owner)), owner
        count = torch.where(hit, self.run_end_ext.index_select(0, lo) - lo, torch.zeros_like(lo))
        pos, owner = expand_ranges(lo, count)
        return self.order.index_select(0, pos), owner


def intersect_device(
    a_fsas: Fsa,
    b_fsas: Fsa,
    b_to_a_map: torch.Tensor,
    sorted_match_a: bool = False,
    ret_arc_maps: bool = False,
) -> Fsa | tuple[Fsa, torch.Tensor, torch.Tensor]:
    """Intersect FsaVecs; the result has ``b_fsas``'s batch size, attributes of both inputs
    (float attributes present in both are summed, like ``scores``), and is not connected.

    Args:
      a_fsas, b_fsas: FsaVecs on the same device.
      b_to_a_map: int ``[b_fsas.shape[0]]``, the FSA of ``a_fsas`` to pair with each of b.
      sorted_match_a: iterate b's arcs and look up a's (k2 requires a arc-sorted then; the
        result is the same up to arc/state order).
      ret_arc_maps: also return ``a_arc_map``, ``b_arc_map`` (int32).
    """
    for name, f in (("a_fsas", a_fsas), ("b_fsas", b_fsas)):
        if f.arcs.num_axes() != 3:
            raise ValueError(f"intersect_device: {name} must be an FsaVec (3 axes)")
    if a_fsas.device != b_fsas.device:
        raise ValueError("intersect_device: a_fsas and b_fsas are on different devices")
    device = a_fsas.device
    b_to_a_map = b_to_a_map.to(device=device, dtype=torch.int64)
    num_b = b_fsas.shape[0]
    if b_to_a_map.shape != (num_b,):
        raise ValueError(f"intersect_device: b_to_a_map has shape {tuple(b_to_a_map.shape)}, "
                         f"expected ({num_b},)")
    if num_b and (int(b_to_a_map.min()) < 0 or int(b_to_a_map.max()) >= a_fsas.shape[0]):
        raise ValueError("intersect_device: b_to_a_map has an index outside a_fsas")
    ai, bi = a_fsas.arc_info(), b_fsas.arc_info()
    a_lab = a_fsas.arcs.values()[:, 2].long()
    b_lab = b_fsas.arcs.values()[:, 2].long()
    a_splits = a_fsas.as_vec_shape().row_splits_long(2)
    b_splits = b_fsas.as_vec_shape().row_splits_long(2)
    if sorted_match_a:
        index = _LabelIndex(ai["src"], a_lab)
        e_splits, e_lab = b_splits, b_lab
    else:
        index = _LabelIndex(bi["src"], b_lab)
        e_splits, e_lab = a_splits, a_lab
    e_deg = e_splits.diff()
    e_lab1 = e_lab + 1  # labels as the index keys them

    ok = (bi["num_states"] > 0) & (ai["num_states"][b_to_a_map] > 0)
    fsa_ids = ok.nonzero().squeeze(1)
    a_level, b_level = graded_levels(a_fsas), graded_levels(b_fsas)
    if a_level is not None or b_level is not None:
        pairs: _LevelPairs | _GlobalPairs = _LevelPairs(ai, bi, b_to_a_map, a_level, b_level)
    else:
        pairs = _GlobalPairs(ai, bi, b_to_a_map, ok)

    front_a = ai["start"][b_to_a_map[fsa_ids]]
    front_b = bi["start"][fsa_ids]
    a_dst, b_dst = ai["dst"], bi["dst"]
    state_b: list[torch.Tensor] = []
    pairs.start(front_a, front_b)
    num_ids = front_a.numel()
    state_b.append(front_b)
    arc_parts: list[tuple[torch.Tensor, ...]] = []
    while front_a.numel() > 0:
        # expand the arcs of one side, look the other side's arcs up by label
        e_state, q_state = (front_b, front_a) if sorted_match_a else (front_a, front_b)
        e_arc, own = expand_ranges(e_splits.index_select(0, e_state),
                                   e_deg.index_select(0, e_state))
        m_arc, sel = index.match(q_state.index_select(0, own), e_lab1.index_select(0, e_arc))
        e_arc, own = e_arc.index_select(0, sel), own.index_select(0, sel)
        a_arc, b_arc = (m_arc, e_arc) if sorted_match_a else (e_arc, m_arc)
        if a_arc.numel() == 0:
            break
        da, db = a_dst.index_select(0, a_arc), b_dst.index_select(0, b_arc)
        dst_id, first_pos = pairs.resolve(da, db, num_ids)
        # per arc only what the output needs, int32 (half the memory until laid out); the
        # arcs of a step are grouped by source state, in order, so degrees locate them
        arc_parts.append((torch.bincount(own, minlength=front_a.numel()),
                          a_arc.to(torch.int32), b_arc.to(torch.int32), dst_id.to(torch.int32)))
        front_a, front_b = da.index_select(0, first_pos), db.index_select(0, first_pos)
        num_ids += first_pos.numel()
        state_b.append(front_b)
    final_id = pairs.final_ids(fsa_ids)
    return _assemble(a_fsas, b_fsas, bi, fsa_ids, state_b, final_id, arc_parts, ret_arc_maps)


class _GlobalPairs:
    """Ids of all pair-states seen so far: a dense table over the whole pair space when it
    is small, else a hash table (any FSAs, also cyclic ones)."""

    def __init__(self, ai: dict, bi: dict, b_to_a_map: torch.Tensor, ok: torch.Tensor):
        device = ai["src"].device
        self.ai, self.bi, self.b_to_a_map = ai, bi, b_to_a_map
        pair_sizes = torch.where(ok, ai["num_states"][b_to_a_map] * bi["num_states"],
                                 torch.zeros_like(bi["num_states"]))
        total_pairs = int(pair_sizes.sum())
        self.table: _DensePairTable | _HashPairTable
        if total_pairs <= _DENSE_LIMIT:
            # key = pair_off[f] + (ga - a_start[f]) * nb[f] + (gb - b_start[f]), f the FSA of
            # gb, folded into key = ga * mult[gb] + base[gb]
            b_state_fsa = bi["state_fsa"]
            pair_off = torch.cumsum(pair_sizes, 0) - pair_sizes
            nb = bi["num_states"]
            self.mult = nb[b_state_fsa]
            self.base = (pair_off - ai["start"][b_to_a_map] * nb - bi["start"])[b_state_fsa] + \
                torch.arange(b_state_fsa.numel(), device=device)
            self.table = _DensePairTable(max(total_pairs, 1), device)
        else:
            self.mult = None
            self.nb_states = int(bi["state_fsa"].numel()) + 1
            self.table = _HashPairTable(device)

    def _key(self, ga: torch.Tensor, gb: torch.Tensor) -> torch.Tensor:
        if self.mult is None:
            return ga * self.nb_states + gb
        return torch.addcmul(self.base.index_select(0, gb), ga, self.mult.index_select(0, gb))

    def start(self, front_a: torch.Tensor, front_b: torch.Tensor) -> None:
        self.table.resolve(self._key(front_a, front_b), 0)

    def resolve(self, da: torch.Tensor, db: torch.Tensor, next_id: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.table.resolve(self._key(da, db), next_id)

    def final_ids(self, fsa_ids: torch.Tensor) -> torch.Tensor:
        final_id = torch.full(self.b_to_a_map.shape, -1, dtype=torch.int64,
                              device=fsa_ids.device)
        if fsa_ids.numel():
            final_id[fsa_ids] = self.table.lookup(self._key(
                self.ai["final"][self.b_to_a_map[fsa_ids]], self.bi["final"][fsa_ids]))
        return final_id


class _LevelPairs:
    """Pair-state ids when one side is graded (every arc goes from level l to l + 1, as in
    lattices): every path to a pair (x, y) then has the length of the graded side's paths to
    its state, so BFS step k meets a pair only in step k, and pairs need telling apart only
    within one step. A step's pairs of one FSA have graded-side states of one level, so a
    key of (FSA, rank of the graded state within its (FSA, level) group, other state) is
    unique within the step; its range is about (widest level) x (states of the other side),
    not the whole product. Memory and time follow the arcs matched."""

    def __init__(self, ai: dict, bi: dict, b_to_a_map: torch.Tensor,
                 a_level: torch.Tensor | None, b_level: torch.Tensor | None):
        self.device = device = ai["src"].device
        self.f_of_b = bi["state_fsa"]
        self.graded_a = a_level is not None
        if self.graded_a:
            # key = rank(a state) * (b states) + b state: the b state names the FSA
            rank = _level_rank(a_level, ai["state_fsa"])
            num_other = self.f_of_b.numel()
            self.scaled = rank * num_other
            self.loc = None
            self.space = (int(rank.max()) + 1 if rank.numel() else 0) * num_other
        else:
            # key = ((FSA of b) * width + rank(b state)) * (max a states) + local a state:
            # many b-FSAs may share an a-FSA, so the a state alone does not name the FSA
            rank = _level_rank(b_level, self.f_of_b)
            width = int(rank.max()) + 1 if rank.numel() else 0
            na = ai["num_states"]
            max_na = int(na.max()) if na.numel() else 0
            self.scaled = (self.f_of_b * width + rank) * max_na
            self.loc = torch.arange(ai["state_fsa"].numel(), device=device) - \
                ai["start"].index_select(0, ai["state_fsa"])
            self.space = b_to_a_map.numel() * width * max_na
        self.a_final = torch.zeros(ai["state_fsa"].numel(), dtype=torch.bool, device=device)
        self.a_final[ai["final"][ai["final"] >= 0]] = True
        self.b_final = torch.zeros(self.f_of_b.numel(), dtype=torch.bool, device=device)
        self.b_final[bi["final"][bi["final"] >= 0]] = True
        self.final_id = torch.full((b_to_a_map.numel(),), -1, dtype=torch.int64, device=device)
        self.scratch: torch.Tensor | None = None

    def _note_finals(self, da: torch.Tensor, db: torch.Tensor, first_id: int) -> None:
        """Record the ids of new pair-states that are the final pair of their FSA."""
        hit = (self.a_final.index_select(0, da) & self.b_final.index_select(0, db)).nonzero()
        hit = hit.squeeze(1)
        if hit.numel():
            self.final_id[self.f_of_b.index_select(0, db.index_select(0, hit))] = hit + first_id

    def start(self, front_a: torch.Tensor, front_b: torch.Tensor) -> None:
        self._note_finals(front_a, front_b, 0)

    def final_ids(self, fsa_ids: torch.Tensor) -> torch.Tensor:
        return self.final_id

    def resolve(self, da: torch.Tensor, db: torch.Tensor, next_id: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.graded_a:
            keys = self.scaled.index_select(0, da).add_(db)
        else:
            keys = self.scaled.index_select(0, db).add_(self.loc.index_select(0, da))
        if self.space > _DENSE_LIMIT or keys.numel() >= _MARK_OFFSET:
            _, _, item_rank, first_pos = _number_by_first_occurrence(keys)
            ids = item_rank + next_id
        else:
            ids, first_pos = self._resolve_dense(keys, next_id)
        self._note_finals(da.index_select(0, first_pos), db.index_select(0, first_pos), next_id)
        return ids, first_pos

    def _resolve_dense(self, keys: torch.Tensor, next_id: int
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Number keys by first occurrence in a scratch table that is all -1 between calls:
        mark each slot with (position - offset), the smallest position wins (no sort)."""
        if self.scratch is None:
            self.scratch = torch.full((self.space,), -1, dtype=torch.int32, device=self.device)
        table = self.scratch
        pos = torch.arange(keys.numel(), dtype=torch.int32, device=self.device)
        mark = pos - _MARK_OFFSET
        table.scatter_reduce_(0, keys, mark, reduce="amin")
        first_pos = (table.index_select(0, keys) == mark).nonzero().squeeze(1)
        if first_pos.numel() == keys.numel():  # all distinct
            table.index_fill_(0, keys, -1)
            return pos.to(torch.int64).add_(next_id), first_pos
        first_keys = keys.index_select(0, first_pos)
        table.index_copy_(0, first_keys, torch.arange(
            next_id, next_id + first_pos.numel(), dtype=torch.int32, device=self.device))
        ids = table.index_select(0, keys).to(torch.int64)
        table.index_fill_(0, first_keys, -1)
        return ids, first_pos


def _level_rank(level: torch.Tensor, state_fsa: torch.Tensor) -> torch.Tensor:
    """Rank of each state within its (FSA, level) group (index order)."""
    n = level.numel()
    if n == 0:
        return level
    group = state_fsa * (int(level.max()) + 1) + level
    if n < 2 or bool((group[1:] >= group[:-1]).all()):  # numbered level by level
        order = None
        sorted_group = group
    else:
        sorted_group, order = torch.sort(group, stable=True)
    _, counts = torch.unique_consecutive(sorted_group, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(n, device=level.device) - torch.repeat_interleave(
        starts, counts, output_size=n)
    if order is not None:
        rank = torch.empty_like(rank).index_copy_(0, order, rank)
    return rank


def _assemble(a_fsas, b_fsas, bi, fsa_ids, state_b, final_id, arc_parts, ret_arc_maps):
    """Number states per FSA (discovery order, final pair last) and lay arcs out by state.

    States were discovered step by step, each step grouped by FSA in increasing order, so
    their new positions come from per-(step, FSA) counts, without sorting. The arcs were
    found grouped by source state in discovery order, and keep their order within a state,
    so one gather by a permutation built from the states' degrees lays each array out."""
    device = a_fsas.device
    num_b = b_fsas.shape[0]
    s_fsa = bi["state_fsa"].index_select(0, torch.cat(state_b))
    num_old = s_fsa.numel()
    new_of_old, found = group_positions(s_fsa, [s.numel() for s in state_b], num_b)
    # FSAs whose final pair was never reached still get a final state (with no arcs)
    reached = final_id >= 0
    has_states = torch.zeros(num_b, dtype=torch.bool, device=device)
    has_states[fsa_ids] = True
    extra = (has_states & ~reached).long()
    num_states = found + extra
    splits1 = splits_from_sizes(num_states)
    if bool(extra.any()):
        new_of_old = new_of_old + (torch.cumsum(extra, 0) - extra).index_select(0, s_fsa)
    # the final pair goes last; states discovered after it move up by one (rare)
    f_old = final_id[reached]
    f_new = new_of_old[f_old]
    f_last = splits1[1:][reached] - 1
    if bool((f_new != f_last).any()):
        after = torch.full((num_b,), num_old + 1, dtype=torch.int64, device=device)
        after[reached] = f_new
        new_of_old = new_of_old - (new_of_old > after[s_fsa]).long()
        new_of_old[f_old] = f_last
    tot_states = int(splits1[-1])
    if arc_parts:
        old_deg, a_arc, b_arc, dst_id = (torch.cat(x) for x in zip(*arc_parts))
        old_deg = torch.cat([old_deg, old_deg.new_zeros(num_old - old_deg.numel())])
    else:
        old_deg = torch.zeros(num_old, dtype=torch.int64, device=device)
        a_arc = b_arc = dst_id = torch.zeros(0, dtype=torch.int32, device=device)
    num_arcs = a_arc.numel()
    # new arc j of new state t (old state s) is old arc old_first[s] + (j - new_first[t])
    old_first = torch.cumsum(old_deg, 0) - old_deg
    out_deg = torch.zeros(tot_states, dtype=torch.int64, device=device)
    out_deg.index_copy_(0, new_of_old, old_deg)
    splits2 = splits_from_sizes(out_deg)
    old_first_new = torch.zeros(tot_states, dtype=torch.int64, device=device)
    old_first_new.index_copy_(0, new_of_old, old_first)
    perm = torch.repeat_interleave(old_first_new - splits2[:-1], out_deg,
                                   output_size=num_arcs).add_(
        torch.arange(num_arcs, device=device))
    a_map = a_arc.index_select(0, perm)
    b_map = b_arc.index_select(0, perm)
    local32 = (new_of_old - splits1[:-1].index_select(0, s_fsa)).to(torch.int32)
    dst = local32.index_select(0, dst_id.index_select(0, perm))
    # local source ids in the new layout: each state's index in its FSA, once per arc
    src = torch.repeat_interleave(
        (torch.arange(tot_states, device=device) - torch.repeat_interleave(
            splits1[:-1], num_states, output_size=tot_states)).to(torch.int32),
        out_deg, output_size=num_arcs)
    labels = a_fsas.labels.index_select(0, a_map)
    # scores keep autograd (k2 sums the scores of both inputs)
    scores = a_fsas.scores.index_select(0, a_map) + b_fsas.scores.index_select(0, b_map)
    out = Fsa._from_parts(RaggedShape([splits1, splits2]), src, dst, labels, scores)
    _propagate_binary(a_fsas, b_fsas, out, a_map, b_map)
    if ret_arc_maps:
        return out, a_map, b_map
    return out


def _propagate_binary(a: Fsa, b: Fsa, out: Fsa, a_map: torch.Tensor,
                      b_map: torch.Tensor) -> None:
    """k2's attribute rules for binary ops: float attributes present in both are summed
    (``scores`` is already set that way); others come from a, then from b.

    Like k2, an attribute of a that b also has (as any attribute, tensor or not) must be a
    float32 tensor in both, else AttributeError (k2's message for a's dtype; k2 only
    asserts on b's)."""
    for name, a_value in a.named_tensor_attr(include_scores=False):
        if _has_attr(b, name):
            if a_value.dtype != torch.float32:
                raise AttributeError("We don't support propagating two attributes with the "
                                     "same name that are not real-valued, in intersection: "
                                     + name)
            b_value = getattr(b, name)
            if not isinstance(b_value, torch.Tensor) or b_value.dtype != torch.float32:
                raise AttributeError(f"intersection: attribute {name!r} is a float32 tensor "
                                     "in the first input but not in the second, so the two "
                                     "cannot be summed")
            setattr(out, name, a_value.index_select(0, a_map) + b_value.index_select(0, b_map))
        elif isinstance(a_value, torch.Tensor):
            setattr(out, name, a_value.index_select(0, a_map))
        else:
            setattr(out, name, a_value.index(a_map)[0])
    for name, b_value in b.named_tensor_attr(include_scores=False):
        if name in out._tensor_attr:
            continue
        if isinstance(b_value, torch.Tensor):
            setattr(out, name, b_value.index_select(0, b_map))
        else:
            setattr(out, name, b_value.index(b_map)[0])
    for name, value in a.named_non_tensor_attr():
        setattr(out, name, value)
    for name, value in b.named_non_tensor_attr():
        if not _has_attr(out, name):
            setattr(out, name, value)


def _has_attr(fsa: Fsa, name: str) -> bool:
    """Whether ``fsa`` has a tensor or non-tensor attribute ``name`` (k2's ``hasattr``)."""
    return name in fsa._tensor_attr or name in fsa._non_tensor_attr


def intersect(a_fsa: Fsa, b_fsa: Fsa, treat_epsilons_specially: bool = True,
              ret_arc_maps: bool = False):
    """Intersect two FSAs or FsaVecs (one with many, or pairwise). Epsilons are matched as
    ordinary symbols; with ``treat_epsilons_specially=True`` (k2's default) inputs that contain
    epsilons are rejected, since the built-in backend has no epsilon-aware composition."""
    if treat_epsilons_specially:
        for name, f in (("a_fsa", a_fsa), ("b_fsa", b_fsa)):
            if bool((f.labels == 0).any()):
                raise NotImplementedError(
                    f"intersect: {name} has epsilon arcs; the built-in backend only supports "
                    "treat_epsilons_specially=False (use intersect_device)")
    single = len(a_fsa.shape) == 2 and len(b_fsa.shape) == 2
    from icefall_lite.fsa.fsa import create_fsa_vec

    a_vec = create_fsa_vec([a_fsa]) if len(a_fsa.shape) == 2 else a_fsa
    b_vec = create_fsa_vec([b_fsa]) if len(b_fsa.shape) == 2 else b_fsa
    na, nb = a_vec.shape[0], b_vec.shape[0]
    if na == nb:
        b_to_a = torch.arange(nb, device=a_vec.device)
    elif na == 1:
        b_to_a = torch.zeros(nb, dtype=torch.int64, device=a_vec.device)
    elif nb == 1:
        from icefall_lite.fsa.ops import index_fsa

        b_vec = index_fsa(b_vec, torch.zeros(na, dtype=torch.int32, device=a_vec.device))
        b_to_a = torch.arange(na, device=a_vec.device)
    else:
        raise ValueError(f"intersect: cannot pair {na} FSAs with {nb} FSAs")
    res = intersect_device(a_vec, b_vec, b_to_a, ret_arc_maps=True)
    out, a_map, b_map = res
    if single:
        out = out[0]
    return (out, a_map, b_map) if ret_arc_maps else out
