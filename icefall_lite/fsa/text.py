"""Text formats: k2's ``from_str``/``to_str_simple`` and OpenFst (kaldifst) conversion.

k2 format: one arc per line ``src dst label [aux_label ...] [ragged ...] score``, then the
final state alone on the last line. OpenFst format: costs (negated scores), any number of
final states given as ``state [cost]`` lines; they are joined into one new final state with
label -1 arcs, as k2 does.

Example::

    >>> fsa = fsa_from_str("0 1 3 5 0.5\\n1 2 -1 -1 0\\n2", acceptor=False)
    >>> to_str_simple(fsa)
    '0 1 3 5 0.5\\n1 2 -1 -1 0\\n2\\n'
"""

from __future__ import annotations

import torch

from icefall_lite.fsa.fsa import Fsa
from icefall_lite.fsa.ragged import RaggedShape, RaggedTensor, splits_from_sizes

#: States beyond those the arcs can touch (two per arc) that a text may declare: start, final and
#: a few isolated states are fine; a one-line text declaring 10^8 states is not an FSA but a
#: request for gigabytes.
MAX_STATES_WITHOUT_ARCS = 1024


def _aux_label_info(acceptor, num_aux_labels, aux_label_names) -> tuple[int, list[str]]:
    given = sum(x is not None for x in (acceptor, num_aux_labels, aux_label_names))
    if given > 1:
        raise ValueError("from_str: give at most one of acceptor, num_aux_labels, "
                         "aux_label_names")
    if acceptor is not None:
        return (0, []) if acceptor else (1, ["aux_labels"])
    if aux_label_names is not None:
        return len(aux_label_names), list(aux_label_names)
    if num_aux_labels is not None:
        if num_aux_labels < 0:
            raise ValueError(f"from_str: num_aux_labels={num_aux_labels} < 0")
        names = ["aux_labels"][:num_aux_labels] + [
            f"aux_labels{i + 1}" for i in range(1, num_aux_labels)]
        return num_aux_labels, names
    return 0, []


def _parse_ragged_field(tokens: list[str], pos: int, lineno: int, line: str):
    if pos >= len(tokens) or tokens[pos] != "[":
        raise ValueError(f"from_str: line {lineno} {line!r}: expected '[' for a ragged label")
    end = tokens.index("]", pos) if "]" in tokens[pos:] else -1
    if end < 0:
        raise ValueError(f"from_str: line {lineno} {line!r}: missing ']'")
    return [int(t) for t in tokens[pos + 1: end]], end + 1


