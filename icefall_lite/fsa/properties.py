"""Basic FSA properties as k2 computes them (bit flags, vectorised over arcs).

The bits have k2's values, so ``fsa.properties`` compares equal between backends.
"""

from __future__ import annotations

import torch

VALID = 0x01
NONEMPTY = 0x02
TOPSORTED = 0x04
TOPSORTED_AND_ACYCLIC = 0x08
ARC_SORTED = 0x10
ARC_SORTED_AND_DETERMINISTIC = 0x20
EPSILON_FREE = 0x40
ACCESSIBLE = 0x80
COACCESSIBLE = 0x0100

_NAMES = [
    (VALID, "Valid"), (NONEMPTY, "Nonempty"), (TOPSORTED, "TopSorted"),
    (TOPSORTED_AND_ACYCLIC, "TopSortedAndAcyclic"), (ARC_SORTED, "ArcSorted"),
    (ARC_SORTED_AND_DETERMINISTIC, "ArcSortedAndDeterministic"), (EPSILON_FREE, "EpsilonFree"),
    (ACCESSIBLE, "MaybeAccessible"), (COACCESSIBLE, "MaybeCoaccessible"),
]


def to_str(p: int) -> str:
    """``"Valid|Nonempty|..."`` like k2's ``fsa_properties_as_str``."""
    return "|".join(name for bit, name in _NAMES if p & bit)


def unsigned_label(labels: torch.Tensor) -> torch.Tensor:
    """Labels as k2 orders them: unsigned 32-bit, so the final label -1 sorts last."""
    return labels.to(torch.int64) & 0xFFFFFFFF


def validity_error(src, dst, labels, arc_fsa, num_states) -> str:
    """Empty string if the arcs form valid FSAs, else a message naming the first problem.

    ``src``/``dst`` are state indexes local to each FSA, ``arc_fsa`` the FSA of each arc and
    ``num_states[f]`` the number of states of FSA f.
    """
    n = src.numel()
    if n == 0:
        return ""
    ns = num_states[arc_fsa]
    if bool(((src < 0) | (dst < 0) | (src >= ns) | (dst >= ns)).any()):
        i = int(((src < 0) | (dst < 0) | (src >= ns) | (dst >= ns)).nonzero()[0])
        return f"arc {i} has a state outside [0, num_states)"
    final = ns - 1
    bad = (labels == -1) != (dst == final)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        return (f"arc {i} ({int(src[i])} -> {int(dst[i])}, label {int(labels[i])}): arcs entering "
                "the final state, and only those, must have label -1")
    if bool((src == final).any()):
        i = int((src == final).nonzero()[0])
        return f"arc {i} leaves the final state {int(final[i])}"
    if n > 1:
        same = arc_fsa[1:] == arc_fsa[:-1]
        if bool((same & (src[1:] < src[:-1])).any()):
            i = int((same & (src[1:] < src[:-1])).nonzero()[0]) + 1
            return f"arcs are not sorted by source state (arc {i} has src {int(src[i])} < " \
                   f"{int(src[i - 1])})"
    return ""


def basic_properties(src, dst, labels, arc_state, state_has_in, state_has_out,
                     is_start_state, is_final_state, every_fsa_has_arcs: bool) -> int:
    """Properties from per-arc tensors (``arc_state`` = global source state of each arc) and
    per-state masks; assumes the arcs are valid."""
    p = VALID
    n = src.numel()
    if every_fsa_has_arcs:
        p |= NONEMPTY
    if bool((dst >= src).all()):
        p |= TOPSORTED
    if bool((dst > src).all()):
        p |= TOPSORTED_AND_ACYCLIC
    if not bool((labels == 0).any()):
        p |= EPSILON_FREE
    lab = unsigned_label(labels)
    if n > 1:
        same = arc_state[1:] == arc_state[:-1]
        if bool((~same | (lab[1:] >= lab[:-1])).all()):
            p |= ARC_SORTED
            if bool((~same | (lab[1:] > lab[:-1])).all()):
                p |= ARC_SORTED_AND_DETERMINISTIC
    else:
        p |= ARC_SORTED | ARC_SORTED_AND_DETERMINISTIC
    if bool((state_has_in | is_start_state).all()):
        p |= ACCESSIBLE
    if bool((state_has_out | is_final_state).all()):
        p |= COACCESSIBLE
    return p
