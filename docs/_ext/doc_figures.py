"""The documentation's figures, computed at build time from real icefall_lite objects.

Each generator returns a :class:`Figure`: Graphviz dot source (rendered by the ``dot`` program)
or finished SVG, plus a ``note`` that the page caption ends with, saying where the data came
from. Nothing here is committed as an image; ``fsa_figures`` writes the files under
``docs/generated/`` on every build.

The lattice figures run the real decoding engine (``RnntDecodingStreams`` behind
``icefall_lite.decoding.fast_beam_search``) on the 80-bin fbank of an AN4 test utterance computed
here. The transducer is the AN4 recipe's trained model when it has been exported to
``egs/an4/ASR/zipformer/exp/jit_script.pt``, else an untrained stand-in (see :func:`setup`):
the docs must build without a trained model. Every caption says which one it used.

Run as a script to print each figure's size and note (a quick check without Sphinx)::

    .venv/bin/python docs/_ext/doc_figures.py
"""

from __future__ import annotations

import contextlib
import functools
import html
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch

ROOT = Path(__file__).resolve().parents[2]
#: Where the AN4 corpus is looked for (the recipes' ``--dl-dir`` layout); override with
#: ``ICEFALL_LITE_DOCS_AN4``.
AN4_CANDIDATES = (
    os.environ.get("ICEFALL_LITE_DOCS_AN4", ""),
    str(ROOT.parent / "shared/download/an4"),
    str(ROOT / "egs/an4/ASR/download/an4"),
)
#: The utterance the lattice figures decode: AN4 test speaker fjlp saying "NO".
AN4_UTTERANCE = "wav/an4test_clstk/fjlp/an416-fjlp-b.sph"
AN4_TRANSCRIPT = "NO"

# The toy lang: words spelled by letters (a BPE-like lexicon without sentencepiece).
TOY_WORDS = ["GO", "NO", "ONE"]
TOY_TOKENS = ["<blk>", "E", "G", "N", "O"]
TOY_SENTENCES = [["NO"], ["GO"], ["NO", "GO"], ["GO", "NO"], ["ONE"]]

# Small search limits keep the drawn lattices readable; the defaults (beam 20, max_contexts 8,
# max_states 64) give the same kind of graph, only wider.
FIGURE_SEARCH = dict(beam=4.0, max_states=6, max_contexts=3)
FIGURE_NUM_PATHS = 8
FRAMES_PER_ENCODER_FRAME = 8
#: Where the AN4 recipe's trained model is looked for (``export.py --jit 1`` writes
#: ``<exp-dir>/jit_script.pt``): ``zipformer/exp`` first, then other ``zipformer/exp*`` dirs.
TRAINED_AN4 = ROOT / "egs/an4/ASR/zipformer/exp"


def trained_model_path() -> Path | None:
    candidates = [TRAINED_AN4, *sorted(TRAINED_AN4.parent.glob(TRAINED_AN4.name + "*"))]
    return next((d / "jit_script.pt" for d in candidates if (d / "jit_script.pt").is_file()),
                None)


@dataclass
class Figure:
    """A generated picture: ``dot`` source or ``svg`` text (exactly one), and a caption note."""

    note: str
    dot: str | None = None
    svg: str | None = None


def k2():
    """The built-in k2 namespace: the docs describe icefall_lite's own implementation."""
    from icefall_lite import k2 as facade

    return facade.builtin


# --------------------------------------------------------------------------- dot helpers


def _merge_dots(parts: list[tuple[str, str]], rankdir: str = "LR") -> str:
    """One dot graph holding each ``(title, to_dot source)`` as a labelled cluster."""
    lines = ["digraph FSAs {", f"  rankdir = {rankdir};", "  newrank = true;"]
    # dot stacks unconnected clusters bottom-up: emit them last-first to read top-down
    for i, (title, source) in reversed(list(enumerate(parts))):
        body = source.strip().splitlines()[1:-1]
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label = \"{title}\"; labeljust = l; color = grey;")
        for line in body:
            line = line.strip()
            if line.startswith(("rankdir", "label =", "labelloc")):
                continue
            line = re.sub(r"^(\d+) ", lambda m, i=i: f"p{i}_{m.group(1)} ", line)
            line = re.sub(r"-> (\d+) ", lambda m, i=i: f"-> p{i}_{m.group(1)} ", line)
            lines.append("    " + line)
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


