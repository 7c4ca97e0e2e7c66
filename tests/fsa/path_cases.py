"""Inputs for the path-algorithm tests (``test_paths_*``): vecs of lattices, and lattices
whose start state is not a root of the level structure, with a wide state later on, so
that a sampler that assumed the paths of step ``t`` to be in level ``t`` would compare too
few lanes. Real k2 needs top-sorted FSAs (every arc to a higher state), in which the start
state is always a root, so only the built-in takes the latter."""

from __future__ import annotations

import random

from tests.fsa.lattices import random_lattice, wide_lattice


def start_not_root_lattice(rng: random.Random, wide: int = 12) -> tuple[list, int]:
    """Arcs ``(src, dst, label, score)`` and state count of a graded FSA where state 1 (a
    root, unreachable from the start) enters the start state 0, so the start is in level 1;
    the start fans out to states 2 and 3, state 2 to ``wide`` states (more than 8 lanes) and
    state 3 to two of them; all of those go to the final state."""
    def score() -> float:
        return round(rng.uniform(-2.0, 2.0), 4)

    mid = list(range(4, 4 + wide))
    final = 4 + wide
    arcs = [(0, 2, 1, score()), (0, 3, 2, score()), (1, 0, 3, score())]
    arcs += [(2, d, rng.randint(0, 4), score()) for d in mid]
    arcs += [(3, d, rng.randint(0, 4), score()) for d in mid[:2]]
    arcs += [(d, final, -1, score()) for d in mid]
    return arcs, final + 1


def mixed_lattices(seed: int, start_not_root: bool) -> list[tuple[list, int]]:
    """A vec's worth of FSAs: a wide lattice, random lattices (dead ends, no successful
    path), an empty FSA and, if ``start_not_root``, a :func:`start_not_root_lattice`."""
    rng = random.Random(seed)
    out = [wide_lattice(rng)] + ([start_not_root_lattice(rng)] if start_not_root else [])
    out += [random_lattice(rng) for _ in range(4)]
    out.append(random_lattice(rng, empty=True))
    rng.shuffle(out)
    return out


def cdf_walks(src: list[int], dst: list[int], cdf: list[float], start: int, final: int,
              num_paths: int) -> list[list[int]]:
    """k2's random paths of one FSA, one path at a time in plain Python floats: path ``j``
    starts at ``p = (j + 0.5) / num_paths``; in state ``s`` it takes the last leaving arc
    with ``cdf <= p`` (the first if none), then ``p = (p - cdf) / width``, where the width
    runs to the next arc's cdf (1 after the state's last arc), ``p = 0`` for a zero width."""
    arcs_of: dict[int, list[int]] = {}
    for arc, state in enumerate(src):
        arcs_of.setdefault(state, []).append(arc)
    walks = []
    for j in range(num_paths):
        p, state, walk = (j + 0.5) / num_paths, start, []
        while state != final:
            own = arcs_of[state]
            k = max(len([a for a in own if cdf[a] <= p]) - 1, 0)
            upper = cdf[own[k + 1]] if k + 1 < len(own) else 1.0
            width = upper - cdf[own[k]]
            p = 0.0 if width <= 0 else (p - cdf[own[k]]) / width
            walk.append(own[k])
            state = dst[own[k]]
        walks.append(walk)
    return walks
