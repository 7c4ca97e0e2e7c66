"""The batcher's scheduling on a real engine (the tiny causal model, real features): which ready
streams a worker claims, and in what order. The worker threads are not started: each test
plays one worker's steps itself, so the order is deterministic."""

from __future__ import annotations

import pytest

from icefall_lite.server.batcher import SMALL_BATCH, Batcher
from icefall_lite.server.server import build_engine
from tests.server.conftest import server_args


@pytest.fixture(scope="module")
def engine(lang_dir, checkpoint):
    return build_engine(server_args(lang_dir, checkpoint, "--endpoint", "0"))


def batcher_with_streams(engine, waves, num_streams: int, num_workers: int,
                         max_batch_size: int = 50) -> tuple[Batcher, list[list[dict]]]:
    """A batcher (threads not started) with ``num_streams`` greedy streams, each fed 1 s of a
    yesno wav and its features extracted: every stream has a chunk ready."""
    batcher = Batcher(engine, max_batch_size=max_batch_size, max_wait_ms=10.0,
                      num_workers=num_workers)
    emitted: list[list[dict]] = [[] for _ in range(num_streams)]
    audio = list(waves.values())
    for i in range(num_streams):
        batcher.open(i, "greedy_search", {}, engine.sample_rate, emitted[i].append)
        batcher.feed(i, audio[i % len(audio)][: engine.sample_rate])
    prepare(batcher)
    return batcher, emitted


def prepare(batcher: Batcher) -> None:
    """One worker's feature step: take the queued audio, extract, release."""
    with batcher.cond:
        work = batcher._take_pending()
    batcher._prepare(work)
    with batcher.cond:
        batcher._release([e for e, _, _ in work])


def claim(batcher: Batcher, now: float) -> tuple[list[int], float]:
    with batcher.cond:
        batch, wait = batcher._claim_batch(now)
    return [e.conn_id for e in batch], wait


def test_ready_streams_wait_for_others_then_go_oldest_first(engine, waves):
    batcher, _ = batcher_with_streams(engine, waves, 3, num_workers=1)
    assert all(engine.is_ready(e.stream) for e in batcher.entries.values())
    batch, wait = claim(batcher, now=100.0)  # first seen ready now: wait for others to join
    assert batch == [] and wait == pytest.approx(0.010)
    batch, _ = claim(batcher, now=100.011)  # --max-wait-ms passed: all three together
    assert sorted(batch) == [0, 1, 2]
    batch, wait = claim(batcher, now=100.02)  # they are held by that batch: nothing to take
    assert batch == [] and wait > 0


def test_workers_share_the_ready_streams_oldest_first(engine, waves):
    batcher, _ = batcher_with_streams(engine, waves, 20, num_workers=2)
    for i, e in batcher.entries.items():  # the last stream has waited longest
        e.ready_since = 100.0 - i
    order = list(range(19, -1, -1))
    first, _ = claim(batcher, now=200.0)  # ceil(20 / 2), oldest first
    second, _ = claim(batcher, now=200.0)  # what the other worker finds meanwhile:
    third, _ = claim(batcher, now=200.0)  # ceil(10 / 2) is fewer than SMALL_BATCH
    assert first == order[:10]
    assert second == order[10 : 10 + SMALL_BATCH] and third == order[10 + SMALL_BATCH :]
    with batcher.cond:
        batcher._done_with([batcher.entries[i] for i in first])
    assert claim(batcher, now=200.0)[0] == []  # released undecoded: ready again, seen just now
    fourth, _ = claim(batcher, now=200.011)
    assert fourth == sorted(first)[:SMALL_BATCH]  # all seen at once: in stream order


def test_an_ended_stream_goes_first_at_once_with_others_filling_its_batch(engine, waves):
    batcher, emitted = batcher_with_streams(engine, waves, SMALL_BATCH + 2, num_workers=1)
    batcher.end(5)
    prepare(batcher)  # stream 5: the rest of its features and the padded tail
    for step in range(20):  # its last chunks, one batch each (a few chunks at most)
        batch, wait = claim(batcher, now=1.0)  # all just seen ready: no waiting all the same
        assert batch[0] == 5 and wait == 0.0
        if step == 0:  # filled with the others, in stream order (all seen ready at once)
            assert batch == [5, 0, 1, 2, 3, 4, 6, 7][:SMALL_BATCH]
        batcher._decode([batcher.entries[i] for i in batch])
        with batcher.cond:
            batcher._done_with([batcher.entries[i] for i in batch])
        if batcher.entries[5].done:
            break
    assert emitted[5][-1]["type"] == "final" and emitted[5][-1]["last"]
    others = [m for i, ms in enumerate(emitted) if i != 5 for m in ms]
    assert not any(m["type"] == "final" for m in others)
    batch, wait = claim(batcher, now=1.0)  # no ended stream left: the others wait to batch
    assert batch == [] and wait > 0


def test_audio_waits_for_feature_extraction_until_it_completes_a_chunk(engine, waves):
    batcher = Batcher(engine)
    batcher.open(0, "greedy_search", {}, engine.sample_rate, lambda m: None)
    entry, samples = batcher.entries[0], next(iter(waves.values()))
    rate = engine.sample_rate
    batcher.feed(0, samples[: rate // 10])  # 100 ms: far from a chunk (45 frames)
    batcher.feed(0, samples[rate // 10 : rate // 5])
    prepare(batcher)
    assert entry.pending_samples == rate // 5 and entry.stream.fbank.num_samples == 0
    batcher.feed(0, samples[rate // 5 : rate])  # now a chunk and its look-ahead
    prepare(batcher)
    assert entry.pending == [] and entry.stream.fbank.num_samples == rate
    assert engine.is_ready(entry.stream)
    batcher.feed(0, samples[rate : rate + rate // 10])
    batcher.end(0)  # the end: whatever is queued is extracted
    prepare(batcher)
    assert entry.pending == [] and entry.finishing


def test_workers_and_batch_size_are_checked(engine):
    with pytest.raises(ValueError, match="num_workers"):
        Batcher(engine, num_workers=0)
    with pytest.raises(ValueError, match="max_batch_size"):
        Batcher(engine, max_batch_size=0)


def test_a_closed_stream_is_freed_only_when_no_worker_holds_it(engine, waves):
    batcher, _ = batcher_with_streams(engine, waves, 2, num_workers=2)
    for e in batcher.entries.values():
        e.ready_since = 0.0
    batch, _ = claim(batcher, now=1.0)
    assert batch == [0, 1]  # held by "another worker"
    batcher.close(0)
    prepare(batcher)
    assert 0 in batcher.entries  # still held: not freed under the worker's feet
    with batcher.cond:
        batcher._done_with([batcher.entries[0], batcher.entries[1]])
    prepare(batcher)
    assert 0 not in batcher.entries and batcher.num_streams == 1