_EDGE = re.compile(r'^\s*(\w+) -> (\w+) \[label = "(.*)"\];$')
_ARC_LABEL = re.compile(r"^(-?\d+)(?::([^/]*))?/(.*)$")


def _name(symbol: str, table) -> str:
    """A symbol id as a name from ``table``: a list (tokens) or a SymbolTable (words, where 0 is
    ε); other ids (-1, ids outside the table) stay as they are."""
    i = int(symbol)
    if isinstance(table, list):
        return table[i] if 0 <= i < len(table) else symbol
    if i == 0:
        return "ε"
    return table.get(i) if i > 0 else symbol


def _relabel(label: str, words=None, labels_are_words: bool = False,
             tokens: list[str] = TOY_TOKENS, decimals: int = 2) -> str:
    """``label:aux/score`` with token (and word) names and the score to two decimals."""
    match = _ARC_LABEL.match(label)
    if not match:
        return label
    lab, aux, score = match.groups()
    text = _name(lab, words if labels_are_words else tokens)
    if aux is not None:
        text += ":" + (_name(aux, words) if words is not None and not labels_are_words else aux)
    value = round(float(score), decimals)
    return f"{text}/{0.0 if value == 0 else value:g}"


def _draw(fsa, words=None, labels_are_words: bool = False, tokens: list[str] = TOY_TOKENS,
          decimals: int = 2) -> str:
    """``to_dot`` of ``fsa`` with names for ids, and parallel arcs (same source and
    destination, e.g. a state's self-loops) drawn as one edge with one label per line:
    Graphviz stacks separate self-loops onto each other's labels."""
    lines, edges, order = [], {}, []
    for line in k2().to_dot(fsa).splitlines():
        match = _EDGE.match(line)
        if not match:
            lines.append(line)
            continue
        key = (match.group(1), match.group(2))
        if key not in edges:
            edges[key] = []
            order.append(key)
        edges[key].append(_relabel(match.group(3), words, labels_are_words, tokens, decimals))
    closing = lines.pop()  # "}"
    for src, dst in order:
        label = "\\n".join(edges[(src, dst)])
        lines.append(f'  {src} -> {dst} [label = "{label}"];')
    lines.append(closing)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- inputs


def an4_dir() -> Path | None:
    for candidate in AN4_CANDIDATES:
        if candidate and (Path(candidate) / AN4_UTTERANCE).is_file():
            return Path(candidate)
    return None


@functools.cache
def utterance_features() -> tuple[torch.Tensor, str]:
    """80-bin fbank ``[T, 80]`` of the AN4 utterance (computed now), and where it came from.

    Without the corpus, seeded random features stand in, and the note says so.
    """
    root = an4_dir()
    if root is None:
        gen = torch.Generator().manual_seed(0)
        return torch.randn(96, 80, generator=gen), (
            "AN4 was not found at build time, so seeded random features stand in for the fbank."
        )
    import soundfile

    from icefall_lite.data.fbank import make_fbank_extractor

    samples, rate = soundfile.read(str(root / AN4_UTTERANCE), dtype="float32")
    feats = make_fbank_extractor(num_mel_bins=80, sampling_rate=rate).extract(samples, rate)
    return torch.as_tensor(feats), (
        f"Input: the 80-bin fbank of AN4 test utterance an416-fjlp-b (\"{AN4_TRANSCRIPT}\"), "
        "computed at build time."
    )


@dataclass
class Setup:
    """What the lattice figures decode with: a transducer, the encoder output of the figure
    utterance, the token names, an LG with its word table, the reference token ids, and a
    caption sentence that says which model this is."""

    model: object
    encoder_out: torch.Tensor  # [1, T, C]
    encoder_out_lens: torch.Tensor  # [1]
    tokens: list[str]
    LG: object
    words: object
    ref: list[int]
    note: str


