"""Self-describing checkpoints: a model trained here with unusual sizes (through the recipe's
train main, on real yesno audio) is decoded by decode.py with no model flags; a contradicting
model flag, a non-causal model for streaming and an old-layout checkpoint give clear errors; the
scripts' --help lists only their own options.

Oracles: the model is rebuilt here from the sizes written in this file (not from the checkpoint)
and decoded with the library's greedy search; the features' rate and bins come from the wav files
and the extractor; the vocabulary from the sentencepiece model."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import sentencepiece as spm
import soundfile as sf
import torch
from lhotse import CutSet, LilcomChunkyWriter, Recording, SupervisionSegment

from icefall_lite.data.fbank import make_fbank_extractor
from icefall_lite.decoding.greedy import greedy_search_batch
from icefall_lite.models.asr_model import build_model
from icefall_lite.models.config import ZipformerConfig
from icefall_lite.recipe import decode, export, pretrained, streaming_decode, train
from icefall_lite.recipe.model_info import ModelMismatchError, OldCheckpointError
from icefall_lite.training.checkpoint import read_checkpoint, save_checkpoint
from icefall_lite.training.safe_load import load_weights_only

pytestmark = pytest.mark.slow

#: Sizes no recipe uses, as flags and as the config the oracle builds.
UNUSUAL = {
    "feature_dim": 23, "num_encoder_layers": (1, 1), "downsampling_factor": (1, 2),
    "encoder_dim": (48, 32), "encoder_unmasked_dim": (32, 24), "feedforward_dim": (96, 64),
    "num_heads": (2, 2), "query_head_dim": (8,), "value_head_dim": (4,), "pos_head_dim": (2,),
    "pos_dim": 16, "cnn_module_kernel": (7, 15), "decoder_dim": 32, "joiner_dim": 24,
    "context_size": 1, "embed_layer3_channels": 32,
}
NUM_TRAIN, NUM_TEST = 8, 3


def _names(yesno_dir: Path) -> tuple[list[str], list[str]]:
    names = sorted(p.name for p in yesno_dir.glob("*.wav"))
    return names[:NUM_TRAIN], names[-NUM_TEST:]


def _flags(values: dict) -> list[str]:
    out = []
    for name, value in values.items():
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        out += ["--" + name.replace("_", "-"), shown]
    return out


def _cuts(yesno_dir, names, storage):
    cuts = []
    for name in names:
        rec = Recording.from_file(yesno_dir / name)
        words = " ".join("YES" if b == "1" else "NO" for b in rec.id.split("_"))
        cut = rec.to_cut()
        cut.supervisions = [SupervisionSegment(rec.id, rec.id, 0.0, rec.duration, text=words)]
        cuts.append(cut)
    return CutSet.from_cuts(cuts).compute_and_store_features(
        make_fbank_extractor(23, sampling_rate=8000), storage_path=storage,
        storage_type=LilcomChunkyWriter)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, lang_dir, yesno_dir):
    """yesno manifests (8 training, 3 test utterances, 23-bin fbank) and an exp dir trained
    for one epoch by the recipe's train main with the UNUSUAL sizes."""
    root = tmp_path_factory.mktemp("self_describing")
    manifests = root / "fbank"
    manifests.mkdir()
    train_names, test_names = _names(yesno_dir)
    train_cuts = _cuts(yesno_dir, train_names, manifests / "train")
    train_cuts.to_file(manifests / "yesno_cuts_train.jsonl.gz")
    _cuts(yesno_dir, test_names, manifests / "test").to_file(manifests / "yesno_cuts_test.jsonl.gz")
    exp = root / "exp"
    train.main({"lang_dir": str(lang_dir)}, [
        "--exp-dir", str(exp), "--manifest-dir", str(manifests), "--num-epochs", "1",
        "--max-duration", "20", "--num-workers", "0", "--tensorboard", "0",
        "--enable-spec-aug", "0", "--bucketing-sampler", "0", "--save-every-n", "1000",
        "--valid-interval", "1000", "--average-period", "1", "--lr-warmup-batches", "1",
        *_flags(UNUSUAL)])
    return root, manifests, exp


def _decode_defaults(lang_dir, trained):
    root, manifests, exp = trained
    return {"lang_dir": str(lang_dir), "exp_dir": str(exp), "manifest_dir": str(manifests),
            "num_workers": 0}


def test_checkpoint_describes_model_vocabulary_and_features(trained, lang_dir, yesno_dir):
    _, _, exp = trained
    checkpoint = load_weights_only(exp / "epoch-1.pt", "checkpoint")
    config = checkpoint["model_config"]
    for name, value in UNUSUAL.items():
        assert config[name] == (list(value) if isinstance(value, tuple) else value), name
    sp = spm.SentencePieceProcessor(model_file=str(lang_dir / "bpe.model"))
    assert checkpoint["lang"]["vocab_size"] == config["vocab_size"] == sp.get_piece_size()
    assert checkpoint["lang"]["tokens"] == [sp.id_to_piece(i) for i in range(len(sp))]
    rate = sf.info(str(yesno_dir / _names(yesno_dir)[0][0])).samplerate
    assert checkpoint["features"]["sample_rate"] == rate == 8000
    assert checkpoint["features"]["num_mel_bins"] == 23


