"""Time of ``intersect_dense_pruned`` (CTC decoding with the topology H) and ``ctc_loss``
(forward + backward) at LibriSpeech-like shapes, built-in backend vs real k2, same inputs.

Inputs: ``--num-utts`` utterances of ``--frames`` frames over ``--vocab`` classes. The
log-probs imitate a trained CTC model (peaky: blank wins most frames, a transcript token
the others, with random logits underneath); ``--flat`` uses plain random log-probs instead,
which keeps far more states active (a worst case). Decoding: H = ``ctc_topo(vocab - 1)``,
``search_beam 20, output_beam 8, min_active 30, max_active 10000`` (icefall's ctc-decoding
settings). Loss: ``ctc_graph`` of the transcripts, ``output_beam 10``, sum reduction.

``--lang-dir DIR`` decodes with ``DIR/HLG.pt`` instead of H (e.g. AN4's
``egs/an4/ASR/data/lang_bpe_101``, prepare.sh stage 9; ~464k arcs): the classes are then
``DIR/tokens.txt``'s tokens and each transcript is random words of ``DIR/lexicon.txt``
spelled out in tokens, so that the HLG has paths near the peaks.

Each backend's results are checked against the other's (lattice arcs, loss, gradient).

Usage::

    .venv-k2/bin/python bench/ctc.py                       # 16 x 500 x 500, both backends
    .venv-k2/bin/python bench/ctc.py --num-utts 4 --frames 200
    .venv-k2/bin/python bench/ctc.py --num-utts 4 --frames 200 --interleave --repeats 3
    .venv-k2/bin/python bench/ctc.py --interleave --lang-dir egs/an4/ASR/data/lang_bpe_101
    .venv-k2/bin/python bench/ctc.py --ops loss --interleave --repeats 21   # ctc_loss only
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from pathlib import Path

import torch
from timing import best_seconds, time_interleaved

from icefall_lite.fsa.fsa import load_fsa_dict
from icefall_lite.k2 import builtin
from icefall_lite.lang.lexicon import read_lexicon
from icefall_lite.lang.symbol_table import SymbolTable, max_token_id


def make_inputs(num_utts: int, frames: int, vocab: int, tokens: int, flat: bool, seed: int,
                words: list[list[int]] | None = None):
    """(log-probs ``[num_utts, frames, vocab]``, supervision segments, transcripts). With
    ``words`` (token ids of each word), every transcript is random words spelled out, cut at
    ``tokens`` tokens."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(num_utts, frames, vocab, generator=g)
    if words is None:
        transcripts = torch.randint(1, vocab, (num_utts, tokens), generator=g)
    else:
        rng = random.Random(seed)
        rows = []
        for _ in range(num_utts):
            row: list[int] = []
            while len(row) < tokens:
                row += rng.choice(words)
            rows.append(row[:tokens])
        transcripts = torch.tensor(rows)
    if not flat:
        pos = torch.sort(torch.randperm(frames, generator=g)[:tokens])[0]
        logits[:, :, 0] += 8.0
        for i in range(num_utts):
            logits[i, pos, transcripts[i]] += 12.0
    lp = logits.log_softmax(-1)
    segs = torch.tensor([[i, 0, frames] for i in range(num_utts)], dtype=torch.int32)
    return lp, segs, transcripts.tolist()


def lang_inputs(lang_dir: Path) -> tuple[dict, int, list[list[int]]]:
    """(the HLG's Fsa dict, the number of classes, each lexicon word's token ids)."""
    tokens = SymbolTable.from_file(lang_dir / "tokens.txt")
    words = [[tokens[t] for t in toks] for w, toks in read_lexicon(lang_dir / "lexicon.txt")
             if not w.startswith("<")]
    hlg = load_fsa_dict(lang_dir / "HLG.pt")
    return ({k: v for k, v in hlg.items() if k in ("arcs", "aux_labels")},
            1 + max_token_id(tokens), words)


def jobs(k2, lp, segs, transcripts, vocab: int, hlg: dict | None = None
         ) -> tuple[dict, Callable, Callable]:
    """(results dict, decode callable, loss callable) of one backend; each call stores its
    results in the dict. The decoding graph is H, or the HLG given as an Fsa dict."""
    H = k2.ctc_topo(vocab - 1) if hlg is None else k2.arc_sort(k2.Fsa.from_dict(dict(hlg)))
    graphs = k2.ctc_graph(transcripts)
    out: dict = {}

    def decode():
        out["lattice"] = k2.intersect_dense_pruned(H, k2.DenseFsaVec(lp, segs), 20.0, 8.0, 30,
                                                   10000)

    def loss():
        x = lp.clone().requires_grad_()
        value = k2.ctc_loss(graphs, k2.DenseFsaVec(x, segs), output_beam=10)
        value.backward()
        out["loss"], out["grad"] = value.detach(), x.grad

    return out, decode, loss


