"""N-gram LM estimation: interpolated modified Kneser-Ney (Chen & Goodman), any order, ARPA out.

Pure Python, meant for the small corpora of recipes (transcripts, a few MB of text).

For order ``k`` and history ``h`` (``k-1`` words), with adjusted counts ``a`` (raw counts at the
highest order and for n-grams starting with ``<s>``, else the number of distinct words seen
before the n-gram):

``p(w|h) = max(a(hw) - D_k(a(hw)), 0) / a(h·) + gamma(h) p(w|h')``,
``gamma(h) = (D_k1 N1(h·) + D_k2 N2(h·) + D_k3+ N3+(h·)) / a(h·)``,

where ``h'`` drops the oldest word, ``N_i(h·)`` counts the words with ``a(hw) = i`` (``>= 3`` for
``N3+``), and the recursion ends in the uniform distribution over the vocabulary (every word
seen, ``</s>`` and ``<unk>``; never ``<s>``). Discounts from the count-of-counts ``n_i`` of each
order: ``Y = n1/(n1+2 n2)``, ``D1 = 1-2Y n2/n1``, ``D2 = 2-3Y n3/n2``, ``D3+ = 3-4Y n4/n3``; when
they are undefined (a zero ``n_i``, common in tiny corpora) the fallback ``(0.5, 1.0, 1.5)`` is
used with a warning. In ARPA terms ``p(w|h)`` is stored for every seen ``hw`` and ``gamma(h)`` is
the backoff weight of ``h``.

Example::

    lm = estimate_kneser_ney([["a", "b"], ["b", "a", "b"]], order=3)
    write_arpa(lm, "lm.arpa")
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from icefall_lite.lang.files import read_text_lines, require_file

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)
# log10 probability written for <s>, which is never predicted (the usual ARPA convention).
BOS_LOG10_PROB = -99.0

Ngram = tuple[str, ...]


@dataclass
class NgramModel:
    """An estimated back-off LM.

    ``probs[k-1][g]`` is ``P(g[-1] | g[:-1])`` for each stored k-gram ``g`` (linear scale;
    ``<s>`` has 0); ``backoffs[k-1][g]`` is the backoff weight (linear) of k-gram ``g`` used as a
    history; ``discounts[k-1]`` are ``(D1, D2, D3+)`` of order k.
    """

    order: int
    probs: list[dict[Ngram, float]]
    backoffs: list[dict[Ngram, float]]
    discounts: list[tuple[float, float, float]]


def read_sentences(path: str | Path, vocabulary: set[str] | None = None) -> list[list[str]]:
    """Read one sentence per line (words only); words outside ``vocabulary`` become ``<unk>``.
    Empty lines are skipped."""
    path = require_file(path, "LM training text")
    sentences = []
    for lineno, line in read_text_lines(path):
        words = line.split()
        if BOS in words or EOS in words:
            raise ValueError(f"{path}:{lineno}: the text must hold words only; {BOS} and "
                             f"{EOS} are added by the estimator")
        if vocabulary is not None:
            words = [w if w in vocabulary else UNK for w in words]
        if words:
            sentences.append(words)
    if not sentences:
        raise ValueError(f"LM training text {path} contains no words")
    return sentences


def modified_kn_discounts(count_of_counts: Counter) -> tuple[float, float, float] | None:
    """``(D1, D2, D3+)`` from the numbers ``n1..n4`` of n-grams seen 1..4 times; None when
    the formulas are undefined or out of range."""
    n1, n2, n3, n4 = (count_of_counts.get(i, 0) for i in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        return None
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < di <= i + 1 for i, di in enumerate(d)):
        return None
    return d


def estimate_kneser_ney(
    sentences: Iterable[list[str]],
    order: int,
    discounts: list[tuple[float, float, float]] | None = None,
) -> NgramModel:
    """Estimate an interpolated modified Kneser-Ney LM (see the module doc).

    Args:
      sentences: lists of words, without ``<s>``/``</s>`` (added here).
      order: the n-gram order (>= 1).
      discounts: ``(D1, D2, D3+)`` per order (index 0 = unigrams), instead of estimating them.
    """
    if order < 1:
        raise ValueError(f"order={order}: must be >= 1")
    raw: list[Counter] = [Counter() for _ in range(order)]
    for words in sentences:
        padded = [BOS, *words, EOS]
        for k in range(1, order + 1):
            for i in range(len(padded) - k + 1):
                raw[k - 1][tuple(padded[i : i + k])] += 1
    if not raw[0]:
        raise ValueError("no sentences to estimate an n-gram LM from")

    # Adjusted counts: continuation counts below the highest order, except after <s>.
    adjusted: list[Counter] = [Counter() for _ in range(order)]
    adjusted[order - 1] = Counter(raw[order - 1])
    for k in range(order - 1, 0, -1):
        continuation = Counter(g[1:] for g in raw[k])
        for g, count in raw[k - 1].items():
            adjusted[k - 1][g] = count if g[0] == BOS else continuation[g]
    del adjusted[0][(BOS,)]

    vocabulary = {g[0] for g in raw[0]} - {BOS} | {EOS, UNK}
    if discounts is None:
        discounts = []
        for k in range(1, order + 1):
            d = modified_kn_discounts(Counter(adjusted[k - 1].values()))
            if d is None:
                logging.warning(f"order {k}: modified Kneser-Ney discounts are undefined for this "
                                f"corpus (too few n-grams); using {FALLBACK_DISCOUNTS}")
                d = FALLBACK_DISCOUNTS
            discounts.append(d)
    if len(discounts) != order:
        raise ValueError(f"discounts: need {order} triples (one per order), got {len(discounts)}")

    probs: list[dict[Ngram, float]] = []
    backoffs: list[dict[Ngram, float]] = []
    lower: dict[Ngram, float] = {}
    for k in range(1, order + 1):
        d1, d2, d3 = discounts[k - 1]
        total: dict[Ngram, float] = defaultdict(float)
        mass: dict[Ngram, float] = defaultdict(float)
        for g, a in adjusted[k - 1].items():
            total[g[:-1]] += a
            mass[g[:-1]] += d1 if a == 1 else d2 if a == 2 else d3
        gamma = {h: mass[h] / total[h] for h in total}

        current: dict[Ngram, float] = {}
        for g, a in adjusted[k - 1].items():
            discount = d1 if a == 1 else d2 if a == 2 else d3
            h = g[:-1]
            # every suffix of a seen n-gram is a seen (k-1)-gram: lower[g[1:]] exists
            lower_prob = 1.0 / len(vocabulary) if k == 1 else lower[g[1:]]
            current[g] = max(a - discount, 0.0) / total[h] + gamma[h] * lower_prob
        if k == 1:
            for w in vocabulary:
                current.setdefault((w,), gamma[()] / len(vocabulary))
            current[(BOS,)] = 0.0
        probs.append(current)
        if k > 1:
            backoffs.append({h: gamma[h] for h in total})
        lower = current
    backoffs.append({})
    return NgramModel(order, probs, backoffs, list(discounts))


def backoff_prob(g: Ngram, probs: list[dict[Ngram, float]], backoffs: list[dict[Ngram, float]]
                 ) -> float:
    """``P(g[-1] | g[:-1])`` of a back-off model: the stored value, else the history's backoff
    weight times the probability with one word less of history."""
    k = len(g)
    if k <= len(probs) and g in probs[k - 1]:
        return probs[k - 1][g]
    if k == 1:
        raise KeyError(f"word {g[0]!r} is not in the LM's vocabulary")
    weight = backoffs[k - 2].get(g[:-1], 1.0)
    return weight * backoff_prob(g[1:], probs, backoffs)


def write_arpa(model: NgramModel, path: str | Path) -> None:
    """Write ``model`` as an ARPA file (log10 values), n-grams sorted within each order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n\\data\\\n")
        for k in range(1, model.order + 1):
            f.write(f"ngram {k}={len(model.probs[k - 1])}\n")
        for k in range(1, model.order + 1):
            f.write(f"\n\\{k}-grams:\n")
            backoffs = model.backoffs[k - 1]
            for g in sorted(model.probs[k - 1]):
                p = model.probs[k - 1][g]
                logp = BOS_LOG10_PROB if g == (BOS,) else math.log10(p)
                line = f"{logp:.7f}\t{' '.join(g)}"
                if g in backoffs:
                    line += f"\t{math.log10(backoffs[g]) if backoffs[g] > 0 else -99.0:.7f}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")
    logging.info(f"wrote {path}: " + ", ".join(
        f"{len(p)} {k + 1}-grams" for k, p in enumerate(model.probs)))
