"""Helpers of the lang tests.

Independent oracles (no icefall_lite code): an ARPA reader with back-off scoring and a
brute-force enumerator of the paths of a k2 ``as_dict`` FSA. Builders of toy lang directories
with the ``lang/`` command-line tools.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
from functools import cache
from pathlib import Path

import torch

LN10 = math.log(10.0)


def read_arpa(path: str | Path, max_order: int = 99
              ) -> tuple[int, dict[tuple[str, ...], tuple[float, float]]]:
    """Parse an ARPA file up to ``max_order``: (order, {ngram: (log10 prob, log10 backoff)})."""
    entries: dict[tuple[str, ...], tuple[float, float]] = {}
    order = 0
    section = 0
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("ngram ") or line == "\\data\\":
            continue
        if line == "\\end\\":
            break
        if line.endswith("-grams:"):
            section = int(line[1:].split("-")[0])
            if section > max_order:
                break
            order = max(order, section)
            continue
        fields = line.split()
        ngram = tuple(fields[1 : 1 + section])
        backoff = float(fields[1 + section]) if len(fields) > 1 + section else 0.0
        entries[ngram] = (float(fields[0]), backoff)
    return order, entries


def arpa_log10_prob(entries, ngram: tuple[str, ...]) -> float:
    """The standard back-off log10 P(ngram[-1] | ngram[:-1])."""
    if ngram in entries:
        return entries[ngram][0]
    if len(ngram) == 1:
        raise KeyError(ngram)
    backoff = entries.get(ngram[:-1], (0.0, 0.0))[1]
    return backoff + arpa_log10_prob(entries, ngram[1:])


def best_sentence_log10_prob(order: int, entries, words: tuple[str, ...]) -> float:
    """Best score of ``<s> words </s>`` over every path of the back-off graph G: at history h
    either read the word on an n-gram arc (when h+w is an n-gram) or back off to h[1:] paying
    h's backoff weight. This is what a tropical-semiring G computes."""
    sentence = (*words, "</s>")

    @cache
    def best(history: tuple[str, ...], i: int) -> float:
        if i == len(sentence):
            return 0.0
        options = []
        ngram = (*history, sentence[i])
        if ngram in entries:
            options.append(entries[ngram][0] + best(ngram[-(order - 1):] if order > 1 else (),
                                                    i + 1))
        if history:
            options.append(entries.get(history, (0.0, 0.0))[1] + best(history[1:], i))
        return max(options, default=-math.inf)

    return best(("<s>",) if order > 1 else (), 0)


def enumerate_fsa_paths(fsa_dict: dict, max_tokens: int, allow_epsilon: bool = False
                        ) -> dict[tuple, float]:
    """All successful paths of a k2 ``as_dict`` FSA with at most ``max_tokens`` non-epsilon
    labels (epsilon arcs only with ``allow_epsilon``; the FSA must have no epsilon cycle).
    Returns {(non-zero labels, non-zero aux labels): best total score}."""
    arcs = fsa_dict["arcs"]
    scores = arcs[:, 3].contiguous().view(torch.float32).tolist()
    src, dst, labels = arcs[:, 0].tolist(), arcs[:, 1].tolist(), arcs[:, 2].tolist()
    aux = fsa_dict["aux_labels"].tolist()
    leaving: dict[int, list[int]] = {}
    for i, s in enumerate(src):
        leaving.setdefault(s, []).append(i)
    result: dict[tuple, float] = {}
    stack = [(0, (), (), 0.0)]
    while stack:
        state, tokens, words, score = stack.pop()
        for i in leaving.get(state, []):
            total = score + scores[i]
            if labels[i] == -1:
                key = (tokens, words)
                result[key] = max(result.get(key, -math.inf), total)
            elif labels[i] == 0:
                assert allow_epsilon, "epsilon arc in an FSA that must be epsilon-free"
                new_words = (*words, aux[i]) if aux[i] != 0 else words
                stack.append((dst[i], tokens, new_words, total))
            elif len(tokens) < max_tokens:
                new_words = (*words, aux[i]) if aux[i] != 0 else words
                stack.append((dst[i], (*tokens, labels[i]), new_words, total))
    return result


