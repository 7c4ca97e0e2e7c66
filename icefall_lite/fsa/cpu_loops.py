"""The per-level loops of :mod:`.paths` for CPU tensors, on numpy views of them.

A lattice has about one level per frame and few arcs per level, so these loops cost what
their calls cost, not what their arithmetic costs: a numpy call on a small array takes ~1 µs,
a torch op ~3-5 µs (dispatch, allocation). Each function here does what a torch loop in
:mod:`.paths` does (the one used off the CPU); tropical results and paths are the same bit
for bit, log-semiring scores agree to rounding (arcs are log-added one by one here, as k2
does, where the torch loops take a row-wise logsumexp). Arrays are numpy views of the
caller's tensors (no copies); levels are given as offset lists into flat arrays (slicing a
numpy array is cheaper than holding per-level views).

Example::

    >>> import numpy as np
    >>> out = np.array([0.0, -np.inf, -np.inf])  # state 0 is the start
    >>> level_push(out, np.array([0, 0, 1]), np.array([1, 2, 2]), np.array([1.0, 0.5, 1.0]),
    ...            [0, 2, 3], log_semiring=False, backward=False)
    >>> out.tolist()
    [0.0, 1.0, 2.0]
"""

from __future__ import annotations

import numpy as np
import torch


def as_numpy(t: torch.Tensor) -> np.ndarray:
    """A numpy view of a CPU tensor (detached; shares memory)."""
    return t.detach().numpy()


