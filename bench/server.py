"""Streaming server benchmark: throughput, RTF, partial / final latency percentiles, CPU use and
WER of the served transcripts at rising concurrency, beside sherpa-onnx's own engine on the
same load.

The server (``python -m icefall_lite.server``, a subprocess on a free localhost port) serves the
AN4 causal model; real websocket clients (:mod:`icefall_lite.server.client`) replay AN4 test
utterances paced in real time in chunks of ``--chunk-ms``, ``c`` connections at once for each
``c`` of ``--concurrency``. Each level sends ``min(all, max(10, rounds * c))`` utterances, so the
run is bounded (about ``rounds`` utterance durations per level at most levels).

- throughput: audio seconds served per wall second of the level;
- RTF: the server process's CPU seconds per audio second;
- CPU: the server process's CPU seconds per wall second (cores busy, of 2 here);
- partial latency: chunk sent -> the partial result decoded from it received;
- final latency: last sample (end message) sent -> final result received.

Every utterance is followed by ``--tail-silence`` seconds of zeros, sent at once after its paced
audio, for both engines: sherpa-onnx decodes whole chunks only and cannot pad its features, so
the server is started with ``--tail-pad-frames 0`` and both engines see the same signal.

With ``--sherpa-encoder/--sherpa-decoder/--sherpa-joiner/--sherpa-tokens`` (export.py's
sherpa-onnx-compatible streaming files) the same utterances, pacing and concurrency go through
``sherpa_onnx.OnlineRecognizer`` in this process: streams are fed chunk by chunk on the same
clock and every ready stream is decoded in one ``decode_streams`` batch; latencies are measured
from when a chunk (or the end) became available to when the result changed (or was final).
The icefall_lite server then also serves those files (``--encoder/--decoder/--joiner``), and
their ``*.int8.onnx`` copies when present, so there is one table per model kind (eager fp32,
ONNX fp32, ONNX int8) and method.

Example (from the repository root, after AN4's run.sh)::

    .venv/bin/python bench/server.py --recipe-dir egs/an4/ASR --epoch 8 --avg 3 \\
        --sherpa-encoder EXP/encoder-epoch-8-avg-3-chunk-16-left-128.onnx \\
        --sherpa-decoder EXP/decoder-epoch-8-avg-3-chunk-16-left-128.onnx \\
        --sherpa-joiner EXP/joiner-epoch-8-avg-3-chunk-16-left-128.onnx \\
        --sherpa-tokens EXP/tokens.txt
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from icefall_lite.server.client import (
    Transcript,
    Utterance,
    load_manifest,
    transcribe_many,
    word_error_rate,
)

PERCENTILES = (50, 90, 95, 99)


@dataclass
class Level:
    """One concurrency level's measurements."""

    concurrency: int
    utterances: int
    audio: float
    wall: float
    cpu: float | None
    partial: list[float]
    final: list[float]
    wer: float
    errors: int

    def row(self) -> str:
        def pct(values: list[float]) -> str:
            if not values:
                return "- / - / - / -"
            return " / ".join(f"{1000 * np.percentile(values, p):.0f}" for p in PERCENTILES)

        cpu = "-" if self.cpu is None else f"{self.cpu / self.wall:.2f}"
        rtf = "-" if self.cpu is None else f"{self.cpu / self.audio:.3f}"
        return (f"| {self.concurrency} | {self.utterances} | {self.audio / self.wall:.2f} | {rtf} "
                f"| {pct(self.partial)} | {pct(self.final)} | {cpu} | {self.wer:.2f} "
                f"| {self.errors} |")


HEADER = ("| concurrency | utts | throughput (audio s / s) | RTF (CPU s / audio s) | partial "
          "latency p50/p90/p95/p99 (ms) | final latency p50/p90/p95/p99 (ms) | CPU (cores) "
          "| WER % | failed |\n|---|---|---|---|---|---|---|---|---|")


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def model_kinds(args: argparse.Namespace) -> list[tuple[str, list[str], list[Path]]]:
    """(name, server model options, sherpa-onnx files) of each model kind served: the eager
    model (checkpoints averaged; no sherpa-onnx files), and with ``--sherpa-*`` the streaming
    ONNX files themselves (fp32) and their ``*.int8.onnx`` copies when export.py wrote them."""
    eager = [] if args.checkpoint is None else ["--checkpoint", str(args.checkpoint)]
    kinds: list[tuple[str, list[str], list[Path]]] = [("eager fp32", eager, [])]
    files = [args.sherpa_encoder, args.sherpa_decoder, args.sherpa_joiner]
    if not all(files) or args.sherpa_tokens is None:
        return kinds
    int8 = [f.with_suffix(".int8.onnx") for f in files]
    for name, group in (("onnx fp32", files), ("onnx int8", int8)):
        if all(f.is_file() for f in group):
            options = [a for part, f in zip(("encoder", "decoder", "joiner"), group)
                       for a in (f"--{part}", str(f))]
            kinds.append((name, options, group))
    return kinds


