"""``python -m icefall_lite.server.client`` on a lhotse manifest: many connections at once, the
transcripts printed, and the WER against the supervisions' text (hand-computed here: one cut's
reference is its expected transcript, the other's has one word more)."""

from __future__ import annotations

import dataclasses

import pytest
from lhotse import CutSet, Recording, SupervisionSegment

from icefall_lite.recipe.common import BpeCodec
from icefall_lite.server import client
from tests.server.conftest import (
    WAV_NAMES,
    reference_tokens,
    running_server,
    server_args,
)


@pytest.mark.slow
def test_client_prints_transcripts_and_wer(yesno_dir, causal_model, lang_dir, checkpoint, waves,
                                           tmp_path, capsys):
    codec = BpeCodec(lang_dir)
    names = WAV_NAMES[:2]
    expected = {n: codec.decode(t) for n, t in
                reference_tokens(causal_model, "greedy_search",
                                 {n: waves[n] for n in names}).items()}
    refs = [expected[names[0]], expected[names[1]] + " EXTRA"]
    cuts = []
    for name, ref in zip(names, refs):
        rec = Recording.from_file(yesno_dir / name)
        cuts.append(dataclasses.replace(rec.to_cut(), id=name, supervisions=[
            SupervisionSegment(name, rec.id, 0.0, rec.duration, text=ref)]))
    manifest = tmp_path / "cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(manifest)
    with running_server(server_args(lang_dir, checkpoint, "--endpoint", "0")) as (uri, _):
        results = client.main(["--server", uri, "--manifest", str(manifest), "--concurrency",
                               "2", "--realtime", "0", "--chunk-ms", "50"])
    out = capsys.readouterr().out.splitlines()
    assert [r.text for r in results] == [expected[n] for n in names]
    assert [f"{n}: {expected[n]}" for n in names] == out[:2]
    words = sum(len(r.split()) for r in refs)
    assert out[-1] == f"WER {100 / words:.2f}% (1 errors / {words} words)"
