"""Result files of a decoding run, named as icefall names them (``recogs-``, ``errs-``,
``wer-summary-``), plus WER statistics and the real-time factor.

Files for test set ``S`` and a settings ``key`` (see :func:`result_suffix`), in ``out_dir``:

- ``recogs-S-key.txt``: per utterance (sorted by id) ``id:\\tref=[...]`` and ``id:\\thyp=[...]``;
- ``errs-S-key.txt``: the Kaldi-style line ``%WER x.xx [ e / n, i ins, d del, s sub ]``, then
  per-utterance alignments (kaldialign), substitutions, deletions, insertions and per-word
  error counts;
- ``wer-summary-S-key.txt``: ``settings<TAB>WER`` and ``key<TAB>x.xx``.

Example::

    >>> stats = wer_stats([("u1", ["a", "b", "c"], ["a", "x", "c", "d"])])
    >>> kaldi_wer_line(stats)
    '%WER 66.67 [ 2 / 3, 1 ins, 0 del, 1 sub ]'
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "WerStats",
    "kaldi_wer_line",
    "real_time_factor",
    "result_suffix",
    "wer_stats",
    "write_results",
]

EPS = "*"
Result = tuple[str, list[str], list[str]]  # (utterance id, reference words, hypothesis words)


@dataclass
class WerStats:
    """Error counts of a test set; ``alignments[id]`` is the kaldialign pair list."""

    num_ref_words: int = 0
    ins: int = 0
    dels: int = 0
    subs: int = 0
    alignments: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    substitutions: Counter = field(default_factory=Counter)
    deletions: Counter = field(default_factory=Counter)
    insertions: Counter = field(default_factory=Counter)
    # word -> [correct, ref-side errors, hyp-side errors]
    per_word: dict[str, list[int]] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.ins + self.dels + self.subs

    @property
    def wer(self) -> float:
        """Word error rate in percent (0 for an empty reference)."""
        return 100.0 * self.errors / self.num_ref_words if self.num_ref_words else 0.0


def wer_stats(results: list[Result]) -> WerStats:
    """Align each reference with its hypothesis (kaldialign) and count the errors."""
    import kaldialign  # noqa: PLC0415  (only the main environment has it)

    st = WerStats()
    for utt, ref, hyp in results:
        ali = kaldialign.align(list(ref), list(hyp), EPS)
        st.alignments[utt] = ali
        st.num_ref_words += len(ref)
        for r, h in ali:
            if r == EPS:
                st.ins += 1
                st.insertions[h] += 1
                st.per_word.setdefault(h, [0, 0, 0])[2] += 1
            elif h == EPS:
                st.dels += 1
                st.deletions[r] += 1
                st.per_word.setdefault(r, [0, 0, 0])[1] += 1
            elif r != h:
                st.subs += 1
                st.substitutions[(r, h)] += 1
                st.per_word.setdefault(r, [0, 0, 0])[1] += 1
                st.per_word.setdefault(h, [0, 0, 0])[2] += 1
            else:
                st.per_word.setdefault(r, [0, 0, 0])[0] += 1
    return st


def kaldi_wer_line(st: WerStats) -> str:
    """``%WER x.xx [ errors / ref_words, i ins, d del, s sub ]``."""
    return (f"%WER {st.wer:.2f} [ {st.errors} / {st.num_ref_words}, {st.ins} ins, "
            f"{st.dels} del, {st.subs} sub ]")


def result_suffix(method: str, settings: dict[str, object], prefix: str = "") -> str:
    """A file-name key that says how results were made, e.g.
    ``epoch-30_avg-10_fast_beam_search_beam-20.0_max-contexts-8_max-states-64``."""
    parts = [prefix] if prefix else []
    parts.append(method)
    parts += [f"{k.replace('_', '-')}-{v}" for k, v in settings.items()]
    return "_".join(parts)


def _errs_text(test_set: str, st: WerStats) -> str:
    lines = [
        kaldi_wer_line(st),
        f"Errors: {st.ins} insertions, {st.dels} deletions, {st.subs} substitutions, over "
        f"{st.num_ref_words} reference words ({st.num_ref_words - st.dels - st.subs} correct)",
        "Search below for sections starting with PER-UTT DETAILS:, SUBSTITUTIONS:, DELETIONS:, "
        "INSERTIONS:, PER-WORD STATS:",
        "",
        "PER-UTT DETAILS: corr or (ref->hyp)",
    ]
    for utt in sorted(st.alignments):
        words = [r if r == h else f"({r}->{h})" for r, h in st.alignments[utt]]
        lines.append(f"{utt}:\t" + " ".join(words))
    lines += ["", "SUBSTITUTIONS: count ref -> hyp"]
    lines += [f"{c}   {r} -> {h}" for (r, h), c in sorted(st.substitutions.items(),
                                                         key=lambda x: (-x[1], x[0]))]
    lines += ["", "DELETIONS: count ref"]
    lines += [f"{c}   {w}" for w, c in sorted(st.deletions.items(), key=lambda x: (-x[1], x[0]))]
    lines += ["", "INSERTIONS: count hyp"]
    lines += [f"{c}   {w}" for w, c in sorted(st.insertions.items(), key=lambda x: (-x[1], x[0]))]
    lines += ["", "PER-WORD STATS: word  corr tot_errs count_in_ref count_in_hyp"]
    rows = sorted(st.per_word.items(), key=lambda x: (-(x[1][1] + x[1][2]), x[0]))
    for w, (corr, ref_err, hyp_err) in rows:
        lines.append(f"{w}   {corr} {ref_err + hyp_err} {corr + ref_err} {corr + hyp_err}")
    return "\n".join(lines) + "\n"


def write_results(out_dir: str | Path, test_set: str, key: str,
                  results: list[Result]) -> WerStats:
    """Write ``recogs-``, ``errs-`` and ``wer-summary-`` files for one test set and settings
    key; log and return the statistics."""
    if not results:
        raise ValueError(f"write_results: no results for test set {test_set!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = sorted(results, key=lambda r: r[0])
    with open(out_dir / f"recogs-{test_set}-{key}.txt", "w", encoding="utf-8") as f:
        for utt, ref, hyp in results:
            f.write(f"{utt}:\tref={list(ref)}\n{utt}:\thyp={list(hyp)}\n")
    st = wer_stats(results)
    (out_dir / f"errs-{test_set}-{key}.txt").write_text(_errs_text(test_set, st), encoding="utf-8")
    (out_dir / f"wer-summary-{test_set}-{key}.txt").write_text(
        f"settings\tWER\n{key}\t{st.wer:.2f}\n", encoding="utf-8"
    )
    logging.info("[%s-%s] %s", test_set, key, kaldi_wer_line(st))
    return st


def real_time_factor(decode_seconds: float, audio_seconds: float) -> float:
    """Decoding time divided by audio duration (below 1 = faster than real time)."""
    if audio_seconds <= 0:
        raise ValueError(f"real_time_factor: audio_seconds must be > 0, got {audio_seconds}")
    return decode_seconds / audio_seconds
