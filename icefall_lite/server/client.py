"""``python -m icefall_lite.server.client``: transcribe sound files or a lhotse cut manifest
through the streaming server, many connections at once, paced in real time or as fast as
possible; prints each transcript and, when the manifest has references, the WER (kaldialign).

Example::

    python -m icefall_lite.server.client --server ws://127.0.0.1:6006 \\
        --manifest data/fbank/an4_cuts_test.jsonl.gz --concurrency 10 --realtime 1
    python -m icefall_lite.server.client a.wav b.flac --realtime 0

:func:`transcribe` is the library entry point (the tests and bench/server.py use it); it also
measures latencies: of each partial result (from sending the chunk that completed the audio the
server had decoded to receiving the partial) and of the last final result (from sending the
last sample to receiving it).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import websockets
from websockets.asyncio.client import connect

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Utterance:
    """Audio to send: float32 mono samples in [-1, 1] at ``sample_rate``; ``ref`` words."""

    name: str
    samples: np.ndarray
    sample_rate: int
    ref: list[str] | None = None

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclasses.dataclass
class Transcript:
    """What the server returned for one utterance."""

    name: str
    finals: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    partials: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    partial_latencies: list[float] = dataclasses.field(default_factory=list)
    final_latency: float | None = None
    error: str | None = None  # the server's reason (error message or close reason)
    close_code: int | None = None

    @property
    def text(self) -> str:
        """The finals' texts, joined (one per endpoint-cut segment)."""
        return " ".join(f["text"] for f in self.finals if f["text"])


async def transcribe(uri: str, utt: Utterance, chunk_ms: float = 100.0, realtime: bool = True,
                     method: str | None = None, options: dict[str, Any] | None = None,
                     sample_format: str = "float32", timeout: float = 300.0,
                     disconnect_after: int | None = None, tail_silence: float = 0.0
                     ) -> Transcript:
    """Stream ``utt`` to the server at ``uri`` and collect its results.

    ``disconnect_after``: close the connection after this many chunks without an end message
    (a client going away mid-stream). ``tail_silence``: seconds of zeros sent at once after the
    audio, before the end message (the padding an engine that cannot pad its own features is
    given, so that both see the same signal). ``timeout`` bounds the whole exchange."""
    result = Transcript(utt.name)
    start: dict[str, Any] = {"type": "start", "sample_rate": utt.sample_rate,
                             "format": sample_format}
    if method is not None:
        start["method"] = method
    if options:
        start["options"] = options
    step = max(1, round(utt.sample_rate * chunk_ms / 1000))
    chunk_ends: list[int] = []  # cumulative samples after each chunk, and when it was sent
    sent_at: list[float] = []
    end_sent: list[float] = []

    def encoded(piece: np.ndarray) -> bytes:
        if sample_format == "int16":
            return np.clip(np.round(piece * 32768), -32768, 32767).astype("<i2").tobytes()
        return piece.astype("<f4").tobytes()

    async def send(ws) -> None:
        await ws.send(json.dumps(start))
        t0 = time.perf_counter()
        for n, i in enumerate(range(0, len(utt.samples), step)):
            if disconnect_after is not None and n == disconnect_after:
                await ws.close()
                return
            if realtime:
                await asyncio.sleep(max(0.0, t0 + i / utt.sample_rate - time.perf_counter()))
            piece = utt.samples[i : i + step]
            await ws.send(encoded(piece))
            chunk_ends.append(i + len(piece))
            sent_at.append(time.perf_counter())
        if realtime:
            await asyncio.sleep(max(0.0, t0 + utt.duration - time.perf_counter()))
        tail = round(tail_silence * utt.sample_rate)
        if tail > 0:
            await ws.send(encoded(np.zeros(tail, np.float32)))
            chunk_ends.append(len(utt.samples) + tail)
            sent_at.append(time.perf_counter())
        await ws.send(json.dumps({"type": "end"}))
        end_sent.append(time.perf_counter())

    async def receive(ws) -> None:
        async for message in ws:
            now = time.perf_counter()
            data = json.loads(message)
            if data["type"] == "partial":
                result.partials.append(data)
                k = bisect.bisect_left(chunk_ends, data["samples"])
                if k < len(sent_at):
                    result.partial_latencies.append(now - sent_at[k])
            elif data["type"] == "final":
                result.finals.append(data)
                if data["last"] and end_sent:
                    result.final_latency = now - end_sent[0]
            elif data["type"] == "error":
                result.error = data["reason"]

    async def exchange() -> None:
        async with connect(uri, max_size=2**22, open_timeout=30) as ws:
            sender = asyncio.create_task(send(ws))
            try:
                await receive(ws)
            finally:
                sender.cancel()
            result.close_code = ws.close_code
            if ws.close_code not in (1000, None) and result.error is None:
                result.error = ws.close_reason

    try:
        await asyncio.wait_for(exchange(), timeout)
    except websockets.ConnectionClosed as e:
        result.error = result.error or str(e)
    return result


