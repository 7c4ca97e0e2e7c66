"""Dynamic batching: worker threads run every connection's model work.

Connections hand their audio to :class:`Batcher` (thread-safe calls, no model work on the event
loop). The ``num_workers`` worker threads share the streams: each converts the queued audio of
the streams no other worker holds to features, and as soon as one stream has a chunk ready
waits up to ``max_wait_ms`` for others (or until ``max_batch_size`` are ready), then claims a
batch and decodes it (encoder and search, :meth:`Engine.decode`) while the other workers take
other streams: onnxruntime and torch release the GIL in their kernels, so the workers' model
work runs on as many cores. A stream is in at most one batch at a time (its chunks depend on
each other).

Which streams go first:

- a stream whose audio has ended (its last chunk, then the padded tail) is decoded at once,
  without waiting for others to join, first in its batch: its final result waits for nothing
  else. Other ready streams fill that batch up to :data:`SMALL_BATCH` streams: every encoder
  call has a fixed cost (some 40 ms for the eager model, against 4 ms per stream), which
  batches of one ended stream each would pay once per tail chunk;
- the other streams in the order their chunks became ready, ``ceil(ready / num_workers)``
  per batch (but not fewer than :data:`SMALL_BATCH` if that many are ready) even when the other
  workers are busy: a worker is free again sooner, so an ended stream waits less for one (a
  scheduling model of the AN4 load put p95 final latency 1.7x higher when an idle worker took
  every ready stream).

Results go back through each connection's ``emit`` callback, which must be thread-safe (the
server passes one that posts to its event loop).

Messages emitted (dicts, sent as JSON): ``partial`` when a segment's text changes, ``final``
for each segment (``last`` true on the stream's last one).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from icefall_lite.server.engine import Engine, Stream
from icefall_lite.server.features import StreamingResampler

logger = logging.getLogger(__name__)

#: seconds a worker with nothing to do waits before looking again (a notify wakes it sooner)
IDLE_POLL = 0.5
#: a batch is not split below this many streams, and an ended stream's batch is filled up to
#: it with others: every encoder call has a fixed cost (see the module docstring)
SMALL_BATCH = 8


@dataclasses.dataclass
class Entry:
    """A connection's stream and what its handler queued for the workers."""

    conn_id: int
    stream: Stream
    emit: Callable[[dict[str, Any]], None]
    resampler: StreamingResampler | None
    pending: list[np.ndarray] = dataclasses.field(default_factory=list)
    pending_samples: int = 0
    end_requested: bool = False
    closed: bool = False
    received: int = 0  # client samples handed to the workers (for latency bookkeeping)
    consumed: int = 0  # ... of which converted to features
    last_text: str = ""
    done: bool = False
    busy: bool = False  # a worker holds the stream (features or decoding): no one else may
    ready_since: float | None = None  # when a worker first saw its next chunk ready

    @property
    def finishing(self) -> bool:
        """Its audio has ended: what is left is its last chunks and the padded tail."""
        return self.stream.finished


class Batcher:
    """Owns the engine and its streams; ``start`` launches the worker threads."""

    def __init__(self, engine: Engine, max_batch_size: int = 50, max_wait_ms: float = 10.0,
                 num_threads: int = 1, num_workers: int = 1) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.num_threads = num_threads
        self.entries: dict[int, Entry] = {}
        self.cond = threading.Condition()
        self.stopping = False
        self.threads = [threading.Thread(target=self._run, name=f"batcher-{i}", daemon=True)
                        for i in range(num_workers)]
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
            entry.pending_samples += len(samples)
            entry.received += len(samples)
            self.cond.notify()

    def end(self, conn_id: int) -> None:
        with self.cond:
            self.entries[conn_id].end_requested = True
            self.cond.notify()

    def close(self, conn_id: int) -> None:
        """Forget a connection's stream (disconnect, error): a worker frees it."""
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
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        for thread in self.threads:
            thread.join(timeout=10)
        logger.info("batcher: %d batches, %.1f streams per batch on average", self.batches,
                    self.batched_streams / max(1, self.batches))

    # -- the workers ----------------------------------------------------------------------------

    def _run(self) -> None:
        torch.set_num_threads(self.num_threads)
        while True:
            with self.cond:
                if self.stopping:
                    return
                work = self._take_pending()
            self._prepare(work)
            with self.cond:
                self._release([e for e, _, _ in work])
                batch, wait = self._claim_batch(time.monotonic())
                if not batch:
                    if not self._has_pending():
                        self.cond.wait(wait)
                    continue
            self._decode(batch)
            with self.cond:
                self._done_with(batch)

    def _release(self, entries: list[Entry]) -> None:
        """Under the lock: the workers may take ``entries`` again."""
        for e in entries:
            e.busy = False
        if entries:
            self.cond.notify_all()

    def _done_with(self, batch: list[Entry]) -> None:
        """Under the lock: a claimed batch was decoded."""
        self.batches += 1
        self.batched_streams += len(batch)
        self._release(batch)

    def _has_pending(self) -> bool:
        return any(not e.busy and (e.closed or self._wants_features(e))
                   for e in self.entries.values())

    def _wants_features(self, e: Entry) -> bool:
        """Its queued audio is due for feature extraction: it ends the stream, or completes a
        chunk (until then it waits: each extraction recomputes some frames of history, so one
        per chunk rather than one per client message)."""
        if e.done:
            return False
        if e.end_requested:
            return not e.finishing
        if not e.pending:
            return False
        return e.resampler is not None or self.engine.ready_after(e.stream, e.pending_samples)

    def _claim_batch(self, now: float) -> tuple[list[Entry], float]:
        """Under the lock: the next batch to decode (claimed), or none and how long to wait."""
        ready = []
        for e in self.entries.values():
            if e.busy or e.closed or e.done or not self.engine.is_ready(e.stream):
                continue
            if e.ready_since is None:
                e.ready_since = now
            ready.append(e)
        if not ready:
            return [], IDLE_POLL
        ready.sort(key=lambda e: (not e.finishing, e.ready_since))
        small = min(SMALL_BATCH, len(ready))
        finishing = sum(e.finishing for e in ready)
        if finishing:  # an ended stream waits for nothing: its final result is due
            size = max(finishing, small)
        else:
            oldest = ready[0].ready_since
            if len(ready) < self.max_batch_size and now < oldest + self.max_wait:
                return [], oldest + self.max_wait - now
            size = max(small, math.ceil(len(ready) / len(self.threads)))
        batch = ready[: min(self.max_batch_size, size)]
        for e in batch:
            e.busy, e.ready_since = True, None
        return batch, 0.0

    def _take_pending(self) -> list[tuple[Entry, list[np.ndarray], bool]]:
        """Under the lock: the queued audio and end flag of each stream no worker holds (now
        held by this one); closed streams removed."""
        work = []
        for conn_id, e in list(self.entries.items()):
            if e.busy:
                continue
            if e.closed:
                del self.entries[conn_id]
                logger.info("[conn %d] stream freed", conn_id)
                continue
            if self._wants_features(e):
                work.append((e, e.pending, e.end_requested))
                e.pending, e.pending_samples = [], 0
                e.busy = True
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

    def _decode(self, batch: list[Entry]) -> None:
        samples = [e.consumed for e in batch]
        try:
            self.engine.decode([e.stream for e in batch])
        except Exception:  # log and fail this batch's streams; the server goes on
            logger.exception("decoding a batch of %d streams failed", len(batch))
            for e in batch:
                self._fail(e)
            return
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