def standin_setup(why: str) -> Setup:
    """A stand-in, not a trained model: icefall_lite's own stateless ``Decoder`` and ``Joiner``
    (seeded initialisation, vocabulary = the toy tokens) over an "encoder" that averages every
    8 fbank frames and normalises them; the toy LG."""
    from icefall_lite.models import Decoder, Joiner

    feats, feat_note = utterance_features()
    k = FRAMES_PER_ENCODER_FRAME
    T = feats.shape[0] // k
    enc = feats[: T * k].reshape(T, k, -1).mean(dim=1)
    enc = (enc - enc.mean(dim=0)) / (enc.std(dim=0) + 1e-5)
    torch.manual_seed(0)
    vocab_size, dim = len(TOY_TOKENS), enc.shape[1]
    decoder = Decoder(vocab_size=vocab_size, decoder_dim=32, blank_id=0, context_size=2)
    joiner = Joiner(encoder_dim=dim, decoder_dim=32, joiner_dim=32, vocab_size=vocab_size)
    model = SimpleNamespace(decoder=decoder.eval(), joiner=joiner.eval())
    LG, words = toy_lg()
    note = (
        f"{feat_note} Model: an untrained stand-in (icefall_lite's Decoder and Joiner with seeded "
        f"weights over 8-frame averages of the fbank; {why}), so the tokens carry no meaning; "
        "the graph is what the real fast_beam_search engine makes of them."
    )
    return Setup(model, enc.unsqueeze(0), torch.tensor([T]), TOY_TOKENS, LG, words,
                 [TOY_TOKENS.index(c) for c in AN4_TRANSCRIPT], note)


def trained_setup() -> Setup | None:
    """The AN4 recipe's exported model (``jit_script.pt`` from ``zipformer/export.py``) with
    the recipe's BPE lang dir (tokens, ``bpe.model``, words, ``LG.pt``), or None when absent."""
    model_path = trained_model_path()
    if an4_dir() is None or model_path is None:
        return None
    import sentencepiece

    from icefall_lite.fsa.fsa import load_fsa_dict
    from icefall_lite.lang.symbol_table import SymbolTable

    model = torch.jit.load(str(model_path), map_location="cpu").eval()
    vocab_size = int(model.decoder.vocab_size)
    for lang in sorted((ROOT / "egs/an4/ASR/data").glob("lang_bpe_*")):
        tokens = SymbolTable.from_file(lang / "tokens.txt")
        names = [tokens.get(i) for i in range(vocab_size)] if vocab_size <= len(tokens) else []
        if names and all((lang / f).is_file() for f in ("bpe.model", "words.txt", "LG.pt")) \
                and not any(n.startswith("#") for n in names):
            break
    else:
        raise FileNotFoundError(f"no lang_bpe_* dir with {vocab_size} tokens, bpe.model, "
                                "words.txt and LG.pt under egs/an4/ASR/data")
    feats, feat_note = utterance_features()
    with torch.no_grad():
        enc, enc_lens = model.encoder(feats.unsqueeze(0), torch.tensor([feats.shape[0]]))
    sp = sentencepiece.SentencePieceProcessor(model_file=str(lang / "bpe.model"))
    LG = k2().Fsa.from_dict(load_fsa_dict(lang / "LG.pt"))  # tensors only: no code can run
    note = (f"{feat_note} Model: the AN4 recipe's trained model "
            f"({model_path.relative_to(ROOT)}, vocabulary {vocab_size}; LG from "
            f"{lang.relative_to(ROOT)}).")
    return Setup(model, enc, enc_lens, names, LG, SymbolTable.from_file(lang / "words.txt"),
                 sp.encode(AN4_TRANSCRIPT), note)


@functools.cache
def setup() -> Setup:
    """The trained AN4 model when the recipe has exported one, else the stand-in; a trained
    model that fails to load or decode falls back to the stand-in, and the caption says why."""
    from icefall_lite.decoding import fast_beam_search

    where = f"{TRAINED_AN4.relative_to(ROOT)}*"
    try:
        trained = trained_setup()
        if trained is not None:
            fast_beam_search(trained.model, k2().trivial_graph(len(trained.tokens) - 1),
                             trained.encoder_out, trained.encoder_out_lens, **FIGURE_SEARCH)
            return trained
    except Exception as e:  # noqa: BLE001 - the docs must build; the caption reports it
        return standin_setup(f"the trained model in {where} could not be used: "
                             f"{type(e).__name__}: {e}")
    return standin_setup(f"no trained AN4 model was exported to {where}/jit_script.pt")