def expected_lg_paths(lexicon: dict[str, list[list[str]]], token_ids: dict[str, int],
                      word_ids: dict[str, int], arpa: str | Path | None, max_tokens: int,
                      sil: tuple[str, float] | None = None, max_order: int = 99
                      ) -> dict[tuple, float]:
    """What LG must accept: every word sequence G allows, spelled by every pronunciation (and,
    with ``sil = (token, prob)``, an optional silence before and after each word), up to
    ``max_tokens`` tokens, scored ln P_LM (+ ln of the silence choices). Without ``arpa``:
    every word sequence, LM score 0 (what L alone accepts)."""
    order, entries = read_arpa(arpa, max_order) if arpa else (0, {})
    vocab = [w for w in lexicon if (w,) in entries or not arpa]
    shortest = min(len(p) for prons in lexicon.values() for p in prons)
    expected: dict[tuple, float] = {}
    for n in range(0, max_tokens // shortest + 1):
        for words in itertools.product(vocab, repeat=n):
            lm = best_sentence_log10_prob(order, entries, words) * LN10 if arpa else 0.0
            for prons in itertools.product(*(lexicon[w] for w in words)):
                for sil_choice in (itertools.product((0, 1), repeat=n + 1) if sil else [()]):
                    tokens: list[str] = []
                    score = lm
                    if sil:
                        score += sum(math.log(sil[1] if c else 1 - sil[1]) for c in sil_choice)
                        tokens += [sil[0]] * sil_choice[0]
                    for j, pron in enumerate(prons):
                        tokens += pron
                        if sil:
                            tokens += [sil[0]] * sil_choice[j + 1]
                    if len(tokens) > max_tokens:
                        continue
                    key = (tuple(token_ids[t] for t in tokens), tuple(word_ids[w] for w in words))
                    expected[key] = max(expected.get(key, -math.inf), score)
    return expected


def read_table(path: str | Path) -> dict[str, int]:
    """``symbol id`` lines into a dict (independent of icefall_lite's SymbolTable)."""
    table = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            sym, idx = line.split()
            table[sym] = int(idx)
    return table


REPO = Path(__file__).resolve().parents[2]

TOY_DICT = """A  AH
A(2)  EY
AB  AH B
B  B IY
BE  B IY
"""
TOY_PHONE_TRANSCRIPT = "A AB B\nB A\nBE A AB\nC A\n\nA B A\n"
TOY_BPE_TRANSCRIPT = "A AB\nAB B A\nBA A\nB AB A\nA A B\nBA B\n"


def load_cli(name: str):
    """Import ``lang/<name>.py`` (the command-line tools are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"lang_cli_{name}", REPO / "lang" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_phone_lang(lang_dir: Path) -> Path:
    """A phone lang dir (with an out-of-dictionary word C) and its 3-gram LG."""
    lang_dir.mkdir(parents=True, exist_ok=True)
    (lang_dir / "toy.dic").write_text(TOY_DICT)
    (lang_dir / "transcript.txt").write_text(TOY_PHONE_TRANSCRIPT)
    load_cli("prepare_lang").main(["--lang-dir", str(lang_dir), "--transcript",
                                   str(lang_dir / "transcript.txt"), "--lexicon",
                                   str(lang_dir / "toy.dic")])
    load_cli("make_ngram").main(["--text", str(lang_dir / "transcript.txt"), "--order", "3",
                                 "--out", str(lang_dir / "lm.arpa"),
                                 "--words", str(lang_dir / "words.txt")])
    load_cli("arpa_to_g").main(["--arpa", str(lang_dir / "lm.arpa"), "--words",
                                str(lang_dir / "words.txt"), "--out",
                                str(lang_dir / "G_3_gram.fst.txt")])
    load_cli("compile_lg").main(["--lang-dir", str(lang_dir)])
    return lang_dir


def build_bpe_lang(lang_dir: Path, sil_piece: bool = False) -> Path:
    """A BPE lang dir from a sentencepiece model trained on a toy transcript, and its LG; with
    ``sil_piece`` the model has a ``<sil>`` piece (one more piece, so the same merges)."""
    lang_dir.mkdir(parents=True, exist_ok=True)
    transcript = lang_dir / "transcript.txt"
    transcript.write_text(TOY_BPE_TRANSCRIPT)
    load_cli("prepare_bpe").main(["--lang-dir", str(lang_dir), "--transcript", str(transcript),
                                  "--vocab-size", "9" if sil_piece else "8",
                                  "--sil-piece", str(int(sil_piece))])
    load_cli("prepare_lang").main(["--lang-dir", str(lang_dir), "--transcript", str(transcript),
                                   "--bpe-model", str(lang_dir / "bpe.model")])
    load_cli("make_ngram").main(["--text", str(transcript), "--order", "3",
                                 "--out", str(lang_dir / "lm.arpa")])
    load_cli("arpa_to_g").main(["--arpa", str(lang_dir / "lm.arpa"), "--words",
                                str(lang_dir / "words.txt"), "--out",
                                str(lang_dir / "G_3_gram.fst.txt"), "--max-order", "2"])
    load_cli("compile_lg").main(["--lang-dir", str(lang_dir), "--g",
                                 str(lang_dir / "G_3_gram.fst.txt")])
    return lang_dir


def decode_token_sequences(k2, lg_dict: dict, token_seqs: list[tuple[int, ...]]) -> list[tuple]:
    """With the k2 namespace ``k2`` (real or built-in): load LG from its dict, intersect it with
    each token sequence and return (best score, word ids) of the best path for each."""
    LG = k2.Fsa.from_dict({k: v.clone() for k, v in lg_dict.items()})
    results = []
    for tokens in token_seqs:
        lattice = k2.intersect(LG, k2.linear_fsa(list(tokens)), treat_epsilons_specially=False)
        lattice = k2.create_fsa_vec([k2.top_sort(k2.connect(lattice))])
        path = k2.shortest_path(lattice, use_double_scores=True)
        score = float(path.get_tot_scores(use_double_scores=True, log_semiring=False))
        words = tuple(int(w) for w in path.aux_labels.tolist() if w > 0)
        results.append((score, words))
    return results


def fixture_best_paths(max_tokens: int) -> dict[tuple[int, ...], tuple[float, tuple]]:
    """Brute force over the fixture's lexicon and LM: token sequence -> (best score, words)."""
    lexicon: dict[str, list[list[str]]] = {}
    for line in (FIXTURE_DIR / "lexicon.txt").read_text().splitlines():
        word, *tokens = line.split()
        lexicon.setdefault(word, []).append(tokens)
    expected = expected_lg_paths(lexicon, read_table(FIXTURE_DIR / "tokens.txt"),
                                 read_table(FIXTURE_DIR / "words.txt"), FIXTURE_DIR / "lm.arpa",
                                 max_tokens, sil=("SIL", 0.5))
    best: dict[tuple[int, ...], tuple[float, tuple]] = {}
    for (tokens, words), score in expected.items():
        if tokens and score > best.get(tokens, (-math.inf,))[0]:
            best[tokens] = (score, words)
    return best


FIXTURE_DIR = Path(__file__).resolve().parent / "data" / "toy_phone"
FIXTURE_FILES = ("LG.pt", "lexicon.txt", "tokens.txt", "words.txt", "lm.arpa")


def write_fixture(tmp_dir: Path) -> None:
    """Rebuild ``data/toy_phone`` (read by the k2-environment tests, which lack kaldifst)."""
    import shutil

    lang_dir = build_phone_lang(tmp_dir / "toy_phone")
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    for name in FIXTURE_FILES:
        shutil.copyfile(lang_dir / name, FIXTURE_DIR / name)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write_fixture(Path(tmp))
    print(f"wrote {FIXTURE_DIR}")