def expand_ranges(starts: np.ndarray, sizes: np.ndarray, need_owner: bool = True
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """numpy :func:`.ragged.expand_ranges`: ``arange(starts[i], starts[i] + sizes[i])``
    concatenated over ``i``, and (with ``need_owner``) the ``i`` of each entry, else None."""
    ends = np.cumsum(sizes)
    idx = np.repeat(starts - ends + sizes, sizes)
    idx += np.arange(idx.size)
    return idx, np.repeat(np.arange(sizes.size), sizes) if need_owner else None


def level_push(out: np.ndarray, src: np.ndarray, dst: np.ndarray, scores: np.ndarray,
               splits: list[int], log_semiring: bool, backward: bool) -> None:
    """Forward or backward scores in place, level by level over the arcs grouped by source
    level (``splits[l]:splits[l + 1]``): forward ``out[dst] (+)= out[src] + score`` in level
    order, backward ``out[src] (+)= out[dst] + score`` in reverse level order, where (+) is
    max or log-add, applied arc by arc in arc order (``ufunc.at``), as k2 reduces a state's
    arcs one after another."""
    combine = np.logaddexp if log_semiring else np.maximum
    into, frm = (src, dst) if backward else (dst, src)
    bounds = list(zip(splits[:-1], splits[1:]))
    if backward:
        bounds.reverse()
    for a0, a1 in bounds:
        if a0 == a1:
            continue
        vals = out.take(frm[a0:a1])
        vals += scores[a0:a1]
        combine.at(out, into[a0:a1], vals)


# forward_backward_push interleaves the two passes' arcs up to this many arcs per level on
# average: that halves the calls, but building the interleaved arrays costs ~5 array passes
# over twice the arcs, and the loop over them runs ~1.5x slower per arc than over the arcs
# in place; measured on 100-frame lattices, passes alone: 0.53 against 0.62 ms at 50 arcs
# per level, 0.69 / 0.72 at 100, 1.16 / 0.85 at 150, 38.6 / 12.3 at 5,000
MERGED_MAX_ARCS_PER_LEVEL = 128


def forward_backward_push(out: np.ndarray, src: np.ndarray, dst: np.ndarray,
                          scores: np.ndarray, splits: list[int], log_semiring: bool) -> None:
    """:func:`level_push` forward into ``out[:n]`` and backward into ``out[n:]`` (``out`` has
    ``2 * n`` entries, initialised by the caller). Where levels are small
    (:data:`MERGED_MAX_ARCS_PER_LEVEL`) in one loop: iteration ``i`` pushes the arcs of
    source level ``i`` forward and those of source level ``L - 1 - i`` backward with one
    gather, one add and one ``ufunc.at``, half the calls of two passes; else as the two
    passes. Iteration ``i`` reads only values that earlier iterations finished (the forward
    scores of level ``i``, the backward scores of levels above ``L - 1 - i``), and the two
    halves never share a target, so each state combines the same values in the same order
    as in two passes: the results are the same bit for bit."""
    n = out.size // 2
    num_arcs = src.size
    if num_arcs > MERGED_MAX_ARCS_PER_LEVEL * max(len(splits) - 1, 1):
        level_push(out[:n], src, dst, scores, splits, log_semiring, backward=False)
        level_push(out[n:], src, dst, scores, splits, log_semiring, backward=True)
        return
    bounds = np.asarray(splits, dtype=np.int64)
    count = np.diff(bounds)
    num_levels = count.size
    per_iter = count + count[::-1]
    start = np.zeros(num_levels + 1, dtype=np.int64)
    np.cumsum(per_iter, out=start[1:])
    level = np.repeat(np.arange(num_levels), count)
    rank = np.arange(num_arcs) - bounds[:-1].take(level)
    pos_fwd = start[:-1].take(level) + rank
    bwd_iter = num_levels - 1 - level
    pos_bwd = start[:-1].take(bwd_iter) + count.take(bwd_iter) + rank
    frm, into = np.empty(2 * num_arcs, dtype=np.int64), np.empty(2 * num_arcs, dtype=np.int64)
    frm[pos_fwd], into[pos_fwd] = src, dst
    frm[pos_bwd], into[pos_bwd] = dst + n, src + n
    sc = np.empty(2 * num_arcs, dtype=scores.dtype)
    sc[pos_fwd] = scores
    sc[pos_bwd] = scores
    combine = np.logaddexp if log_semiring else np.maximum
    edges = start.tolist()
    for c0, c1 in zip(edges[:-1], edges[1:]):
        if c0 == c1:
            continue
        vals = out.take(frm[c0:c1])
        vals += sc[c0:c1]
        combine.at(out, into[c0:c1], vals)


def sample_by_search(src: np.ndarray, dst: np.ndarray, cdf: np.ndarray, width: np.ndarray,
                     first_arc: np.ndarray, p: np.ndarray, cur: np.ndarray, max_steps: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """k2's random-path stepping for all paths together: a path in state ``s`` with position
    ``p`` takes the last leaving arc of ``s`` whose ``cdf <= p`` (the first arc if none),
    then ``p = (p - cdf) / width`` (0 if the width is 0), until it has no arc to take.

    The arc is found by one binary search over all arcs for all paths: the arcs are sorted
    by (source state, cdf), so with the complex keys ``src + 1j * cdf`` (numpy orders complex
    numbers by real, then imaginary part; both parts hold the values exactly) the last key
    ``<= cur + 1j * p`` is that arc, or an arc of an earlier state. ``first_arc`` has one
    entry per state plus one for the sentinel state ``len(first_arc) - 1``: the state's first
    arc, or the sentinel arc ``len(cdf)`` for states without arcs (final states), where a
    path ends. Returns (the arcs of all paths in path order, the length of each path)."""
    num_arcs = cdf.size
    sentinel_state = first_arc.size - 1
    keys = np.empty(num_arcs, dtype=np.complex128)
    keys.real, keys.imag = src, cdf
    cdf_ext = np.append(cdf, 0.0).astype(cdf.dtype, copy=False)
    width_ext = np.append(width, 0.0).astype(width.dtype, copy=False)
    dst_ext = np.append(dst, sentinel_state)
    query = np.empty(p.size, dtype=np.complex128)
    steps = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for step in range(max_steps):
            if step % 16 == 15 and bool((cur == sentinel_state).all()):
                break
            query.real, query.imag = cur, p
            arc = np.searchsorted(keys, query, side="right")
            arc -= 1
            np.maximum(arc, first_arc.take(cur), out=arc)
            w = width_ext.take(arc)
            q = p - cdf_ext.take(arc)
            q /= w
            p = np.where(w > 0, q, 0.0)
            steps.append(arc)
            cur = dst_ext.take(arc)
    return _paths_of_steps(steps, p.size, num_arcs)


def _paths_of_steps(steps: list[np.ndarray], num_paths: int, sentinel_arc: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(the arcs of all paths in path order, the length of each path) from the arc every
    path took at each step, the ``sentinel_arc`` once it has ended."""
    if not steps:
        return np.zeros(0, dtype=np.int64), np.zeros(num_paths, dtype=np.int64)
    return _paths_of_table(np.stack(steps), sentinel_arc)


# a state's comparisons "cdf <= p" are counted 8 at a time: as one uint64 of 0/1 bytes
# times 0x0101...01, whose top byte is then the sum of the 8 bytes
LANES = 8
_BYTE_SUM = np.uint64(0x0101010101010101)
_TOP_BYTE = np.uint64(56)


def padded_width(deg: np.ndarray) -> int:
    """Columns of :func:`padded_cdf`'s rows: the largest out-degree rounded up to 8 lanes."""
    return LANES * max(-(-int(deg.max(initial=0)) // LANES), 1)


def padded_cdf(src: np.ndarray, cdf: np.ndarray, state_first: np.ndarray, deg: np.ndarray
               ) -> np.ndarray:
    """``[num_states + 1, 8 * words]``: row ``s`` holds the cdf of the leaving arcs of ``s``
    in arc order, then +inf (never ``<= p``); the last row (the sentinel state) is all +inf.
    The row width is :func:`padded_width`."""
    table = np.full((deg.size + 1, padded_width(deg)), np.inf, dtype=cdf.dtype)
    table[src, np.arange(src.size) - state_first.take(src)] = cdf
    return table


def sample_padded(table: np.ndarray, base: np.ndarray, cdf_ext: np.ndarray,
                  width_ext: np.ndarray, dst_ext: np.ndarray, p: np.ndarray, cur: np.ndarray,
                  step_words: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """k2's random-path stepping for all paths together over :func:`padded_cdf`'s rows: a
    path in state ``s`` with position ``p`` takes arc ``base[s] + max(c, 1)``, where ``c`` is
    the number of arcs of ``s`` with ``cdf <= p`` and ``base[s]`` the state's first arc - 1
    (the sentinel arc - 1 for states without arcs and for the sentinel state), then
    ``p = (p - cdf) / width`` (0 if the width is 0: ``width_ext`` holds +inf there, and a
    finite value over +inf is 0). The ``*_ext`` arrays have one entry per arc plus the
    sentinel arc (cdf 0, width +inf, leading to the sentinel state). Step ``t`` (of
    ``len(step_words)``) compares the first ``step_words[t]`` words of 8 lanes only: no
    state a path can be in at that step has more arcs (in a lattice, where the paths of step
    ``t`` are in level ``t``, most levels need one word while the start state needs more).
    Returns (the arcs of all paths in path order, the length of each path).

    Every step writes into buffers allocated once, and every operand is an array of the
    paths' length: a numpy scalar operand (``x * np.uint64(c)``) costs ~2 µs per call in type
    resolution, an array of the same length ~0.6 µs, and the steps are ~12 such calls."""
    num_paths = p.size
    # one contiguous [num_states + 1, 8] table per word: a step gathers only the words it needs
    words = [np.ascontiguousarray(table[:, w:w + LANES]) for w in range(0, table.shape[1],
                                                                          LANES)]
    sentinel_arc, sentinel_state = cdf_ext.size - 1, base.size - 1
    p, cur = p.copy(), cur.copy()
    # (cdf, width) of each arc in one complex gather (same precision as the scores)
    pair = np.empty(cdf_ext.size, dtype=np.complex64 if cdf_ext.dtype == np.float32
                    else np.complex128)
    pair.real, pair.imag = cdf_ext, width_ext
    count, more = np.empty(num_paths, dtype=np.uint64), np.empty(num_paths, dtype=np.uint64)
    byte_sum = np.full(num_paths, _BYTE_SUM, dtype=np.uint64)
    top_byte = np.full(num_paths, _TOP_BYTE, dtype=np.uint64)
    ones = np.ones(num_paths, dtype=np.int64)
    max_steps = len(step_words)
    steps = np.empty((max_steps, num_paths), dtype=np.int64)
    done = max_steps
    for step, num_words in enumerate(step_words):
        if step % 16 == 15 and bool((cur == sentinel_state).all()):
            done = step
            break
        # compared against p as a [paths, 8] copy: against the broadcast p[:, None], numpy
        # runs one inner loop of 8 per path (56 against 25 us with the copy at 4,000 paths);
        # a take into a given buffer costs 3x a fresh one
        p_col = p.repeat(LANES).reshape(-1, LANES)
        np.multiply((words[0].take(cur, 0) <= p_col).view(np.uint64)[:, 0], byte_sum,
                    out=count)
        np.right_shift(count, top_byte, out=count)
        for w in range(1, num_words):
            np.multiply((words[w].take(cur, 0) <= p_col).view(np.uint64)[:, 0], byte_sum,
                        out=more)
            np.right_shift(more, top_byte, out=more)
            count += more
        arc = steps[step]
        np.maximum(count.view(np.int64), ones, out=arc)
        arc += base.take(cur)
        cw = pair.take(arc)
        p -= cw.real
        p /= cw.imag
        dst_ext.take(arc, out=cur)
    return _paths_of_table(steps[:done], sentinel_arc)


def lane_layout(src: np.ndarray, splits2: np.ndarray) -> dict[str, object]:
    """The layout of :func:`lane_cdf` and :func:`sample_lanes` for arcs grouped by source
    state (``splits2``: arc offsets per state): ``rows`` (states + 1, the last a sentinel
    state without arcs), ``lanes`` (the largest out-degree), each arc's ``flat`` index
    ``rank * rows + state`` into a lane-major ``[lanes, rows]`` table (rank: among the
    state's arcs), ``has_next`` (the arc is not its state's last), ``starts`` (the first arc
    of each state with arcs), ``base`` per row (the row's first arc - 1, or the sentinel arc
    ``num_arcs`` for rows without arcs), ``lane0`` (the first lane of the sampler's rows:
    -inf where the row has arcs, +inf where not) and ``src``; and where the sampler's rows
    take them, its words: ``word_pos`` (each arc's place in the ``[rows, 8]`` first word,
    past its end for ranks 8 and up), and for ranks 8 and up, only on the ``wide`` rows (more
    than 8 arcs: ``num_wide``), ``wide_row`` (each row's index among them, ``num_wide`` for
    the others: an all +inf row), ``wide_arcs`` and ``wide_pos`` (their place in the stacked
    ``[words - 1, wide + 1, 8]`` tables)."""
    num_arcs = src.size
    first, deg = splits2[:-1], np.diff(splits2)
    rows = deg.size + 1
    rank = np.arange(num_arcs) - first.take(src)
    flat = rank * rows
    flat += src
    has_arcs = np.append(deg > 0, False)
    base = np.where(has_arcs, np.append(first, 0) - 1, num_arcs)
    lanes = int(deg.max(initial=0))
    has_next = np.empty(num_arcs, dtype=bool)
    np.not_equal(rank[1:], 0, out=has_next[:-1])
    has_next[-1:] = False
    out = {"rows": rows, "lanes": lanes, "flat": flat, "has_next": has_next,
           "starts": first[deg > 0], "base": base, "src": src,
           "lane0": np.where(has_arcs, -np.inf, np.inf)}
    word_pos = src * LANES
    word_pos += rank
    if lanes > LANES:
        # the wide rows' arcs of ranks 8 and up, from the rows (no pass over all arcs)
        wide = np.flatnonzero(deg > LANES)
        wide_arcs, owner = expand_ranges(first.take(wide) + LANES, deg.take(wide) - LANES)
        word_pos[wide_arcs] = rows * LANES  # one place past the first word's end
        wide_row = np.full(rows, wide.size, dtype=np.int64)
        wide_row[wide] = np.arange(wide.size)
        r = rank.take(wide_arcs)
        wide_pos = (r // LANES - 1) * ((wide.size + 1) * LANES)
        wide_pos += owner * LANES
        wide_pos += r % LANES
        out.update(num_wide=wide.size, wide_row=wide_row, wide_arcs=wide_arcs,
                   wide_pos=wide_pos)
    out["word_pos"] = word_pos
    return out


def lane_cdf(post: np.ndarray, layout: dict[str, object]) -> tuple[np.ndarray, np.ndarray]:
    """k2's ``GetArcCdf`` from the arcs' log posteriors: each state's log-sum of its arcs'
    posteriors (log-added one by one in arc order, ``logaddexp.reduceat`` over the states'
    arc ranges), the arcs' probabilities ``exp(post - sum)`` (0 for states whose sum is
    -inf), their exclusive sum over the state's arcs times 1 / the state's total (if > 0),
    then each value lowered to the smallest of the later ones and 1 (a no-op unless
    roundoff broke the order). The sums run on :func:`lane_layout`'s lane-major table, so
    each step runs over all states at once and adds a state's arcs one after another, as
    k2's CPU loops do.

    Returns per arc its cdf and its interval's width (up to the next arc's cdf, 1 after the
    state's last arc)."""
    rows, lanes, flat, src = layout["rows"], layout["lanes"], layout["flat"], layout["src"]
    norm = np.zeros(rows, dtype=post.dtype)
    starts = layout["starts"]
    if starts.size:
        # the same log-adds as logaddexp.at from -inf, in the same order (-inf (+) x = x)
        sums = np.logaddexp.reduceat(post, starts)
        sums[sums == -np.inf] = 0.0
        norm[src.take(starts)] = sums
    prob = norm.take(src)
    np.subtract(post, prob, out=prob)
    np.exp(prob, out=prob)
    table = np.zeros((lanes + 1, rows), dtype=post.dtype)
    flat_next = flat + rows
    table.reshape(-1)[flat_next] = prob
    np.cumsum(table, axis=0, out=table)
    tot = table[lanes]
    inv = np.ones_like(tot)
    np.divide(1.0, tot, out=inv, where=tot > 0)
    table *= inv
    # table[r, s]: the cdf of the rank-r arc of s (rank 0: 0), and 1 or more at rank deg
    flat_table = table.reshape(-1)
    lo = flat_table.take(flat)
    nxt = flat_table.take(flat_next, out=prob, mode="clip")  # (no buffer: in range)
    last = ~layout["has_next"]
    np.copyto(nxt, 1.0, where=last)
    if not (nxt >= lo).all() or not (lo <= 1.0).all():
        # k2's fix: each value lowered to the smallest later one of its state (and 1)
        cdf = np.full((lanes + 1, rows), np.inf, dtype=post.dtype)
        cdf.reshape(-1)[flat] = lo
        np.minimum.accumulate(cdf[::-1], axis=0, out=cdf[::-1])
        np.minimum(cdf, 1.0, out=cdf)
        lo = cdf.reshape(-1).take(flat)
        nxt = cdf.reshape(-1).take(flat_next)
        np.copyto(nxt, 1.0, where=last)
    nxt -= lo
    return lo, nxt


def sample_lanes(cdf: tuple[np.ndarray, np.ndarray], layout: dict[str, object],
                 dst: np.ndarray, p: np.ndarray, cur: np.ndarray, step_words: list[int]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """k2's random-path stepping for all paths together over :func:`lane_cdf`'s output: a
    path in state ``s`` with position ``p`` takes the arc ``first + k`` of ``s``, ``k`` the
    number of its arcs after the first with ``cdf <= p`` (k2's ``upper_bound``), then
    ``p = (p - cdf) / width`` (a zero width gives ``p = 0``); in a state without arcs it
    stays, on the sentinel arc. Step ``t`` compares the first ``step_words[t]`` words of 8
    lanes (see :func:`sample_padded`). Returns (the arcs of all paths in path order, the
    length of each path).

    Per step ~12 numpy calls on arrays of the paths' length: one gather of the state's
    8-lane word (its cdf, the first lane set to -inf so that it always counts: no
    ``max(count, 1)``), a compare into a buffer whose bytes are read as one uint64 per
    path (times 0x0101...01, the top byte is the count), the arc as base + count, one
    complex gather of the arc's (cdf, width). The words are contiguous ``[rows, 8]``
    tables: a compare on a strided slice of a wider row costs ~2.5x (4.1 against 1.5 us at
    200 paths); the words past the first (ranks 8 and up) hold only the rows that have such
    arcs (:func:`lane_layout`'s ``wide_row``), one more gather where a step needs them."""
    lo, width = cdf
    rows = layout["rows"]
    num_arcs = lo.size
    num_paths = p.size
    word_flat = np.full(rows * LANES + 1, np.inf, dtype=lo.dtype)
    word_flat[layout["word_pos"]] = lo
    word0 = word_flat[:-1].reshape(rows, LANES)
    word0[:, 0] = layout["lane0"]
    wide_words: list[np.ndarray] = []
    if "wide_row" in layout:
        wide_flat = np.full((len(range(LANES, layout["lanes"], LANES)), layout["num_wide"] + 1,
                             LANES),
                            np.inf, dtype=lo.dtype)
        wide_flat.reshape(-1)[layout["wide_pos"]] = lo.take(layout["wide_arcs"])
        wide_words = list(wide_flat)
    base = layout["base"]
    # (cdf, width) of each arc, and of the sentinel arc (0, +inf)
    pair = np.empty(num_arcs + 1, dtype=np.complex64 if lo.dtype == np.float32
                    else np.complex128)
    pair.real[:num_arcs], pair.imag[:num_arcs] = lo, width
    pair.imag[:num_arcs][~(width > 0)] = np.inf
    pair[num_arcs] = complex(0.0, np.inf)
    dst_ext = np.append(dst, rows - 1)
    p, cur = p.copy(), cur.copy()
    cmp = np.empty((num_paths, LANES), dtype=bool)
    cmp64 = cmp.view(np.uint64).reshape(num_paths)
    count, more = np.empty(num_paths, dtype=np.uint64), np.empty(num_paths, dtype=np.uint64)
    byte_sum = np.full(num_paths, _BYTE_SUM, dtype=np.uint64)
    top_byte = np.full(num_paths, _TOP_BYTE, dtype=np.uint64)
    max_steps = len(step_words)
    steps = np.empty((max_steps, num_paths), dtype=np.int64)
    sentinel_state = rows - 1
    done = max_steps
    # the loop's names bound once (each lookup costs ~50 ns, ~20 per step)
    less_equal, multiply, right_shift, add = np.less_equal, np.multiply, np.right_shift, np.add
    take0, take_base, take_pair, take_dst = word0.take, base.take, pair.take, dst_ext.take
    count_i = count.view(np.int64)
    shape = (num_paths, LANES)
    for step, num_words in enumerate(step_words):
        if step % 16 == 15 and bool((cur == sentinel_state).all()):
            done = step
            break
        p_col = p.repeat(LANES).reshape(shape)
        less_equal(take0(cur, 0), p_col, out=cmp)
        multiply(cmp64, byte_sum, out=count)
        right_shift(count, top_byte, out=count)
        if num_words > 1:
            wide = layout["wide_row"].take(cur)
            for word in wide_words[:num_words - 1]:
                less_equal(word.take(wide, 0), p_col, out=cmp)
                multiply(cmp64, byte_sum, out=more)
                right_shift(more, top_byte, out=more)
                count += more
        arc = steps[step]
        add(take_base(cur), count_i, out=arc)
        cw = take_pair(arc)
        p -= cw.real
        p /= cw.imag
        take_dst(arc, out=cur)
    return _paths_of_table(steps[:done], num_arcs)


def _paths_of_table(table: np.ndarray, sentinel_arc: int) -> tuple[np.ndarray, np.ndarray]:
    """(the arcs of all paths in path order, the length of each path) from ``table[step,
    path]``, the arc each path took at each step (``sentinel_arc`` once it has ended). The
    mask and the lengths are computed in the table's own (step-major) layout, the selection
    through its transposed view."""
    real = table < sentinel_arc
    return table.T[real.T], np.add.reduce(real, 0, dtype=np.int64)


def best_entering_arcs(src: np.ndarray, dst: np.ndarray, scores: np.ndarray,
                       alpha: np.ndarray) -> np.ndarray:
    """For each state, the entering arc on its best (tropical) path, -1 if none; ties go to
    the highest arc index, as in k2 (``paths._best_entering_arcs`` in numpy)."""
    cand = alpha.take(src)
    cand += scores
    # a non-finite alpha never matches (NaN != anything)
    target = np.where(np.abs(alpha) < np.inf, alpha, np.nan)
    hit = np.flatnonzero(cand == target.take(dst))
    best = np.full(alpha.size, -1, dtype=np.int64)
    np.maximum.at(best, dst.take(hit), hit)
    return best


def trace_back(entering: np.ndarray, src: np.ndarray, finals: np.ndarray) -> np.ndarray:
    """The states on the best path back from each of ``finals`` (final state included,
    start state too), in no particular order, by pointer doubling: round r adds the states
    2^r .. 2^(r+1) - 1 steps back, so the rounds are the log of the path length."""
    n = entering.size
    # predecessor on the best path; state n is a sentinel (start states point at it)
    src_ext = np.append(src, n)
    jump = np.append(src_ext.take(np.where(entering >= 0, entering, src.size)), n)
    chain = finals
    while True:
        back = jump.take(chain)
        back = back[back != n]
        if back.size == 0:
            return chain
        chain = np.concatenate([chain, back])
        jump = jump.take(jump)


def graded_depths(src: np.ndarray, dst: np.ndarray, num_states: int) -> np.ndarray | None:
    """``paths.graded_levels`` in numpy: each state's depth in a tree of entering arcs, by
    pointer jumping; None unless every arc goes from depth d to d + 1."""
    n = num_states
    # node n is a sentinel: roots point at it, and it at itself, with depth 0
    anc = np.full(n + 1, n, dtype=np.int64)
    anc[dst] = src
    depth = (anc != n).astype(np.int64)
    # every pointer has reached the sentinel (the largest value) when the smallest has
    for _ in range(max(n, 1).bit_length() + 1):
        if anc.min() == n:
            level = depth[:n]
            if src.size:
                diff = level.take(dst)
                diff -= level.take(src)
                if not (diff == 1).all():
                    return None
            return level
        depth += depth.take(anc)
        anc = anc.take(anc)
    return None