async def transcribe_many(uri: str, utts: Sequence[Utterance], concurrency: int,
                          **kwargs: Any) -> list[Transcript]:
    """:func:`transcribe` every utterance with at most ``concurrency`` connections open."""
    gate = asyncio.Semaphore(concurrency)

    async def one(utt: Utterance) -> Transcript:
        async with gate:
            return await transcribe(uri, utt, **kwargs)

    return list(await asyncio.gather(*(one(u) for u in utts)))


def load_files(paths: Sequence[Path]) -> list[Utterance]:
    import soundfile as sf

    utts = []
    for path in paths:
        try:
            samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception as e:  # soundfile raises several error types
            raise ValueError(f"cannot read sound file {path}: {e}") from e
        utts.append(Utterance(str(path), samples[:, 0], rate))
    return utts


def load_manifest(path: Path, limit: int = 0) -> list[Utterance]:
    """The cuts of a lhotse manifest, with their supervisions' text as references."""
    from lhotse import load_manifest as lhotse_load

    from icefall_lite.data.audio import use_libsndfile_for_sphere

    use_libsndfile_for_sphere()  # AN4's .sph files without sph2pipe
    cuts = lhotse_load(path)
    utts = []
    for cut in cuts:
        ref = " ".join(s.text for s in cut.supervisions if s.text).split()
        utts.append(Utterance(cut.id, cut.load_audio()[0].astype(np.float32),
                              cut.sampling_rate, ref if cut.supervisions else None))
        if limit and len(utts) >= limit:
            break
    return utts


def word_error_rate(pairs: Sequence[tuple[list[str], list[str]]]) -> tuple[float, int, int]:
    """(WER %, errors, reference words) of (ref, hyp) word lists, by kaldialign."""
    import kaldialign

    errors = words = 0
    for ref, hyp in pairs:
        errors += kaldialign.edit_distance(ref, hyp)["total"]
        words += len(ref)
    return (100.0 * errors / max(words, 1), errors, words)


def main(argv: Sequence[str] | None = None) -> list[Transcript]:
    parser = argparse.ArgumentParser(prog="python -m icefall_lite.server.client",
                                     description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--server", default="ws://127.0.0.1:6006")
    parser.add_argument("--manifest", type=Path, default=None, help="lhotse cut manifest")
    parser.add_argument("--limit", type=int, default=0, help="first N cuts of the manifest only")
    parser.add_argument("--concurrency", type=int, default=1, help="connections at once")
    parser.add_argument("--realtime", type=int, default=1, help="1: pace chunks in real time")
    parser.add_argument("--chunk-ms", type=float, default=100.0)
    parser.add_argument("--format", default="float32", choices=("float32", "int16"))
    parser.add_argument("--tail-silence", type=float, default=0.0,
                        help="seconds of zeros sent after each file's audio")
    parser.add_argument("--method", default=None, help="decoding method (server's default)")
    parser.add_argument("--options", type=json.loads, default=None,
                        help='decoding options as JSON, e.g. \'{"beam_size": 4}\'')
    parser.add_argument("files", nargs="*", type=Path, help="sound files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if bool(args.files) == (args.manifest is not None):
        parser.error("give sound files or --manifest (one of the two)")
    utts = load_manifest(args.manifest, args.limit) if args.manifest else load_files(args.files)
    start = time.perf_counter()
    results = asyncio.run(transcribe_many(
        args.server, utts, args.concurrency, chunk_ms=args.chunk_ms,
        realtime=bool(args.realtime), method=args.method, options=args.options,
        sample_format=args.format, tail_silence=args.tail_silence))
    elapsed = time.perf_counter() - start
    for utt, r in zip(utts, results):
        print(f"{utt.name}: {r.text}" + (f"  [error: {r.error}]" if r.error else ""))
    audio = sum(u.duration for u in utts)
    print(f"{len(utts)} utterances, {audio:.1f} s of audio in {elapsed:.1f} s")
    pairs = [(u.ref, r.text.split()) for u, r in zip(utts, results) if u.ref is not None]
    if pairs:
        wer, errors, words = word_error_rate(pairs)
        print(f"WER {wer:.2f}% ({errors} errors / {words} words)")
    return results


if __name__ == "__main__":
    main()