@functools.cache
def toy_lg():
    """LG of the toy lexicon and a bigram of ``TOY_SENTENCES`` (built now with icefall_lite.lang:
    Kneser-Ney estimation, ARPA, kaldilm G, kaldifst L∘G), as a built-in ``Fsa``."""
    import kaldifst

    from icefall_lite.lang.fst_convert import fst_to_k2_dict
    from icefall_lite.lang.grammar import arpa_to_g
    from icefall_lite.lang.lexicon import add_disambig_symbols
    from icefall_lite.lang.lg import compile_lg
    from icefall_lite.lang.ngram import estimate_kneser_ney, write_arpa
    from icefall_lite.lang.symbol_table import SymbolTable

    lexicon = [(w, list(w)) for w in TOY_WORDS]
    lexicon_disambig, max_disambig = add_disambig_symbols(lexicon)
    tokens = SymbolTable.from_symbols(
        [*TOY_TOKENS, *(f"#{i}" for i in range(max_disambig + 1))]
    )
    words = SymbolTable.from_symbols(["<eps>", "<unk>", *TOY_WORDS, "#0", "<s>", "</s>"])
    with _quiet(), tempfile.TemporaryDirectory() as tmp:
        # a six-sentence corpus has no count-of-counts, so Kneser-Ney warns and uses fallbacks
        lm = estimate_kneser_ney(TOY_SENTENCES, order=2)
        words.to_file(Path(tmp) / "words.txt")
        write_arpa(lm, Path(tmp) / "lm.arpa")
        g_text = arpa_to_g(Path(tmp) / "lm.arpa", Path(tmp) / "words.txt")
        G = kaldifst.compile(g_text, acceptor=False)
        LG = compile_lg(lexicon_disambig, tokens, words, G)
    fsa = k2().Fsa.from_dict(fst_to_k2_dict(LG))
    return fsa, words


@contextlib.contextmanager
def _quiet():
    """Silence logging and the C++ libraries' stderr (kaldilm's progress lines) for a block."""
    logging.disable(logging.WARNING)
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        logging.disable(logging.NOTSET)


@functools.cache
def lattice(graph_kind: str):
    """The fast_beam_search lattice (built-in Fsa, one utterance) with the trivial graph or the
    setup's LG (its scores scaled by the default ``ngram_lm_scale``), and a caption note."""
    from icefall_lite.decoding import DecodingConfig, fast_beam_search, scale_graph

    run = setup()
    if graph_kind == "trivial":
        graph = k2().trivial_graph(len(run.tokens) - 1)
    else:
        graph = scale_graph(run.LG, DecodingConfig.ngram_lm_scale)
    lat = fast_beam_search(run.model, graph, run.encoder_out, run.encoder_out_lens,
                           **FIGURE_SEARCH)
    limits = ", ".join(f"{k} {v:g}" for k, v in FIGURE_SEARCH.items())
    return lat, f"{run.note} Search limits: {limits}."


# --------------------------------------------------------------------------- generators


def fig_trivial_graph() -> Figure:
    graph = k2().trivial_graph(len(TOY_TOKENS) - 1)
    return Figure(
        note=(f"Built now with k2.trivial_graph({len(TOY_TOKENS) - 1}); arcs read "
              "token:aux_label/score (token names of the toy vocabulary)."),
        dot=_draw(graph),
    )


def fig_toy_lg() -> Figure:
    LG, words = toy_lg()
    sentences = "; ".join(" ".join(s) for s in TOY_SENTENCES)
    return Figure(
        note=(f"Built now with icefall_lite.lang from a letter lexicon of {', '.join(TOY_WORDS)} "
              f"and a Kneser-Ney bigram of the sentences \"{sentences}\": "
              f"{LG.shape[0]} states, {LG.num_arcs} arcs; arcs read token:word/score."),
        dot=_draw(LG, words),
    )


def _lattice_figure(kind: str) -> Figure:
    lat, note = lattice(kind)
    raw = lat[0]
    one = k2().connect(raw)
    dot = _draw(one, setup().words if kind == "LG" else None, tokens=setup().tokens)
    return Figure(
        note=(f"Drawn after k2.connect: {one.shape[0]} states and {one.num_arcs} arcs (the "
              f"lattice as format_output returns it also keeps {raw.num_arcs - one.num_arcs} "
              f"arcs into pruned dead ends). Parallel arcs share one edge. {note}"),
        dot=dot,
    )


def fig_lattice() -> Figure:
    return _lattice_figure("trivial")


def fig_lattice_lg() -> Figure:
    return _lattice_figure("LG")


def _nbest(kind: str):
    from icefall_lite.decoding import Nbest

    lat, note = lattice(kind)
    nbest = Nbest.from_lattice(lat, num_paths=FIGURE_NUM_PATHS, use_double_scores=True,
                               nbest_scale=0.5)
    return lat, nbest, note


def _names(seq: list[int], kind: str) -> str:
    if kind == "LG":
        return " ".join(setup().words.get(w) for w in seq) or "(empty)"
    return " ".join(setup().tokens[t] for t in seq) or "(empty)"


