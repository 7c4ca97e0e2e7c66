"""Time of ``intersect_dense_pruned`` (CTC decoding with the topology H) and ``ctc_loss``
(forward + backward) at LibriSpeech-like shapes, built-in backend vs real k2, same inputs.

Inputs: ``--num-utts`` utterances of ``--frames`` frames over ``--vocab`` classes. The
log-probs imitate a trained CTC model (peaky: blank wins most frames, a transcript token
the others, with random logits underneath); ``--flat`` uses plain random log-probs instead,
which keeps far more states active (a worst case). Decoding: H = ``ctc_topo(vocab - 1)``,
``search_beam 20, output_beam 8, min_active 30, max_active 10000`` (icefall's ctc-decoding
settings). Loss: ``ctc_graph`` of the transcripts, ``output_beam 10``, sum reduction.

Each backend's results are checked against the other's (lattice arcs, loss, gradient).

Usage::

    .venv-k2/bin/python bench/ctc.py                       # 16 x 500 x 500, both backends
    .venv-k2/bin/python bench/ctc.py --num-utts 4 --frames 200
    .venv-k2/bin/python bench/ctc.py --num-utts 4 --frames 200 --interleave --repeats 3
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from timing import best_seconds, time_interleaved

from icefall_lite.k2 import builtin


def make_inputs(num_utts: int, frames: int, vocab: int, tokens: int, flat: bool, seed: int):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(num_utts, frames, vocab, generator=g)
    transcripts = torch.randint(1, vocab, (num_utts, tokens), generator=g)
    if not flat:
        pos = torch.sort(torch.randperm(frames, generator=g)[:tokens])[0]
        logits[:, :, 0] += 8.0
        for i in range(num_utts):
            logits[i, pos, transcripts[i]] += 12.0
    lp = logits.log_softmax(-1)
    segs = torch.tensor([[i, 0, frames] for i in range(num_utts)], dtype=torch.int32)
    return lp, segs, transcripts.tolist()


def jobs(k2, lp, segs, transcripts, vocab: int) -> tuple[dict, Callable, Callable]:
    """(results dict, decode callable, loss callable) of one backend; each call stores its
    results in the dict."""
    H = k2.ctc_topo(vocab - 1)
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


def run_all(backends: list, inputs: tuple, vocab: int, repeats: int, interleave: bool
            ) -> dict:
    """Per backend: results and times ``t_decode``/``t_loss`` (best wall time of
    ``repeats``, or with ``interleave`` medians after a warm-up, backends taking turns, plus
    CPU times ``c_decode``/``c_loss``)."""
    made = {name: jobs(k2, *inputs, vocab) for name, k2 in backends}
    for key, i in (("decode", 1), ("loss", 2)):
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
    p.add_argument("--only", choices=["builtin", "k2"],
                   help="run one backend (e.g. to read its peak memory from /usr/bin/time -v)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    lp, segs, transcripts = make_inputs(args.num_utts, args.frames, args.vocab, args.tokens,
                                        args.flat, seed=0)
    backends = [] if args.only == "k2" else [("builtin", builtin)]
    if args.only != "builtin":
        try:
            import k2 as real_k2  # noqa: PLC0415

            backends.append(("k2", real_k2))
        except ImportError:
            pass
    res = run_all(backends, (lp, segs, transcripts), args.vocab, args.repeats, args.interleave)
    print(f"{args.num_utts} utts x {args.frames} frames x {args.vocab} classes, "
          f"{'flat' if args.flat else 'peaky'} log-probs, {args.threads} thread(s)")
    print("| operation | " + " | ".join(f"{n} (s)" for n, _ in backends) + " | built-in / k2 |")
    print("|---|" + "---|" * (len(backends) + 1))
    for key, label in (("t_decode", "intersect_dense_pruned (H)"),
                       ("t_loss", "ctc_loss forward + backward")):
        times = [res[n][key] for n, _ in backends]
        ratio = f"{times[0] / times[1]:.2f}" if len(times) > 1 else "-"
        print(f"| {label} | " + " | ".join(f"{t:.3f}" for t in times) + f" | {ratio} |")
        if args.interleave and len(times) > 1:
            cpu = [res[n]["c" + key[1:]] for n, _ in backends]
            print(f"| {label}, CPU | " + " | ".join(f"{t:.3f}" for t in cpu) +
                  f" | {cpu[0] / cpu[1]:.2f} |")
    if "k2" in res and "builtin" in res:
        a, b = res["builtin"], res["k2"]
        same = a["lattice"].num_arcs == b["lattice"].num_arcs and torch.equal(
            a["lattice"].arcs.values()[:, :3].long(), b["lattice"].arcs.values()[:, :3].long())
        print(f"lattice arcs: {a['lattice'].num_arcs} (identical to k2: {same}); loss "
              f"{a['loss'].item():.4f} vs {b['loss'].item():.4f}; max gradient difference "
              f"{(a['grad'] - b['grad']).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
