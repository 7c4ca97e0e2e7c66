"""AN4 deployment measurement: the recipe's model exported (fp32 + int8, offline + streaming at
two chunk sizes) and decoded on the test set by sherpa-onnx and by icefall_lite on the same
files; WER per method and engine, utterance-level differences, RTFs, file sizes.

Run from the repository root on a trained AN4 recipe (read only: the checkpoints are linked
into ``--work-dir`` and everything is written there)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/deploy_an4.py --recipe-dir egs/an4/ASR \\
        --epoch 8 --avg 3 --work-dir /tmp/deploy_an4

Both engines get the same audio (the test cuts' recordings), one thread each. icefall_lite
computes fbank with the training extractor (kaldifeat), sherpa-onnx with kaldi-native-fbank;
streaming audio is followed by 0.5 s of silence and both engines decode only whole chunks
(sherpa-onnx's rule; ``StreamingDecoder(whole_chunks=True)``). The eager model decodes the same
features, so "ONNX vs eager" compares the runtimes alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import kaldialign
import numpy as np
import torch
from lhotse.utils import LOG_EPSILON

from icefall_lite.decoding import DECODING_METHODS, DecodingConfig, decode
from icefall_lite.models.int8 import DEFAULT_INT8
from icefall_lite.recipe import export, pretrained
from icefall_lite.recipe.common import load_decoding_graph, read_word_table
from icefall_lite.recipe.decode import load_decoding_model
from icefall_lite.recipe.streaming_decode import StreamingDecoder
from icefall_lite.runtime import OnnxTransducer

SHERPA_METHODS = ("greedy_search", "modified_beam_search")
TAIL_SILENCE = 0.5


def recipe_defaults(recipe_dir: Path) -> dict:
    spec = importlib.util.spec_from_file_location("model_defaults",
                                                  recipe_dir / "zipformer/model_defaults.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export_models(recipe: Path, work: Path, epoch: int, avg: int, chunk: int | None,
                  exp_dir: str = "zipformer/exp") -> dict:
    """export.py --onnx-int8 1 into ``work/<full|chunk-C>`` (the checkpoints of
    ``recipe/exp_dir`` linked there)."""
    d = recipe_defaults(recipe)
    exp = work / ("full" if chunk is None else f"chunk-{chunk}")
    exp.mkdir(parents=True, exist_ok=True)
    for ckpt in (recipe / exp_dir).glob("epoch-*.pt"):
        link = exp / ckpt.name
        if not link.exists():
            link.symlink_to(ckpt.resolve())
    context = (d.FULL_CONTEXT if chunk is None
               else {"chunk_size": str(chunk), "left_context_frames": "128"})
    defaults = {**d.CORPUS, **d.MODEL, **context, "exp_dir": str(exp)}
    argv = ["--epoch", str(epoch), "--avg", str(avg), "--onnx-int8", "1"]
    written = export.main(defaults, argv)
    args = export.build_parser(defaults).parse_args(argv)
    return {"written": written, "args": args}


def load_test_set(recipe: Path, limit: int, split: str = "test") -> list[dict]:
    """The ``split``'s cuts (audio, rate, reference words), the first ``limit`` (0: all)."""
    from lhotse import load_manifest_lazy  # noqa: PLC0415

    from icefall_lite.data.audio import use_libsndfile_for_sphere  # noqa: PLC0415

    use_libsndfile_for_sphere()  # AN4's .sph files, without sph2pipe
    cuts = load_manifest_lazy(recipe / f"data/fbank/an4_cuts_{split}.jsonl.gz")
    out = []
    for cut in cuts:
        audio = cut.load_audio()[0].astype(np.float32)
        out.append({"id": cut.id, "audio": audio, "rate": cut.sampling_rate,
                    "ref": " ".join(s.text for s in cut.supervisions).split()})
        if limit and len(out) >= limit:
            break
    return out


def wer(utts: list[dict], hyps: dict[str, list[str]]) -> tuple[float, int]:
    errors = sum(kaldialign.edit_distance(u["ref"], hyps[u["id"]])["total"] for u in utts)
    return 100.0 * errors / sum(len(u["ref"]) for u in utts), errors