def _linear(seq: list[int]):
    """A sequence as a linear FSA (an empty one has only the final arc)."""
    return k2().linear_fsa(seq) if seq else k2().Fsa.from_str("0 1 -1 0\n1")


def _nbest_paths_figure(kind: str) -> Figure:
    lat, nbest, note = _nbest(kind)
    parts = []
    for i, seq in enumerate(nbest.sequences):
        if kind == "LG":
            source = _draw(_linear(seq), setup().words, labels_are_words=True)
        else:
            source = _draw(_linear(seq), tokens=setup().tokens)
        parts.append((f"path {i}: {_names(seq, kind)}", source))
    what = "word" if kind == "LG" else "token"
    return Figure(
        note=(f"{FIGURE_NUM_PATHS} paths sampled with random_paths from the lattice (scores "
              f"scaled by nbest_scale 0.5) give {len(nbest.sequences)} distinct {what} "
              f"sequences, each a linear FSA. {note}"),
        dot=_merge_dots(parts),
    )


def _intersection_figure(kind: str) -> Figure:
    lat, nbest, note = _nbest(kind)
    paths_lattice = nbest.intersect(lat)
    scores = nbest.tot_scores(paths_lattice, log_semiring=(kind == "LG"))
    best = int(torch.argmax(scores))
    one = paths_lattice[best]
    dot = _draw(one, setup().words if kind == "LG" else None, tokens=setup().tokens)
    semiring = "log-semiring total" if kind == "LG" else "best (tropical) score"
    return Figure(
        note=(f"Path {best} (\"{_names(nbest.sequences[best], kind)}\") with epsilon self-loops "
              f"intersected with the lattice: the {one.num_arcs} arcs of the lattice's "
              f"alignments of that sequence; its {semiring} is {float(scores[best]):.3f}, the "
              f"highest of the {len(nbest.sequences)} paths. {note}"),
        dot=dot,
    )


def fig_nbest_paths() -> Figure:
    return _nbest_paths_figure("trivial")


def fig_nbest_intersection() -> Figure:
    return _intersection_figure("trivial")


def fig_nbest_paths_lg() -> Figure:
    return _nbest_paths_figure("LG")


def fig_nbest_intersection_lg() -> Figure:
    return _intersection_figure("LG")


def fig_levenshtein() -> Figure:
    from icefall_lite.decoding.fast_beam_search import edit_distance

    ref = setup().ref
    graph = k2().levenshtein_graph([ref])[0]
    _, nbest, note = _nbest("trivial")
    distances = ", ".join(
        f"\"{_names(s, 'trivial')}\" {edit_distance(ref, s)}" for s in nbest.sequences
    )
    return Figure(
        note=(f"k2.levenshtein_graph of the reference tokens {ref} (\"{AN4_TRANSCRIPT}\"); ε is "
              f"label 0. Edit distances of the sampled paths to it: {distances}. {note}"),
        dot=_draw(graph, tokens=["ε", *setup().tokens[1:]], decimals=3),
    )


def decode_with(method: str, config=None) -> list[int]:
    """Run the registered decoding method ``method`` on the figure utterance (the stand-in
    model; the trivial graph or the toy LG as the registry asks)."""
    from icefall_lite.decoding import DECODING_METHODS, DecodingConfig, decode, make_decoding_graph

    run = setup()
    graph = make_decoding_graph(method, len(run.tokens), LG=run.LG)
    refs = [run.ref] if DECODING_METHODS[method].needs_ref else None
    return decode(method, run.model, run.encoder_out, run.encoder_out_lens,
                  config or DecodingConfig(), graph=graph, ref_texts=refs)[0]


def method_outputs() -> list[tuple[str, str, str]]:
    """``(method, output kind, output)`` of every registered method, default settings."""
    from icefall_lite.decoding import DECODING_METHODS

    rows = []
    for name, method in DECODING_METHODS.items():
        kind = "LG" if method.output == "words" else "trivial"
        rows.append((name, method.output, _names(decode_with(name), kind)))
    return rows


def fig_search_outputs() -> Figure:
    """The hypotheses of the graph-free searches on the same input, as linear FSAs."""
    parts = []
    for method in ("greedy_search", "beam_search", "modified_beam_search"):
        seq = decode_with(method)
        parts.append((f"{method}: {_names(seq, 'trivial')}",
                      _draw(_linear(seq), tokens=setup().tokens)))
    return Figure(
        note=(f"Outputs of the three graph-free searches run through the decoding registry "
              f"(default settings: beam_size 4), each drawn as a linear FSA. {setup().note}"),
        dot=_merge_dots(parts),
    )


