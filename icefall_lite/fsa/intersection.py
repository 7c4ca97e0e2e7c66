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

    >>> out, a_map, b_map = intersect_device(lattice, paths, b_to_a_map, ret_arc_maps=True)
"""

from __future__ import annotations

import torch

from icefall_lite.fsa.fsa import Fsa
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
        nkeys = keys[pos_new]
        uniq, inv = torch.unique(nkeys, return_inverse=True)
        first = torch.full((uniq.numel(),), nkeys.numel(), dtype=torch.int64, device=keys.device)
        first = first.scatter_reduce(0, inv, torch.arange(nkeys.numel(), device=keys.device),
                                     reduce="amin", include_self=True)
        first_sorted, by_first = torch.sort(first)
        rank = torch.empty_like(first)
        rank[by_first] = torch.arange(first.numel(), device=keys.device)
        ids[pos_new] = next_id + rank[inv]
        self._insert(uniq, next_id + rank)
        return ids, pos_new[first_sorted]


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
    nb_states = int(bi["state_fsa"].numel()) + 1
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
    # pair (a state, b state) -> key: dense per-FSA offsets when the pair space is small
    pair_sizes = torch.where(ok, ai["num_states"][b_to_a_map] * bi["num_states"],
                             torch.zeros_like(bi["num_states"]))
    total_pairs = int(pair_sizes.sum())
    b_state_fsa = bi["state_fsa"]
    if total_pairs <= _DENSE_LIMIT:
        # key = pair_off[f] + (ga - a_start[f]) * nb[f] + (gb - b_start[f]), f the FSA of gb,
        # folded into key = ga * mult[gb] + base[gb]
        pair_off = torch.cumsum(pair_sizes, 0) - pair_sizes
        nb = bi["num_states"]
        mult = nb[b_state_fsa]
        base = (pair_off - ai["start"][b_to_a_map] * nb - bi["start"])[b_state_fsa] + \
            torch.arange(b_state_fsa.numel(), device=device)

        def pair_key(ga, gb):
            return torch.addcmul(base.index_select(0, gb), ga, mult.index_select(0, gb))
        table = _DensePairTable(max(total_pairs, 1), device)
    else:
        def pair_key(ga, gb):
            return ga * nb_states + gb
        table = _HashPairTable(device)

    front_a = ai["start"][b_to_a_map[fsa_ids]]
    front_b = bi["start"][fsa_ids]
    a_dst, b_dst = ai["dst"], bi["dst"]
    state_b: list[torch.Tensor] = []
    table.resolve(pair_key(front_a, front_b), 0)
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
        dst_id, first_pos = table.resolve(pair_key(da, db), num_ids)
        arc_parts.append((own + (num_ids - front_a.numel()), a_arc, b_arc, dst_id))
        front_a, front_b = da.index_select(0, first_pos), db.index_select(0, first_pos)
        num_ids += first_pos.numel()
        state_b.append(front_b)
    final_id = torch.full((num_b,), -1, dtype=torch.int64, device=device)
    if fsa_ids.numel():
        final_id[fsa_ids] = table.lookup(pair_key(ai["final"][b_to_a_map[fsa_ids]],
                                                  bi["final"][fsa_ids]))
    return _assemble(a_fsas, b_fsas, bi, fsa_ids, state_b, final_id, arc_parts, ret_arc_maps)


def _assemble(a_fsas, b_fsas, bi, fsa_ids, state_b, final_id, arc_parts, ret_arc_maps):
    """Number states per FSA (discovery order, final pair last) and lay arcs out by state.

    States were discovered step by step, each step grouped by FSA in increasing order, and
    the arcs of step k leave exactly the states discovered in step k (in order); so both
    new positions come from per-(step, FSA) counts, without sorting."""
    device = a_fsas.device
    num_b = b_fsas.shape[0]
    s_fsa = bi["state_fsa"].index_select(0, torch.cat(state_b))
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
        after = torch.full((num_b,), s_fsa.numel() + 1, dtype=torch.int64, device=device)
        after[reached] = f_new
        new_of_old = new_of_old - (new_of_old > after[s_fsa]).long()
        new_of_old[f_old] = f_last
    local_of_old = new_of_old - splits1[:-1].index_select(0, s_fsa)
    tot_states = int(splits1[-1])
    if arc_parts:
        src_id, a_arc, b_arc, dst_id = (torch.cat(x) for x in zip(*arc_parts))
    else:
        src_id = a_arc = b_arc = dst_id = torch.zeros(0, dtype=torch.int64, device=device)
    num_arcs = src_id.numel()
    new_pos, _ = group_positions(s_fsa.index_select(0, src_id),
                                [p[0].numel() for p in arc_parts], num_b)
    # new_pos is a permutation: scatter each per-arc array to its place
    a_map = torch.empty_like(a_arc).index_copy_(0, new_pos, a_arc)
    b_map = torch.empty_like(b_arc).index_copy_(0, new_pos, b_arc)
    local32 = local_of_old.to(torch.int32)
    src = torch.empty(num_arcs, dtype=torch.int32, device=device).index_copy_(
        0, new_pos, local32.index_select(0, src_id))
    dst = torch.empty_like(src).index_copy_(0, new_pos, local32.index_select(0, dst_id))
    out_deg = torch.zeros(tot_states, dtype=torch.int64, device=device)
    out_deg.index_copy_(0, new_of_old, torch.bincount(src_id, minlength=s_fsa.numel()))
    splits2 = splits_from_sizes(out_deg)
    labels = a_fsas.labels.index_select(0, a_map)
    # scores keep autograd (k2 sums the scores of both inputs)
    scores = a_fsas.scores.index_select(0, a_map) + b_fsas.scores.index_select(0, b_map)
    out = Fsa._from_parts(RaggedShape([splits1, splits2]), src, dst, labels, scores)
    _propagate_binary(a_fsas, b_fsas, out, a_map, b_map)
    if ret_arc_maps:
        return out, a_map.to(torch.int32), b_map.to(torch.int32)
    return out


def _propagate_binary(a: Fsa, b: Fsa, out: Fsa, a_map: torch.Tensor,
                      b_map: torch.Tensor) -> None:
    """k2's attribute rules for binary ops: float attributes present in both are summed
    (``scores`` is already set that way); others come from a, then from b."""
    for name, a_value in a.named_tensor_attr(include_scores=False):
        if name in b._tensor_attr:
            b_value = b._tensor_attr[name]
            if a_value.dtype != torch.float32 or b_value.dtype != torch.float32:
                raise ValueError(f"intersection: attribute {name!r} is in both inputs but is "
                                 "not float32, so it cannot be combined")
            setattr(out, name, a_value[a_map] + b_value[b_map])
        elif isinstance(a_value, torch.Tensor):
            setattr(out, name, a_value[a_map])
        else:
            setattr(out, name, a_value.index(a_map)[0])
    for name, b_value in b.named_tensor_attr(include_scores=False):
        if name in out._tensor_attr:
            continue
        if isinstance(b_value, torch.Tensor):
            setattr(out, name, b_value[b_map])
        else:
            setattr(out, name, b_value.index(b_map)[0])
    for name, value in a.named_non_tensor_attr():
        setattr(out, name, value)
    for name, value in b.named_non_tensor_attr():
        if name not in out._non_tensor_attr:
            setattr(out, name, value)


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