def fsa_from_str(s: str, acceptor: bool | None = None, num_aux_labels: int | None = None,
                 aux_label_names: list[str] | None = None,
                 ragged_label_names: list[str] | None = None,
                 openfst: bool = False) -> Fsa:
    """Parse k2 (or OpenFst, ``openfst=True``) text into a single Fsa; bad lines raise
    ValueError naming the line."""
    num_aux, names = _aux_label_info(acceptor, num_aux_labels, aux_label_names)
    ragged_names = list(ragged_label_names or [])
    arcs: list[tuple[int, int, int, float]] = []
    aux: list[list[int]] = []
    ragged: list[list[list[int]]] = []
    finals: list[tuple[int, float]] = []
    num_int = 3 + num_aux
    for lineno, raw in enumerate(s.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        tokens = line.replace("[", " [ ").replace("]", " ] ").split()
        try:
            if len(tokens) <= 2 and "[" not in tokens:
                if finals and not openfst:
                    raise ValueError("more than one final-state line")
                state = int(tokens[0])
                cost = float(tokens[1]) if len(tokens) == 2 else 0.0
                if len(tokens) == 2 and not openfst:
                    raise ValueError("a final-state line has only the state number")
                finals.append((state, cost))
                continue
            if finals and not openfst:
                raise ValueError("arc after the final-state line")
            ints = [int(t) for t in tokens[:num_int]]
            if len(ints) < num_int or "[" in tokens[:num_int]:
                raise ValueError(f"expected {num_int} integer fields")
            pos = num_int
            rag = []
            for _ in ragged_names:
                vals, pos = _parse_ragged_field(tokens, pos, lineno, raw)
                rag.append(vals)
            rest = tokens[pos:]
            if len(rest) > 1:
                raise ValueError(f"expected {num_int} integers"
                                 f"{' + ragged fields' if ragged_names else ''} and a score")
            score = float(rest[0]) if rest else 0.0
        except ValueError as e:
            raise ValueError(f"from_str: bad line {lineno}: {raw!r}: {e}") from None
        if openfst:
            score = -score
        arcs.append((ints[0], ints[1], ints[2], score))
        aux.append(ints[3:])
        ragged.append(rag)
    if openfst:
        return _from_openfst_parts(arcs, aux, ragged, finals, names, ragged_names)
    if not finals and arcs:
        raise ValueError("from_str: missing the final-state line (the last line)")
    return _build(arcs, aux, ragged, finals[0][0] + 1 if finals else 0, names, ragged_names)


def _from_openfst_parts(arcs, aux, ragged, finals, names, ragged_names) -> Fsa:
    """Add a new final state reached from every OpenFst final state by a label -1 arc."""
    states = [a[0] for a in arcs] + [a[1] for a in arcs] + [f[0] for f in finals]
    if not states:
        return _build([], [], [], 0, names, ragged_names)
    final = max(states) + 1
    arcs = list(arcs)
    for state, cost in finals:
        arcs.append((state, final, -1, -cost))
        aux.append([-1] * len(names))
        ragged.append([[] for _ in ragged_names])
    order = sorted(range(len(arcs)), key=lambda i: arcs[i][0])
    return _build([arcs[i] for i in order], [aux[i] for i in order],
                  [ragged[i] for i in order], final + 1, names, ragged_names)


def _check_num_states(num_states: int, num_arcs: int) -> None:
    limit = 2 * num_arcs + MAX_STATES_WITHOUT_ARCS
    if num_states > limit:
        raise ValueError(
            f"from_str: the text declares {num_states} states but gives only {num_arcs} arcs "
            f"(at most {limit} states for that many arcs: 2 per arc + "
            f"{MAX_STATES_WITHOUT_ARCS}); is a state number wrong?")


def _build(arcs, aux, ragged, num_states: int, names, ragged_names) -> Fsa:
    n = len(arcs)
    _check_num_states(num_states, n)
    t = torch.tensor([a[:3] for a in arcs], dtype=torch.int32).reshape(n, 3)
    scores = torch.tensor([a[3] for a in arcs], dtype=torch.float32)
    src = t[:, 0].long()
    for i in range(1, n):
        if arcs[i][0] < arcs[i - 1][0]:
            raise ValueError(f"from_str: arcs are not sorted by source state (arc {i}: "
                             f"{arcs[i][0]} after {arcs[i - 1][0]})")
    if n and max(max(a[0], a[1]) for a in arcs) >= num_states:
        raise ValueError(f"from_str: an arc uses a state >= the final state {num_states - 1}")
    from icefall_lite.fsa.fsa import RaggedArc, check_arcs, scores_to_bits

    check_arcs(src, t[:, 1].long(), t[:, 2].long(), torch.zeros_like(src),
               torch.tensor([num_states]))
    values = torch.empty(n, 4, dtype=torch.int32)
    values[:, :3] = t
    values[:, 3] = scores_to_bits(scores)
    counts = torch.bincount(src, minlength=num_states) if n else torch.zeros(num_states,
                                                                              dtype=torch.long)
    fsa = Fsa(RaggedArc(RaggedShape([splits_from_sizes(counts)]), values))
    for k, name in enumerate(names):
        setattr(fsa, name, torch.tensor([a[k] for a in aux], dtype=torch.int32))
    for k, name in enumerate(ragged_names):
        setattr(fsa, name, RaggedTensor([r[k] for r in ragged], dtype=torch.int32))
    return fsa


def _fmt_score(x: float) -> str:
    return f"{x:g}"


def _arc_lines(fsa: Fsa, openfst: bool, extra: list[torch.Tensor],
               ragged: list[RaggedTensor]) -> str:
    values = fsa.arcs.values().cpu()
    scores = fsa.scores.detach().cpu().tolist()
    n = values.shape[0]
    num_states = fsa.shape[0]
    final = num_states - 1
    extra_l = [e.cpu().tolist() for e in extra]
    ragged_l = [r.tolist() for r in ragged]
    rows = values[:, :3].tolist()
    lines = []
    for i in range(n):
        s, d, lab = rows[i]
        sc = -scores[i] if openfst else scores[i]
        if openfst and d == final:
            lines.append(f"{s} {_fmt_score(sc)}")
            continue
        fields = [str(s), str(d), str(lab)] + [str(e[i]) for e in extra_l]
        fields += ["[ " + " ".join(map(str, r[i])) + (" ]" if r[i] else "]") for r in ragged_l]
        fields.append(_fmt_score(sc))
        lines.append(" ".join(fields))
    if n > 0 and not openfst:
        lines.append(str(final))
    return "".join(line + "\n" for line in lines)


def to_str_simple(fsa: Fsa, openfst: bool = False) -> str:
    """A single FSA as text: arcs with (tensor) aux_labels, then the final state."""
    if fsa.arcs.num_axes() != 2:
        raise ValueError("to_str_simple needs a single FSA, not an FsaVec")
    aux = fsa._tensor_attr.get("aux_labels")
    extra = [aux.to(torch.int32)] if isinstance(aux, torch.Tensor) else []
    return _arc_lines(fsa, openfst, extra, [])


def fsa_to_str(fsa: Fsa, openfst: bool = False) -> str:
    """k2's ``Fsa.to_str``: every int32/ragged attribute on the arc lines, then properties."""
    extra, ragged = [], []
    for _name, value in sorted(fsa.named_tensor_attr(include_scores=False), key=lambda x: x[0]):
        if isinstance(value, torch.Tensor) and value.dtype == torch.int32:
            extra.append(value)
        elif isinstance(value, RaggedTensor):
            ragged.append(value)
    if fsa.arcs.num_axes() == 2:
        ans = "k2.Fsa: " + _arc_lines(fsa, openfst, extra, ragged)
    else:
        ans = "k2.FsaVec: \n"
        splits = fsa.arcs.shape().row_splits_long(2)[fsa.arcs.shape().row_splits_long(1)]
        for i in range(fsa.shape[0]):
            a0, a1 = int(splits[i]), int(splits[i + 1])
            sub = fsa[i]
            ans += f"FsaVec[{i}]: " + _arc_lines(
                sub, openfst, [e[a0:a1] for e in extra],
                [r.index(torch.arange(a0, a1))[0] for r in ragged])
    ans += f"properties_str = {fsa.properties_str}."
    for name, value in fsa.named_tensor_attr(include_scores=False):
        ans += f"\n{name}: {value}"
    for name, value in fsa.named_non_tensor_attr():
        ans += f"\n{name}: {value}"
    return ans


def from_openfst(s: str, acceptor: bool | None = None, **kwargs) -> Fsa:
    """An Fsa from OpenFst text (``fstprint`` output / ``str(kaldifst_fst)``): costs are
    negated into scores and all final states are joined into one; state 0 must be the
    start state (use :func:`from_kaldifst` for an fst object)."""
    return fsa_from_str(s, acceptor=acceptor, openfst=True, **kwargs)


def from_kaldifst(fst, acceptor: bool | None = None) -> Fsa:
    """Convert a ``kaldifst.StdVectorFst`` (or anything with OpenFst's text ``str()``) to an
    Fsa. The start state becomes state 0 (states are renumbered if needed); ``acceptor``
    defaults to True when every arc's input and output labels are equal."""
    text = str(fst)
    start = int(fst.start) if hasattr(fst, "start") else 0
    if start < 0:
        return Fsa(torch.zeros(0, 4, dtype=torch.int32))
    lines = [line.split() for line in text.strip().splitlines() if line.strip()]
    if start != 0:
        def ren(x: str) -> str:
            v = int(x)
            return str(0 if v == start else start if v == 0 else v)
        lines = [[ren(f[0]), ren(f[1])] + f[2:] if len(f) > 2 else [ren(f[0])] + f[1:]
                 for f in lines]
    arc_lines = [f for f in lines if len(f) > 2]
    if acceptor is None:
        acceptor = all(f[2] == f[3] for f in arc_lines)
    if acceptor:
        lines = [f[:3] + f[4:] if len(f) > 2 else f for f in lines]
    # OpenFst prints arcs grouped by state but a renumbered start may break the order
    arc_lines = sorted([f for f in lines if len(f) > 2], key=lambda f: int(f[0]))
    finals = [f for f in lines if len(f) <= 2]
    body = "\n".join(" ".join(f) for f in arc_lines + finals)
    return from_openfst(body, acceptor=acceptor)
