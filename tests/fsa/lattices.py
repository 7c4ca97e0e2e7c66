"""Random graded lattices as plain data (arc lists and text), shared by the graded-input
tests: frames x states per frame, epsilon (blank) arcs, dead ends, lattices without a
successful path."""

from __future__ import annotations

import random


def random_lattice(rng: random.Random, empty: bool = False, frames: int | None = None,
                   width: int | None = None) -> tuple[list, int]:
    """Arcs ``(src, dst, label, score)`` of a random graded lattice and its state count.

    State 0 fans out to frame 0; every state of frame t + 1 has an arc from frame t (so the
    lattice is graded); some states have no leaving arc (dead ends); the last frame goes to
    the final state with label -1, except in some lattices that have no successful path."""
    if empty:
        return [], 0
    frames = frames or rng.randint(1, 6)
    width = width or rng.randint(1, 4)
    final = 1 + frames * width

    def state(t: int, c: int) -> int:
        return 1 + t * width + c

    def label() -> int:
        return 0 if rng.random() < 0.4 else rng.randint(1, 4)

    def score() -> float:
        return round(rng.uniform(-2.0, 2.0), 4)

    arcs = [(0, state(0, c), label(), score()) for c in range(width)]
    entered = {a[1] for a in arcs}
    no_path = rng.random() < 0.1
    for t in range(frames):
        for c in range(width):
            src = state(t, c)
            if t == frames - 1:
                if not no_path and rng.random() < 0.8:
                    arcs.append((src, final, -1, score()))
                continue
            targets = {rng.randrange(width) for _ in range(rng.randint(0, 3))}
            if c == width - 1:  # every next-frame state gets an entering arc
                targets |= {d for d in range(width) if state(t + 1, d) not in entered}
            for d in sorted(targets):
                arcs.append((src, state(t + 1, d), label(), score()))
                entered.add(state(t + 1, d))
    arcs.sort(key=lambda a: a[0])  # k2 text lists a state's arcs together
    return arcs, final + 1


def lattice_text(arcs: list, num_states: int) -> str:
    lines = [f"{s} {d} {lab} {sc}" for s, d, lab, sc in arcs]
    if num_states:
        lines.append(str(num_states - 1))
    return "\n".join(lines)


def sampled_sequences(rng: random.Random, arcs: list, num_states: int, count: int) -> list:
    """Label sequences (epsilons removed) of random walks from the start state; each walk
    stops at a dead end or the final state, so some sequences match no successful path."""
    leaving: dict[int, list] = {}
    for a in arcs:
        leaving.setdefault(a[0], []).append(a)
    seqs = []
    for _ in range(count):
        seq, s = [], 0
        while leaving.get(s):
            _, s, lab, _ = rng.choice(leaving[s])
            if lab > 0:
                seq.append(lab)
        seqs.append(seq)
    return seqs


def longest_depths(arcs: list, num_states: int) -> list[int]:
    """Length of the longest path reaching each state from a state without entering arcs
    (the level), by relaxing the arcs until nothing changes."""
    depth = [0] * num_states
    for _ in range(num_states):
        changed = False
        for s, d, _, _ in arcs:
            if depth[s] + 1 > depth[d]:
                depth[d] = depth[s] + 1
                changed = True
        if not changed:
            break
    return depth


def wide_lattice(rng: random.Random, widths: tuple[int, ...] = (20, 12)) -> tuple[list, int]:
    """Arcs and state count of a graded lattice whose states have many leaving arcs: the
    start state fans out to ``widths[0]`` states, each state of a level has an arc to 9 or
    more states of the next level (all of them if it is smaller) with random labels and
    scores, and the last level goes to the final state."""
    arcs, level, nxt = [], [0], 1
    for width in widths:
        states = list(range(nxt, nxt + width))
        for s in level:
            targets = states if len(level) == 1 or width <= 9 else sorted(
                rng.sample(states, rng.randint(9, width)))
            arcs += [(s, d, rng.randint(0, 4), round(rng.uniform(-2.0, 2.0), 4))
                     for d in targets]
        level, nxt = states, nxt + width
    arcs += [(s, nxt, -1, round(rng.uniform(-2.0, 2.0), 4)) for s in level]
    return arcs, nxt + 1
