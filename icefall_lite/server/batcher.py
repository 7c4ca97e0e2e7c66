"""Dynamic batching: one worker thread runs every connection's model work.

Connections hand their audio to :class:`Batcher` (thread-safe calls, no model work on the event
loop). The worker converts the audio to features, and as soon as one stream has a chunk ready
waits up to ``max_wait_ms`` for others (or until ``max_batch_size`` are ready), then decodes
them together (encoder and search, :meth:`Engine.decode`). Results go back through each
connection's ``emit`` callback, which must be thread-safe (the server passes one that posts to
its event loop).

Messages emitted (dicts, sent as JSON): ``partial`` when a segment's text changes, ``final``
for each segment (``last`` true on the stream's last one).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from icefall_lite.server.engine import Engine, Stream
from icefall_lite.server.features import StreamingResampler

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Entry:
    """A connection's stream and what its handler queued for the worker."""

    conn_id: int
    stream: Stream
    emit: Callable[[dict[str, Any]], None]
    resampler: StreamingResampler | None
    pending: list[np.ndarray] = dataclasses.field(default_factory=list)
    end_requested: bool = False
    closed: bool = False
    received: int = 0  # client samples handed to the worker (for latency bookkeeping)
    consumed: int = 0  # ... of which converted to features
    last_text: str = ""
    done: bool = False


class Batcher:
    """Owns the engine and its streams; ``start`` launches the worker thread."""

    def __init__(self, engine: Engine, max_batch_size: int = 50, max_wait_ms: float = 10.0,
                 num_threads: int = 1) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.num_threads = num_threads
        self.entries: dict[int, Entry] = {}
        self.cond = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="batcher", daemon=True)
        self.batches = 0  # decode calls, and the streams they held (logged at stop)
        self.batched_streams = 0

    # -- called from connection handlers --------------------------------------------------------

    def open(self, conn_id: int, method: str, options: dict[str, Any], sample_rate: int,
             emit: Callable[[dict[str, Any]], None]) -> None:
        """Register a stream; ValueError (to send to the client) for a bad method/option."""
        stream = self.engine.new_stream(method, options)
        resampler = (None if sample_rate == self.engine.sample_rate
                     else StreamingResampler(sample_rate, self.engine.sample_rate))
        with self.cond:
            self.entries[conn_id] = Entry(conn_id, stream, emit, resampler)

    def feed(self, conn_id: int, samples: np.ndarray) -> None:
        with self.cond:
            entry = self.entries[conn_id]
            entry.pending.append(samples)
            entry.received += len(samples)
            self.cond.notify()

    def end(self, conn_id: int) -> None:
        with self.cond:
            self.entries[conn_id].end_requested = True
            self.cond.notify()

    def close(self, conn_id: int) -> None:
        """Forget a connection's stream (disconnect, error): the worker frees it."""
        with self.cond:
            entry = self.entries.get(conn_id)
            if entry is not None:
                entry.closed = True
                self.cond.notify()

    @property
    def num_streams(self) -> int:
        with self.cond:
            return len(self.entries)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify()
        self.thread.join(timeout=10)
        logger.info("batcher: %d batches, %.1f streams per batch on average", self.batches,
                    self.batched_streams / max(1, self.batches))

    # -- the worker -----------------------------------------------------------------------------

    def _run(self) -> None:
        torch.set_num_threads(self.num_threads)
        ready_since: float | None = None  # when the oldest undecoded ready chunk was seen
        more = False  # streams still had chunks ready after the last decode
        while True:
            with self.cond:
                if self.stopping:
                    return
                if ready_since is not None:
                    self.cond.wait(max(0.0, ready_since + self.max_wait - time.monotonic()))
                elif not more:
                    self.cond.wait(timeout=0.5)
                work = self._take_pending()
            self._prepare(work)
            ready = self._ready()
            more = False
            if not ready:
                ready_since = None
                continue
            now = time.monotonic()
            ready_since = now if ready_since is None else ready_since
            if len(ready) < self.max_batch_size and now < ready_since + self.max_wait:
                continue
            ready_since = None
            self._decode(ready)
            more = bool(self._ready())

    def _ready(self) -> list[Entry]:
        return [e for e in list(self.entries.values())
                if not e.closed and not e.done and self.engine.is_ready(e.stream)]

    def _take_pending(self) -> list[tuple[Entry, list[np.ndarray], bool]]:
        """Under the lock: each entry's queued audio and end flag; closed entries removed."""
        work = []
        for conn_id, e in list(self.entries.items()):
            if e.closed:
                del self.entries[conn_id]
                logger.info("[conn %d] stream freed", conn_id)
                continue
            if e.pending or (e.end_requested and not e.stream.finished):
                work.append((e, e.pending, e.end_requested))
                e.pending = []
        return work

    def _prepare(self, work: list[tuple[Entry, list[np.ndarray], bool]]) -> None:
        """Resample and extract features (outside the lock: handlers keep queueing)."""
        for e, chunks, end in work:
            try:
                audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
                e.consumed += len(audio)
                if e.resampler is not None:
                    audio = e.resampler.accept(audio)
                    if end:
                        audio = np.concatenate([audio, e.resampler.finish()])
                self.engine.accept_waveform(e.stream, audio)
                if end:
                    self.engine.input_finished(e.stream)
            except Exception:  # one stream's failure must not stop the others
                logger.exception("[conn %d] feature extraction failed", e.conn_id)
                self._fail(e)

    def _decode(self, ready: list[Entry]) -> None:
        for start in range(0, len(ready), self.max_batch_size):
            batch = ready[start : start + self.max_batch_size]
            samples = [e.consumed for e in batch]
            try:
                self.engine.decode([e.stream for e in batch])
            except Exception:  # log and fail this batch's streams; the server goes on
                logger.exception("decoding a batch of %d streams failed", len(batch))
                for e in batch:
                    self._fail(e)
                continue
            self.batches += 1
            self.batched_streams += len(batch)
            for e, n in zip(batch, samples):
                self._publish(e, n)

    def _publish(self, e: Entry, samples: int) -> None:
        engine, stream = self.engine, e.stream
        result = engine.result(stream)
        if result.text != e.last_text:
            e.last_text = result.text
            e.emit({"type": "partial", "segment": stream.segment, "text": result.text,
                    "samples": samples})
        if engine.is_done(stream):
            e.done = True
            e.emit({"type": "final", "segment": stream.segment, "last": True,
                    **result.as_dict()})
        elif engine.is_endpoint(stream):
            if result.text:
                e.emit({"type": "final", "segment": stream.segment, "last": False,
                        **result.as_dict()})
            logger.info("[conn %d] endpoint after segment %d: %r", e.conn_id, stream.segment,
                        result.text)
            engine.next_segment(stream)
            e.last_text = ""

    def _fail(self, e: Entry) -> None:
        e.done = True
        e.emit({"type": "error", "reason": "internal error while decoding this stream"})
