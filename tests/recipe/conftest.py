"""Fixtures of the recipe tests: a tiny BPE lang dir, yesno wavs copied to a tmp dir, and tiny
yesno-sized transducers (non-streaming and causal) saved as fake epoch checkpoints.

Everything is built in pytest's tmp dirs; the yesno corpus (``corpus_dir`` of tests/conftest.py,
set by ``ICEFALL_LITE_DL_DIR``) is only read.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from icefall_lite.lang.bpe import train_bpe_model, write_bpe_tokens
from icefall_lite.models.asr_model import AsrModel, build_model
from icefall_lite.models.config import ZipformerConfig
from icefall_lite.recipe.model_info import model_description
from icefall_lite.training.checkpoint import save_checkpoint

#: The yesno recipe's model sizes (egs/yesno/ASR/zipformer/model_defaults.py), on 80-bin
#: features (the recipe itself uses 23 bins; these tests build their own features).
TINY = dict(
    num_encoder_layers=(1,) * 6, downsampling_factor=(1, 2, 4, 8, 4, 2), encoder_dim=(64,) * 6,
    encoder_unmasked_dim=(64,) * 6, feedforward_dim=(128,) * 6, num_heads=(4,) * 6,
    query_head_dim=(16,), value_head_dim=(8,), cnn_module_kernel=(15,) * 6, decoder_dim=64,
    joiner_dim=64,
)
#: The same as command-line options (what the recipe scripts get).
TINY_ARGS = [
    "--num-encoder-layers", "1,1,1,1,1,1", "--downsampling-factor", "1,2,4,8,4,2",
    "--encoder-dim", "64,64,64,64,64,64", "--encoder-unmasked-dim", "64,64,64,64,64,64",
    "--feedforward-dim", "128,128,128,128,128,128", "--num-heads", "4,4,4,4,4,4",
    "--query-head-dim", "16", "--value-head-dim", "8", "--cnn-module-kernel",
    "15,15,15,15,15,15", "--decoder-dim", "64", "--joiner-dim", "64",
]
WAV_NAMES = ["0_0_0_0_1_1_1_1.wav", "0_1_0_0_1_0_1_0.wav", "1_1_0_0_0_0_0_1.wav"]


@pytest.fixture(scope="session")
def lang_dir(tmp_path_factory) -> Path:
    """bpe.model (yesno's: BPE, 14 pieces) and tokens.txt trained on yesno-style transcripts."""
    d = tmp_path_factory.mktemp("lang_bpe_14")
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(["YES", "NO"], 8)) for _ in range(60)]
    (d / "transcript.txt").write_text("\n".join(lines) + "\n")
    train_bpe_model(d / "transcript.txt", d / "bpe.model", 14, model_type="bpe")
    write_bpe_tokens(d / "bpe.model", d / "tokens.txt")
    return d


@pytest.fixture(scope="session")
def lg_lang_dir(tmp_path_factory, lang_dir) -> Path:
    """A copy of ``lang_dir`` with words.txt, lexicons and LG.pt from a YES/NO unigram."""
    from icefall_lite.lang.grammar import arpa_to_g
    from icefall_lite.lang.lang_dir import build_lg, prepare_lang

    d = tmp_path_factory.mktemp("lang_bpe_14_lg")
    for name in ("transcript.txt", "bpe.model"):
        shutil.copyfile(lang_dir / name, d / name)
    prepare_lang(d, d / "transcript.txt", bpe_model=d / "bpe.model")
    (d / "G.arpa").write_text(
        "\\data\\\nngram 1=4\n\n\\1-grams:\n-99\t<s>\n-0.30103\t</s>\n"
        "-0.47712\tYES\n-0.47712\tNO\n\n\\end\\\n")
    arpa_to_g(d / "G.arpa", d / "words.txt", d / "G_1_gram.fst.txt")
    build_lg(d, d / "G_1_gram.fst.txt")
    return d


@pytest.fixture(scope="session")
def wav_dir(tmp_path_factory, corpus_dir) -> Path:
    d = tmp_path_factory.mktemp("wavs")
    for name in WAV_NAMES:
        shutil.copyfile(corpus_dir("waves_yesno") / name, d / name)
    return d


def make_tiny_model(vocab_size: int, causal: bool, seed: int) -> AsrModel:
    """A random tiny model whose joiner favours no symbol too much, so greedy search emits a
    varied, non-empty token sequence (a random joiner mostly emits blank or one token)."""
    torch.manual_seed(seed)
    model = build_model(ZipformerConfig(vocab_size=vocab_size, causal=causal, **TINY))
    with torch.no_grad():
        linear = model.joiner.output_linear
        linear.weight.mul_(8.0)
        linear.bias.zero_()
        linear.bias[0] = 1.0
    return model.eval()


def save_epochs(exp_dir: Path, models: list[AsrModel]) -> None:
    """``epoch-1.pt`` ... with the models' weights (``model_avg`` = the weights, in float64) and
    their description (8 kHz 80-bin fbank, as these tests compute it)."""
    for epoch, model in enumerate(models, 1):
        config = ZipformerConfig(vocab_size=model.decoder.vocab_size,
                                 causal=model.encoder.causal, **TINY)
        avg = build_model(config).double()
        avg.load_state_dict({k: v.double() if v.is_floating_point() else v
                             for k, v in model.state_dict().items()})
        description = model_description(
            config, {"vocab_size": config.vocab_size, "blank_id": 0, "sil_id": None},
            {"type": "fbank", "sample_rate": 8000, "num_mel_bins": 80})
        save_checkpoint(exp_dir / f"epoch-{epoch}.pt", model, model_avg=avg,
                        extra={"batch_idx_train": 10 * epoch, "cur_epoch": epoch,
                               **description})


@pytest.fixture(scope="session")
def vocab_size(lang_dir) -> int:
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=str(lang_dir / "bpe.model")).get_piece_size()


@pytest.fixture(scope="session")
def offline_exp(tmp_path_factory, vocab_size) -> tuple[Path, list[AsrModel]]:
    """exp dir with epoch-1.pt and epoch-2.pt of two different non-causal tiny models."""
    exp = tmp_path_factory.mktemp("exp")
    models = [make_tiny_model(vocab_size, causal=False, seed=s) for s in (1, 2)]
    save_epochs(exp, models)
    return exp, models


@pytest.fixture(scope="session")
def causal_exp(tmp_path_factory, vocab_size) -> tuple[Path, AsrModel]:
    """exp dir with epoch-1.pt of a causal tiny model (chunk 16, left context 64)."""
    exp = tmp_path_factory.mktemp("exp_causal")
    model = make_tiny_model(vocab_size, causal=True, seed=3)
    save_epochs(exp, [model])
    return exp, model