def start_server(argv: list[str], log_path: Path) -> tuple[subprocess.Popen, str]:
    """Start the server (free port); returns the process and its ws:// URI."""
    log = open(log_path, "w")  # noqa: SIM115 - the server process keeps writing to it
    proc = subprocess.Popen([sys.executable, "-m", "icefall_lite.server", "--port", "0", *argv],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("LISTENING"):
            _, host, port = line.split()
            return proc, f"ws://{host}:{port}"
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"the server did not start; see {log_path}")


def level_utts(utts: list[Utterance], concurrency: int, rounds: int) -> list[Utterance]:
    return utts[: min(len(utts), max(10, rounds * concurrency))]


def score(utts: list[Utterance], texts: list[str]) -> float:
    return word_error_rate([(u.ref or [], t.split()) for u, t in zip(utts, texts)])[0]


def run_server_level(uri: str, pid: int, utts: list[Utterance], concurrency: int,
                     method: str, chunk_ms: float, tail_silence: float) -> Level:
    cpu0, t0 = process_cpu_seconds(pid), time.perf_counter()
    results: list[Transcript] = asyncio.run(transcribe_many(
        uri, utts, concurrency, chunk_ms=chunk_ms, realtime=True, method=method,
        timeout=600, tail_silence=tail_silence))
    wall, cpu = time.perf_counter() - t0, process_cpu_seconds(pid) - cpu0
    return Level(concurrency, len(utts), sum(u.duration for u in utts), wall, cpu,
                 [x for r in results for x in r.partial_latencies],
                 [r.final_latency for r in results if r.final_latency is not None],
                 score(utts, [r.text for r in results]),
                 sum(r.error is not None for r in results))