def test_decode_needs_no_model_flags_and_decodes_the_trained_model(trained, lang_dir):
    _, manifests, exp = trained
    # --max-duration 7: one utterance per batch, as the oracle decodes them
    summary = decode.main(_decode_defaults(lang_dir, trained),
                          ["--epoch", "1", "--avg", "1", "--max-duration", "7"])
    assert summary["greedy_search"]["test"]["words"] == 8 * NUM_TEST
    (recogs,) = (exp / "greedy_search").glob("recogs-test-*.txt")
    hyps = {}
    for line in recogs.read_text().splitlines():
        utt, field = line.split(":\t")
        if field.startswith("hyp="):
            hyps[utt] = ast.literal_eval(field[4:])

    sp = spm.SentencePieceProcessor(model_file=str(lang_dir / "bpe.model"))
    oracle = build_model(ZipformerConfig(vocab_size=sp.get_piece_size(), **UNUSUAL))
    average = read_checkpoint(exp / "epoch-1.pt")["model_avg"]  # --use-averaged-model 1
    oracle.load_state_dict({k: v.float() if v.is_floating_point() else v
                            for k, v in average.items()})
    oracle.eval()
    for cut in CutSet.from_file(manifests / "yesno_cuts_test.jsonl.gz"):
        feats = torch.from_numpy(cut.load_features())[None]
        with torch.no_grad():
            enc, lens = oracle.forward_encoder(feats, torch.tensor([feats.size(1)]))
        tokens = greedy_search_batch(oracle, enc, lens)[0]
        assert hyps[cut.id] == sp.decode(tokens).split()


def test_a_contradicting_model_flag_is_a_clear_error(trained, lang_dir):
    defaults = _decode_defaults(lang_dir, trained)
    with pytest.raises(ModelMismatchError,
                       match=r"--encoder-dim 64,64 contradicts .*epoch-1.pt.*--encoder-dim 48,32"):
        decode.main(defaults, ["--epoch", "1", "--avg", "1", "--encoder-dim", "64,64"])
    with pytest.raises(ModelMismatchError, match=r"--chunk-size applies to causal models"):
        decode.main(defaults, ["--epoch", "1", "--avg", "1", "--chunk-size", "16"])
    with pytest.raises(ValueError, match=r"needs a causal model.*epoch-1.pt"):
        streaming_decode.main(defaults, ["--epoch", "1", "--avg", "1"])


def test_pretrained_pt_from_export_transcribes_with_no_model_flags(trained, lang_dir, yesno_dir):
    _, _, exp = trained
    written = export.main({"lang_dir": str(lang_dir), "exp_dir": str(exp)},
                          ["--epoch", "1", "--avg", "1"])
    assert load_weights_only(written["pretrained"], "pretrained.pt")["features"][
        "num_mel_bins"] == 23
    wav = yesno_dir / _names(yesno_dir)[1][0]
    # 80-bin features (the flag's default) would not fit the 23-bin front end
    result = pretrained.main({}, ["--checkpoint", str(written["pretrained"]), "--bpe-model",
                                  str(lang_dir / "bpe.model"), str(wav)])
    assert set(result) == {str(wav)}
    with pytest.raises(ValueError, match=r"--sample-rate 16000 contradicts"):
        pretrained.main({}, ["--checkpoint", str(written["pretrained"]), "--bpe-model",
                             str(lang_dir / "bpe.model"), "--sample-rate", "16000", str(wav)])


def test_an_old_layout_checkpoint_says_what_to_do(tmp_path, trained, lang_dir):
    exp = tmp_path / "old"
    model = build_model(ZipformerConfig(vocab_size=14, **UNUSUAL))
    save_checkpoint(exp / "epoch-1.pt", model, model_avg=model.double(),
                    extra={"batch_idx_train": 2})
    defaults = {**_decode_defaults(lang_dir, trained), "exp_dir": str(exp)}
    with pytest.raises(OldCheckpointError, match=r"epoch-1.pt is a checkpoint of the older "
                                                 r"layout.*Train again"):
        decode.main(defaults, ["--epoch", "1", "--avg", "1"])


TRAINING_ONLY = ["--enable-spec-aug", "--spec-aug-time-warp-factor", "--enable-musan",
                 "--perturb-speed", "--dropout", "--base-lr", "--lr-epochs", "--seed",
                 "--world-size", "--ctc-blank-bias", "--num-epochs", "--use-fp16"]


@pytest.mark.parametrize("name,parser", [
    ("decode", lambda: decode.build_parser({}, "d")),
    ("streaming_decode", lambda: streaming_decode.build_parser({})),
    ("export", lambda: export.build_parser({})),
    ("pretrained", lambda: pretrained.build_parser({})),
])
def test_help_lists_only_the_scripts_own_options_each_default_once(name, parser):
    text = parser().format_help()
    for flag in TRAINING_ONLY + ["--encoder-dim", "--num-encoder-layers"]:
        # an option entry ("  --flag ...") or a usage item ("[--flag ...]")
        assert not re.search(rf"(^\s+|\[){flag}\b", text, re.M), f"{name} --help lists {flag}"
    flat = " ".join(text.split())
    assert not re.search(r"\(default: [^)]*\)\s*\(default", flat), name
    assert "--chunk-size" in text  # the override of a causal model
