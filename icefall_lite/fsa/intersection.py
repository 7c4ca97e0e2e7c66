"""FSA intersection (k2's ``intersect_device``): product construction of ``b_fsas[i]`` with
``a_fsas[b_to_a_map[i]]``, labels matched exactly (epsilon is an ordinary symbol).

The product is explored breadth-first from the pair of start states, all FSAs at once: each
iteration expands the newest pair-states, matching their arcs by label with a sorted search
(``torch.searchsorted``), and assigns ids to pair-states never seen before. Seen pairs are kept
in a dense array when the pair space is small, else in a vectorised hash table. Output state
ids follow discovery order per FSA, the final pair last; arcs of a state are in the order of
(a-arc, b-arc), or (b-arc, a-arc) with ``sorted_match_a``, as k2 orders them. The result is not
connected (call ``connect``).

Example::

    >>> out, a_map, b_map = intersect_device(lattice, paths, b_to_a_map, ret_arc_maps=True)
"""

from __future__ import annotations

import torch

from icefall_lite.fsa.fsa import Fsa
from icefall_lite.fsa.ragged import RaggedShape, expand_ranges

_LABEL_SHIFT = 1 << 33


# pair-state spaces up to this many entries use dense int32 arrays (2 of them), else a hash
_DENSE_LIMIT = 1 << 24


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
    """Pair keys -> ids in a dense array (keys are < ``size``)."""

    def __init__(self, size: int, device: torch.device):
        self.ids = torch.full((size,), -1, dtype=torch.int32, device=device)
        self.first = torch.empty(size, dtype=torch.int32, device=device)

    def resolve(self, keys: torch.Tensor, next_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.ids[keys]
        pos_new = (ids < 0).nonzero().squeeze(1)
        if pos_new.numel() == 0:
            return ids.long(), pos_new
        nkeys = keys[pos_new]
        pos32 = pos_new.to(torch.int32)
        self.first[nkeys] = torch.iinfo(torch.int32).max
        self.first.scatter_reduce_(0, nkeys, pos32, reduce="amin")
        first_pos = pos_new[self.first[nkeys] == pos32]
        self.ids[keys[first_pos]] = torch.arange(
            next_id, next_id + first_pos.numel(), dtype=torch.int32, device=keys.device)
        return self.ids[keys].long(), first_pos


def _label_index(info, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Arcs sorted by (global src state, label, arc index) and their sort keys."""
    key = info["src"] * _LABEL_SHIFT + (labels.long() + 1)
    order = torch.sort(key, stable=True)[1]
    return key[order], order


def _match(q_state: torch.Tensor, q_label: torch.Tensor, keys: torch.Tensor,
           order: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each query (state, label), the arcs of that state with that label (by index).
    Returns (arc indexes, query owner)."""
    q = q_state * _LABEL_SHIFT + (q_label + 1)
    lo = torch.searchsorted(keys, q)
    hi = torch.searchsorted(keys, q, right=True)
    pos, owner = expand_ranges(lo, hi - lo)
    return order[pos], owner


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
        m_keys, m_order = _label_index(ai, a_lab)
    else:
        m_keys, m_order = _label_index(bi, b_lab)

    ok = (bi["num_states"] > 0) & (ai["num_states"][b_to_a_map] > 0)
    fsa_ids = ok.nonzero().squeeze(1)
    # pair (a state, b state) -> key: dense per-FSA offsets when the pair space is small
    pair_sizes = torch.where(ok, ai["num_states"][b_to_a_map] * bi["num_states"],
                             torch.zeros_like(bi["num_states"]))
    total_pairs = int(pair_sizes.sum())
    b_state_fsa = bi["state_fsa"]
    if total_pairs <= _DENSE_LIMIT:
        pair_off = torch.cumsum(pair_sizes, 0) - pair_sizes
        a_start = ai["start"][b_to_a_map]

        def pair_key(ga, gb):
            f = b_state_fsa[gb]
            return pair_off[f] + (ga - a_start[f]) * bi["num_states"][f] + (gb - bi["start"][f])
        table = _DensePairTable(max(total_pairs, 1), device)
    else:
        def pair_key(ga, gb):
            return ga * nb_states + gb
        table = _HashPairTable(device)

    front_a = ai["start"][b_to_a_map[fsa_ids]]
    front_b = bi["start"][fsa_ids]
    num_ids = 0
    state_a: list[torch.Tensor] = []
    state_b: list[torch.Tensor] = []
    front_id, _ = table.resolve(pair_key(front_a, front_b), 0)
    num_ids = front_a.numel()
    state_a.append(front_a)
    state_b.append(front_b)
    arc_parts: list[tuple[torch.Tensor, ...]] = []
    while front_id.numel() > 0:
        if sorted_match_a:
            b_arc, own = expand_ranges(b_splits[front_b],
                                       b_splits[front_b + 1] - b_splits[front_b])
            a_arc, sel = _match(front_a[own], b_lab[b_arc], m_keys, m_order)
            b_arc, own = b_arc[sel], own[sel]
        else:
            a_arc, own = expand_ranges(a_splits[front_a],
                                       a_splits[front_a + 1] - a_splits[front_a])
            b_arc, sel = _match(front_b[own], a_lab[a_arc], m_keys, m_order)
            a_arc, own = a_arc[sel], own[sel]
        if a_arc.numel() == 0:
            break
        da, db = ai["dst"][a_arc], bi["dst"][b_arc]
        dst_id, first_pos = table.resolve(pair_key(da, db), num_ids)
        arc_parts.append((front_id[own], a_arc, b_arc, dst_id))
        front_a, front_b = da[first_pos], db[first_pos]
        front_id = torch.arange(num_ids, num_ids + first_pos.numel(), device=device)
        num_ids += first_pos.numel()
        state_a.append(front_a)
        state_b.append(front_b)
    return _assemble(a_fsas, b_fsas, ai, bi, b_to_a_map, fsa_ids, state_a, state_b,
                     arc_parts, ret_arc_maps)


def _assemble(a_fsas, b_fsas, ai, bi, b_to_a_map, fsa_ids, state_a, state_b, arc_parts,
              ret_arc_maps):
    """Number states per FSA (discovery order, final pair last) and lay arcs out by state.

    Arcs were generated grouped by source state in increasing discovery id, each state's
    arcs contiguous, so their new position is computed directly (no sort of arcs)."""
    device = a_fsas.device
    num_b = b_to_a_map.numel()
    sa = torch.cat(state_a)
    sb = torch.cat(state_b)
    s_fsa = bi["state_fsa"][sb] if sb.numel() else sb
    final_a = ai["final"][b_to_a_map]
    final_b = bi["final"]
    is_final = (sa == final_a[s_fsa]) & (sb == final_b[s_fsa])
    # FSAs whose final pair was never reached still get a final state (with no arcs)
    has_final = torch.zeros(num_b, dtype=torch.bool, device=device)
    has_final[s_fsa[is_final]] = True
    missing = fsa_ids[~has_final[fsa_ids]]
    s_fsa = torch.cat([s_fsa, missing])
    is_final = torch.cat([is_final, torch.ones_like(missing, dtype=torch.bool)])
    n = s_fsa.numel()
    ids = torch.arange(n, device=device)
    order = torch.sort((s_fsa * 2 + is_final.long()) * (n + 1) + ids)[1]  # new -> old
    new_of_old = torch.empty_like(order)
    new_of_old[order] = ids
    num_states = torch.bincount(s_fsa, minlength=num_b)
    if arc_parts:
        src_id, a_map, b_map, dst_id = (torch.cat(x) for x in zip(*arc_parts))
    else:
        src_id = a_map = b_map = dst_id = torch.zeros(0, dtype=torch.int64, device=device)
    out_deg_old = torch.bincount(src_id, minlength=n)
    block_start_old = torch.cumsum(out_deg_old, 0) - out_deg_old
    splits2 = torch.zeros(n + 1, dtype=torch.int64, device=device)
    splits2[1:] = torch.cumsum(out_deg_old[order], 0)
    new_src = new_of_old[src_id]
    new_pos = splits2[new_src] + (torch.arange(src_id.numel(), device=device)
                                  - block_start_old[src_id])
    perm = torch.empty_like(new_pos)
    perm[new_pos] = torch.arange(new_pos.numel(), device=device)
    a_map, b_map = a_map[perm], b_map[perm]
    new_src, new_dst = new_src[perm], new_of_old[dst_id[perm]]
    splits1 = torch.zeros(num_b + 1, dtype=torch.int64, device=device)
    splits1[1:] = torch.cumsum(num_states, 0)
    state_off = splits1[:-1][s_fsa[order]]  # per new state: first state of its FSA
    labels = a_fsas.arcs.values()[a_map, 2]
    scores = a_fsas.scores.detach()[a_map] + b_fsas.scores.detach()[b_map]
    out = Fsa._from_parts(RaggedShape([splits1, splits2]), new_src - state_off[new_src],
                          new_dst - state_off[new_src], labels, scores)
    _propagate_binary(a_fsas, b_fsas, out, a_map, b_map)
    if ret_arc_maps:
        return out, a_map.to(torch.int32), b_map.to(torch.int32)
    return out


def _propagate_binary(a: Fsa, b: Fsa, out: Fsa, a_map: torch.Tensor,
                      b_map: torch.Tensor) -> None:
    """k2's attribute rules for binary ops: float attributes present in both are summed
    (``scores`` among them); others come from a, then from b."""
    for name, a_value in a.named_tensor_attr():
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
    for name, b_value in b.named_tensor_attr():
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