def run_sherpa_level(recognizer, utts: list[Utterance], concurrency: int,
                     chunk_ms: float, tail_silence: float) -> Level:
    """The same paced load through sherpa-onnx's engine: up to ``concurrency`` streams, each fed
    its chunks on the real-time clock and then ``tail_silence`` seconds of zeros at once (as
    the server's clients send them); all ready streams decoded together."""
    queue = list(range(len(utts)))
    active: dict[int, dict] = {}
    texts = [""] * len(utts)
    partial, final = [], []
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    while queue or active:
        now = time.perf_counter()
        while queue and len(active) < concurrency:
            i = queue.pop(0)
            active[i] = {"stream": recognizer.create_stream(), "start": now, "fed": 0,
                         "avail": now, "text": "", "ended": None}
        for i, a in active.items():
            u, step = utts[i], round(utts[i].sample_rate * chunk_ms / 1000)
            while a["ended"] is None and a["start"] + (a["fed"] + step) / u.sample_rate <= now:
                piece = u.samples[a["fed"] : a["fed"] + step]
                a["stream"].accept_waveform(u.sample_rate, piece)
                a["avail"] = a["start"] + (a["fed"] + len(piece)) / u.sample_rate
                a["fed"] += len(piece)
                if a["fed"] >= len(u.samples):
                    tail = np.zeros(round(tail_silence * u.sample_rate), np.float32)
                    a["stream"].accept_waveform(u.sample_rate, tail)
                    a["stream"].input_finished()
                    a["ended"] = a["avail"]
        ready = [a["stream"] for a in active.values() if recognizer.is_ready(a["stream"])]
        if ready:
            recognizer.decode_streams(ready)
        else:
            time.sleep(0.002)
        now = time.perf_counter()
        for i in list(active):
            a = active[i]
            text = recognizer.get_result(a["stream"]).strip()
            if text != a["text"]:
                a["text"] = text
                partial.append(now - a["avail"])
            if a["ended"] is not None and not recognizer.is_ready(a["stream"]):
                final.append(now - a["ended"])
                texts[i] = text
                del active[i]
    wall = time.perf_counter() - t0
    return Level(concurrency, len(utts), sum(u.duration for u in utts), wall,
                 time.process_time() - cpu0, partial, final, score(utts, texts), 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--recipe-dir", type=Path, default=Path("egs/an4/ASR"),
                        help="checkpoints from its zipformer/exp (they describe their model)")
    parser.add_argument("--manifest", type=Path, default=None,
                        help="test cuts (default: RECIPE/data/fbank/an4_cuts_test.jsonl.gz)")
    parser.add_argument("--lang-dir", type=Path, default=None,
                        help="default: RECIPE/data/lang_bpe_101")
    parser.add_argument("--server-args", default="",
                        help="more server options (every model kind), e.g. --max-wait-ms 20")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="the eager model's pretrained.pt (default: average the recipe's "
                             "checkpoints as --epoch/--avg say)")
    parser.add_argument("--exp-dir", default="zipformer/exp",
                        help="the run's exp dir, relative to --recipe-dir")
    parser.add_argument("--epoch", type=int, default=8)
    parser.add_argument("--avg", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=16)
    parser.add_argument("--left-context-frames", type=int, default=128)
    parser.add_argument("--blank-penalty", type=float, default=1.0, help="AN4's preset")
    parser.add_argument("--methods", default="greedy_search,modified_beam_search,"
                                             "fast_beam_search,fast_beam_search_LG",
                        help="the server's methods ('' : sherpa-onnx only)")
    parser.add_argument("--concurrency", default="1,10,50,100")
    parser.add_argument("--rounds", type=int, default=2,
                        help="utterances per level: max(10, rounds * concurrency), at most all")
    parser.add_argument("--chunk-ms", type=float, default=100.0)
    parser.add_argument("--max-batch-size", type=int, default=100)
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--num-threads", type=int, default=1,
                        help="the server's model threads per worker")
    parser.add_argument("--num-workers", type=int, default=2,
                        help="the server's worker threads (2 for an idle 2-core machine; 1 when "
                             "one core is free)")
    parser.add_argument("--sherpa-num-threads", type=int, default=None,
                        help="sherpa-onnx's threads (default: workers * threads, the same cores)")
    parser.add_argument("--tail-silence", type=float, default=0.5,
                        help="seconds of zeros after each utterance, sent to both engines (the "
                             "server then adds no padding of its own: --tail-pad-frames 0); "
                             "0: the server pads its features, sherpa-onnx gets nothing")
    for part in ("encoder", "decoder", "joiner"):
        parser.add_argument(f"--sherpa-{part}", type=Path, default=None,
                            help=f"streaming {part} file (export.py --onnx 1), served by both "
                                 "engines; its *.int8.onnx copy too when present")
    parser.add_argument("--sherpa-tokens", type=Path, default=None,
                        help="export.py's tokens.txt (sherpa-onnx's token table)")
    args = parser.parse_args()
    recipe = args.recipe_dir.resolve()
    utts = load_manifest(args.manifest or recipe / "data" / "fbank" / "an4_cuts_test.jsonl.gz")
    lang_dir = args.lang_dir or recipe / "data" / "lang_bpe_101"
    levels = [int(c) for c in args.concurrency.split(",")]
    server_argv = [
        "--exp-dir", str(recipe / args.exp_dir), "--epoch", str(args.epoch),
        "--avg", str(args.avg), "--lang-dir", str(lang_dir),
        "--chunk-size", str(args.chunk_size),
        "--left-context-frames", str(args.left_context_frames),
        "--blank-penalty", str(args.blank_penalty), "--max-batch-size", str(args.max_batch_size),
        "--max-wait-ms", str(args.max_wait_ms), "--num-threads", str(args.num_threads),
        "--num-workers", str(args.num_workers),
        *(["--tail-pad-frames", "0"] if args.tail_silence > 0 else []),
        "--max-connections", str(max(levels) + 10), "--endpoint", "0",
        *args.server_args.split()]
    sherpa_threads = args.sherpa_num_threads or args.num_workers * args.num_threads
    print(f"load average at start: {os.getloadavg()}; {len(utts)} test utterances; "
          f"chunks of {args.chunk_ms:g} ms paced in real time, then {args.tail_silence:g} s of "
          f"silence; server: {args.num_workers} workers x {args.num_threads} threads; "
          f"sherpa-onnx: {sherpa_threads} threads")
    methods = [m for m in args.methods.split(",") if m]
    kinds = model_kinds(args)
    for kind, model_options, _ in kinds if methods else []:
        proc, uri = start_server([*server_argv, *model_options], Path("bench_server.log"))
        try:
            for method in methods:
                print(f"\n### icefall_lite server, {kind} model, {method}\n\n{HEADER}")
                for c in levels:
                    print(run_server_level(uri, proc.pid, level_utts(utts, c, args.rounds), c,
                                           method, args.chunk_ms, args.tail_silence).row(),
                          flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    for kind, _, (encoder, decoder, joiner) in [k for k in kinds if k[2]]:
        import sherpa_onnx

        for method in ("greedy_search", "modified_beam_search"):
            recognizer = sherpa_onnx.OnlineRecognizer.from_transducer(
                tokens=str(args.sherpa_tokens), encoder=str(encoder), decoder=str(decoder),
                joiner=str(joiner), num_threads=sherpa_threads, sample_rate=16000,
                feature_dim=80, decoding_method=method, blank_penalty=args.blank_penalty)
            print(f"\n### sherpa-onnx OnlineRecognizer, {kind} model ({encoder.name}), "
                  f"{method}\n\n{HEADER}")
            for c in levels:
                print(run_sherpa_level(recognizer, level_utts(utts, c, args.rounds), c,
                                       args.chunk_ms, args.tail_silence).row(), flush=True)
    if len(kinds) == 1:
        print("\n(ONNX models and the sherpa-onnx comparison not run: pass --sherpa-encoder/"
              "--sherpa-decoder/--sherpa-joiner/--sherpa-tokens)")


if __name__ == "__main__":
    main()