def fig_prune_ranges() -> Figure:
    """The (t, s) grid of a random simple-loss example, shaded by occupation probability,
    with the prune range of every frame outlined."""
    torch.manual_seed(0)
    B, T, S, C, s_range = 1, 16, 7, 6, 3
    ns = k2()
    lm = torch.randn(B, S + 1, C)
    am = torch.randn(B, T, C)
    symbols = torch.randint(1, C, (B, S))
    boundary = torch.tensor([[0, 0, S, T]])
    loss, (px_grad, py_grad) = ns.rnnt_loss_simple(
        lm, am, symbols, 0, boundary=boundary, reduction="sum", return_grad=True
    )
    ranges = ns.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
    # Occupation probability of node (s, t): the posterior mass of the transitions leaving it
    # (blank or symbol), which is what return_grad gives per transition.
    occ = py_grad[0].clone()  # [S+1, T]
    occ[:S] += px_grad[0][:, :T]
    svg = _grid_svg(occ, ranges[0], T, S)
    return Figure(
        note=(f"rnnt_loss_simple on random lm [1, {S + 1}, {C}] and am [1, {T}, {C}] (seed 0; "
              f"loss {float(loss):.3f}), then get_rnnt_prune_ranges(s_range={s_range}), all "
              "computed at build time. Shade: occupation probability of node (t, s) from the "
              "simple loss's gradients; outlined: the s_range positions each frame keeps."),
        svg=svg,
    )


def _grid_svg(occ: torch.Tensor, ranges: torch.Tensor, T: int, S: int) -> str:
    cell, left, top = 34, 60, 20
    width, height = left + cell * T + 20, top + cell * (S + 1) + 50
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>']
    occ = occ.clamp(0, 1)
    for t in range(T):
        for s in range(S + 1):
            x = left + cell * t
            y = top + cell * (S - s)
            shade = int(255 - 200 * float(occ[s, t]))
            out.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" '
                       f'fill="rgb({shade},{shade},255)" stroke="#ccc"/>')
        lo, hi = int(ranges[t, 0]), int(ranges[t, -1])
        y = top + cell * (S - hi)
        out.append(f'<rect x="{left + cell * t + 2}" y="{y + 2}" width="{cell - 4}" '
                   f'height="{cell * (hi - lo + 1) - 4}" fill="none" stroke="#d62728" '
                   f'stroke-width="2.5"/>')
        out.append(f'<text x="{left + cell * t + cell / 2}" y="{top + cell * (S + 1) + 16}" '
                   f'text-anchor="middle">{t}</text>')
    for s in range(S + 1):
        out.append(f'<text x="{left - 8}" y="{top + cell * (S - s) + cell / 2 + 4}" '
                   f'text-anchor="end">{s}</text>')
    out.append(f'<text x="{left + cell * T / 2}" y="{height - 6}" text-anchor="middle">'
               f'{html.escape("frame t")}</text>')
    out.append(f'<text x="14" y="{top + cell * (S + 1) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {top + cell * (S + 1) / 2})">symbol position s</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


#: name -> generator, the names the ``generated-figure`` directive accepts.
FIGURES: dict[str, Callable[[], Figure]] = {
    "trivial_graph": fig_trivial_graph,
    "toy_lg": fig_toy_lg,
    "lattice": fig_lattice,
    "lattice_lg": fig_lattice_lg,
    "nbest_paths": fig_nbest_paths,
    "nbest_intersection": fig_nbest_intersection,
    "nbest_paths_lg": fig_nbest_paths_lg,
    "nbest_intersection_lg": fig_nbest_intersection_lg,
    "levenshtein": fig_levenshtein,
    "search_outputs": fig_search_outputs,
    "prune_ranges": fig_prune_ranges,
}


if __name__ == "__main__":
    import time

    for name, make in FIGURES.items():
        start = time.perf_counter()
        fig = make()
        size = len(fig.dot or fig.svg or "")
        print(f"{name:24s} {time.perf_counter() - start:6.2f} s  {size:7d} chars  {fig.note[:90]}")
    start = time.perf_counter()
    for row in method_outputs():
        print(*row, sep="  ")
    print(f"method_outputs {time.perf_counter() - start:.2f} s")