def sherpa_decode(files: list[str], tokens: str, utts: list[dict], method: str, online: bool,
                  blank_penalty: float) -> tuple[dict, float]:
    import sherpa_onnx  # noqa: PLC0415

    encoder, decoder, joiner = files
    if online:
        rec = sherpa_onnx.OnlineRecognizer.from_transducer(
            tokens, encoder, decoder, joiner, num_threads=1, sample_rate=16000, feature_dim=80,
            decoding_method=method, max_active_paths=4, blank_penalty=blank_penalty)
    else:
        rec = sherpa_onnx.OfflineRecognizer.from_transducer(
            encoder, decoder, joiner, tokens, num_threads=1, sample_rate=16000, feature_dim=80,
            decoding_method=method, max_active_paths=4, blank_penalty=blank_penalty)
    hyps = {}
    start = time.perf_counter()
    for u in utts:
        stream = rec.create_stream()
        if online:
            stream.accept_waveform(u["rate"], np.concatenate(
                [u["audio"], np.zeros(int(TAIL_SILENCE * u["rate"]), np.float32)]))
            stream.input_finished()
            while rec.is_ready(stream):
                rec.decode_stream(stream)
            hyps[u["id"]] = rec.get_result(stream).split()
        else:
            stream.accept_waveform(u["rate"], u["audio"])
            rec.decode_stream(stream)
            hyps[u["id"]] = stream.result.text.split()
    return hyps, time.perf_counter() - start


class Words:
    def __init__(self, tokens: Path, lang_dir: Path) -> None:
        self.text = pretrained.TokenText(tokens=tokens)
        self.words = read_word_table(lang_dir)

    def __call__(self, method: str, ids: list[int]) -> list[str]:
        if DECODING_METHODS[method].output == "words":
            return [self.words[i] for i in ids]
        return self.text(ids).split()


def library_offline(model, utts, feats, method, config, graph, words, codec, batch=16):
    hyps = {}
    start = time.perf_counter()
    order = sorted(range(len(utts)), key=lambda i: feats[i].size(0))
    for b in range(0, len(order), batch):
        idx = order[b : b + batch]
        x = torch.nn.utils.rnn.pad_sequence([feats[i] for i in idx], batch_first=True,
                                            padding_value=LOG_EPSILON)
        lens = torch.tensor([feats[i].size(0) for i in idx])
        refs = codec.encode([" ".join(utts[i]["ref"]) for i in idx]) if DECODING_METHODS[
            method].needs_ref else None
        with torch.no_grad():
            enc, enc_lens = model.forward_encoder(x, lens)
            out = decode(method, model, enc, enc_lens, config, graph, refs)
        for i, h in zip(idx, out):
            hyps[utts[i]["id"]] = words(method, h)
    return hyps, time.perf_counter() - start


def library_streaming(model, utts, feats, method, config, graph, words, codec, streams=32):
    decoder = StreamingDecoder(model, method, config, tail_pad_frames=0, graph=graph,
                               whole_chunks=True)
    needs_ref = DECODING_METHODS[method].needs_ref
    items = [(u["id"], f, [], 0.0, codec.encode([" ".join(u["ref"])])[0] if needs_ref else None)
             for u, f in zip(utts, feats)]
    start = time.perf_counter()
    hyps = {s.cut_id: words(method, s.result) for s in decoder.run(items, streams)}
    return hyps, time.perf_counter() - start