def run_all(backends: list, inputs: tuple, vocab: int, repeats: int, interleave: bool,
            hlg: dict | None = None, ops: tuple[str, ...] = ("decode", "loss")) -> dict:
    """Per backend: results and times ``t_decode``/``t_loss`` of the ``ops`` asked for (best
    wall time of ``repeats``, or with ``interleave`` medians after a warm-up, backends taking
    turns, plus CPU times ``c_decode``/``c_loss``)."""
    made = {name: jobs(k2, *inputs, vocab, hlg) for name, k2 in backends}
    for key, i in (("decode", 1), ("loss", 2)):
        if key not in ops:
            continue
        if interleave:
            times = time_interleaved({name: m[i] for name, m in made.items()}, repeats)
            for name, (wall, cpu) in times.items():
                made[name][0]["t_" + key], made[name][0]["c_" + key] = wall, cpu
        else:
            for m in made.values():
                m[0]["t_" + key] = best_seconds(m[i], repeats)
    return {name: m[0] for name, m in made.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num-utts", type=int, default=16)
    p.add_argument("--frames", type=int, default=500)
    p.add_argument("--vocab", type=int, default=500)
    p.add_argument("--tokens", type=int, default=100, help="transcript length")
    p.add_argument("--flat", action="store_true", help="random (not peaky) log-probs")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--interleave", action="store_true",
                   help="backends take turns (medians after a warm-up, wall and CPU): steadier "
                        "ratios on a loaded machine")
    p.add_argument("--lang-dir", type=Path,
                   help="decode with this lang dir's HLG.pt (its tokens set --vocab)")
    p.add_argument("--ops", default="decode,loss",
                   help="comma-separated: decode (intersect_dense_pruned), loss (ctc_loss)")
    p.add_argument("--only", choices=["builtin", "k2"],
                   help="run one backend (e.g. to read its peak memory from /usr/bin/time -v)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    hlg = words = None
    if args.lang_dir is not None:
        hlg, args.vocab, words = lang_inputs(args.lang_dir)
    lp, segs, transcripts = make_inputs(args.num_utts, args.frames, args.vocab, args.tokens,
                                        args.flat, seed=0, words=words)
    backends = [] if args.only == "k2" else [("builtin", builtin)]
    if args.only != "builtin":
        try:
            import k2 as real_k2  # noqa: PLC0415

            backends.append(("k2", real_k2))
        except ImportError:
            pass
    ops = tuple(args.ops.split(","))
    if not ops or set(ops) - {"decode", "loss"}:
        p.error(f"--ops {args.ops!r}: expected decode and/or loss")
    res = run_all(backends, (lp, segs, transcripts), args.vocab, args.repeats, args.interleave,
                  hlg, ops)
    graph = "H" if hlg is None else f"HLG of {args.lang_dir} ({hlg['arcs'].shape[0]} arcs)"
    print(f"{args.num_utts} utts x {args.frames} frames x {args.vocab} classes, {graph}, "
          f"{'flat' if args.flat else 'peaky'} log-probs, {args.threads} thread(s)")
    print("| operation | " + " | ".join(f"{n} (s)" for n, _ in backends) + " | built-in / k2 |")
    print("|---|" + "---|" * (len(backends) + 1))
    for key, label in (("t_decode", f"intersect_dense_pruned ({'H' if hlg is None else 'HLG'})"),
                       ("t_loss", "ctc_loss forward + backward")):
        if key[2:] not in ops:
            continue
        times = [res[n][key] for n, _ in backends]
        ratio = f"{times[0] / times[1]:.2f}" if len(times) > 1 else "-"
        print(f"| {label} | " + " | ".join(f"{t:.3f}" for t in times) + f" | {ratio} |")
        if args.interleave and len(times) > 1:
            cpu = [res[n]["c" + key[1:]] for n, _ in backends]
            print(f"| {label}, CPU | " + " | ".join(f"{t:.3f}" for t in cpu) +
                  f" | {cpu[0] / cpu[1]:.2f} |")
    if "k2" in res and "builtin" in res:
        a, b = res["builtin"], res["k2"]
        if "decode" in ops:
            same = a["lattice"].num_arcs == b["lattice"].num_arcs and torch.equal(
                a["lattice"].arcs.values()[:, :3].long(),
                b["lattice"].arcs.values()[:, :3].long())
            print(f"lattice arcs: {a['lattice'].num_arcs} (identical to k2: {same})")
        if "loss" in ops:
            print(f"loss {a['loss'].item():.4f} vs {b['loss'].item():.4f}; max gradient "
                  f"difference {(a['grad'] - b['grad']).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