def diff_lines(utts, a: dict, b: dict, limit: int = 20) -> list[str]:
    lines = []
    for u in utts:
        if a[u["id"]] != b[u["id"]]:
            lines.append(f"{u['id']}: ref={' '.join(u['ref'])} | {' '.join(a[u['id']])} | "
                         f"{' '.join(b[u['id']])}")
    return lines[:limit] + ([f"... {len(lines) - limit} more"] if len(lines) > limit else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe-dir", type=Path, default=Path("egs/an4/ASR"))
    parser.add_argument("--epoch", type=int, default=8)
    parser.add_argument("--avg", type=int, default=3)
    parser.add_argument("--exp-dir", default="zipformer/exp",
                        help="the run's exp dir, relative to --recipe-dir")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/deploy_an4"))
    parser.add_argument("--chunks", default="16,32")
    parser.add_argument("--methods", default=",".join(DECODING_METHODS))
    parser.add_argument("--streaming-methods", default=",".join(DECODING_METHODS))
    parser.add_argument("--limit", type=int, default=0, help="first N utterances (0: all)")
    parser.add_argument("--split", default="test",
                        help="the cuts decoded (test; dev for choosing settings)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    recipe = args.recipe_dir.resolve()
    work = args.work_dir.resolve()
    os.chdir(recipe)  # the recipe's relative paths (lang dir, cuts' features); nothing written
    from icefall_lite.recipe.common import BpeCodec  # noqa: PLC0415

    defaults = recipe_defaults(recipe)
    lang_dir = recipe / defaults.CORPUS["lang_dir"]
    codec = BpeCodec(lang_dir)
    bp = defaults.BLANK_PENALTY
    config = DecodingConfig(blank_penalty=bp)
    stream_config = DecodingConfig(blank_penalty=bp, beam=4.0, max_contexts=4, max_states=32)
    utts = load_test_set(recipe, args.limit, args.split)
    audio_s = sum(len(u["audio"]) / u["rate"] for u in utts)
    report: dict = {"split": args.split, "int8": repr(DEFAULT_INT8), "utterances": len(utts),
                    "audio_seconds": audio_s, "blank_penalty": bp,
                    "offline": {}, "streaming": {}, "sizes": {}, "diffs": {}}
    print(f"{len(utts)} utterances, {audio_s:.1f} s of audio", flush=True)

    full = export_models(recipe, work, args.epoch, args.avg, None, args.exp_dir)
    w = full["written"]
    words = Words(w["tokens"], lang_dir)
    report["sizes"].update({Path(p).name: Path(p).stat().st_size for k, p in w.items()
                            if str(p).endswith(".onnx")})
    feats = [pretrained.compute_features([u["audio"]], u["rate"])[0][0] for u in utts]
    eager = load_decoding_model(full["args"], torch.device("cpu"))
    kinds = {"eager": eager,
             "onnx-fp32": OnnxTransducer(w["encoder"], w["decoder"], w["joiner"]),
             "onnx-int8": OnnxTransducer(w["encoder_int8"], w["decoder_int8"],
                                         w["joiner_int8"])}
    for method in args.methods.split(","):
        graph = load_decoding_graph(lang_dir, method, config.ngram_lm_scale, codec.vocab_size,
                                    "cpu")
        row = {}
        hyps_of = {}
        for kind, model in kinds.items():
            hyps, secs = library_offline(model, utts, feats, method, config, graph, words, codec)
            hyps_of[kind] = hyps
            row[f"icefall_lite {kind}"] = (*wer(utts, hyps), secs / audio_s)
        if method in SHERPA_METHODS:
            for kind, tail in (("onnx-fp32", ""), ("onnx-int8", "_int8")):
                files = [str(w[f"{p}{tail}"]) for p in ("encoder", "decoder", "joiner")]
                hyps, secs = sherpa_decode(files, str(w["tokens"]), utts, method, False, bp)
                hyps_of[f"sherpa {kind}"] = hyps
                row[f"sherpa {kind}"] = (*wer(utts, hyps), secs / audio_s)
                report["diffs"][f"offline {method} sherpa vs icefall_lite {kind}"] = diff_lines(
                    utts, hyps, hyps_of[kind])
        report["diffs"][f"offline {method} onnx-fp32 vs eager"] = diff_lines(
            utts, hyps_of["onnx-fp32"], hyps_of["eager"])
        report["offline"][method] = row
        print(method, json.dumps(row), flush=True)

    for chunk in [int(c) for c in args.chunks.split(",")]:
        exported = export_models(recipe, work, args.epoch, args.avg, chunk,
                                 args.exp_dir)["written"]
        report["sizes"].update({Path(p).name: Path(p).stat().st_size
                                for k, p in exported.items()
                                if "streaming" in k and str(p).endswith(".onnx")})
        tail_feats = [pretrained.compute_features([np.concatenate(
            [u["audio"], np.zeros(int(TAIL_SILENCE * u["rate"]), np.float32)])], u["rate"])[0][0]
            for u in utts]
        for method in args.streaming_methods.split(","):
            graph = load_decoding_graph(lang_dir, method, stream_config.ngram_lm_scale,
                                        codec.vocab_size, "cpu")
            row = {}
            for kind, tail in (("onnx-fp32", ""), ("onnx-int8", "_int8")):
                files = [str(exported[f"{p}_streaming{tail}"])
                         for p in ("encoder", "decoder", "joiner")]
                model = OnnxTransducer(*files, streaming=True)
                ours, secs = library_streaming(model, utts, tail_feats, method, stream_config,
                                               graph, words, codec)
                row[f"icefall_lite {kind}"] = (*wer(utts, ours), secs / audio_s)
                if method in SHERPA_METHODS:
                    hyps, secs = sherpa_decode(files, str(exported["tokens"]), utts, method,
                                               True, bp)
                    row[f"sherpa {kind}"] = (*wer(utts, hyps), secs / audio_s)
                    report["diffs"][f"chunk {chunk} {method} sherpa vs icefall_lite {kind}"] = (
                        diff_lines(utts, hyps, ours))
            report["streaming"][f"chunk {chunk} {method}"] = row
            print(chunk, method, json.dumps(row), flush=True)
    out = work / "report.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
