"""egs/an4/ASR/zipformer/ctc_decode.py on a tiny setup: a random tiny model with a CTC head,
three yesno test utterances, a yesno BPE lang dir with HLG (lang/compile_hlg.py) and a bigram
G_4_gram.pt (lang/compile_g.py), every CTC method in one run.

Oracles: every summary's WER equals kaldialign's edit distance of the words in its recogs file;
ctc-greedy-search's words equal the arg-max path of the model's CTC output computed here (repeats
merged, blanks dropped, pieces joined by sentencepiece); the rescoring methods give one result per
LM scale with icefall's key names, and the method's sweep file lists them best first."""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import sys
from pathlib import Path

import kaldialign
import pytest
import sentencepiece as spm
import torch
from lhotse import CutSet, LilcomChunkyWriter, Recording, SupervisionSegment

from icefall_lite.data.fbank import make_fbank_extractor
from icefall_lite.fsa import load_fsa
from icefall_lite.models.asr_model import build_model
from icefall_lite.models.config import ZipformerConfig
from icefall_lite.recipe.model_info import model_description
from icefall_lite.training.checkpoint import save_checkpoint
from tests.recipe.conftest import TINY, WAV_NAMES

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
METHODS = ("ctc-greedy-search", "ctc-decoding", "1best", "nbest", "nbest-rescoring",
           "whole-lattice-rescoring", "nbest-oracle")
SCALES = (0.5, 1.0)


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def setup(tmp_path_factory, lg_lang_dir, wav_dir, vocab_size):
    root = tmp_path_factory.mktemp("ctc_decode")
    lang = root / "lang"
    lang.mkdir()
    for f in lg_lang_dir.iterdir():
        if f.is_file():
            (lang / f.name).write_bytes(f.read_bytes())
    hlg_tool = _load(ROOT / "lang/compile_hlg.py", "compile_hlg")
    hlg_tool.main(["--lang-dir", str(lang)])
    from icefall_lite.lang.grammar import arpa_to_g

    (lang / "G4.arpa").write_text(
        "\\data\\\nngram 1=4\nngram 2=3\n\n\\1-grams:\n-99\t<s>\t-0.3\n-0.30103\t</s>\n"
        "-0.47712\tYES\t-0.2\n-0.47712\tNO\t-0.2\n\n\\2-grams:\n-0.1\t<s> YES\n"
        "-0.2\tYES NO\n-0.3\tNO YES\n\n\\end\\\n")
    arpa_to_g(lang / "G4.arpa", lang / "words.txt", lang / "G_4_gram.fst.txt")
    _load(ROOT / "lang/compile_g.py", "compile_g").main(
        ["--g", str(lang / "G_4_gram.fst.txt"), "--words", str(lang / "words.txt"),
         "--out", str(lang / "G_4_gram.pt")])
    cuts = []
    for name in WAV_NAMES:
        rec = Recording.from_file(wav_dir / name)
        cut = rec.to_cut()
        words = " ".join("YES" if b == "1" else "NO" for b in rec.id.split("_"))
        cut.supervisions = [SupervisionSegment(rec.id, rec.id, 0.0, rec.duration, text=words)]
        cuts.append(cut)
    fbank = root / "fbank"
    fbank.mkdir()
    CutSet.from_cuts(cuts).compute_and_store_features(
        make_fbank_extractor(80, sampling_rate=8000), storage_path=fbank / "feats",
        storage_type=LilcomChunkyWriter).to_file(fbank / "yesno_cuts_test.jsonl.gz")
    torch.manual_seed(5)
    config = ZipformerConfig(vocab_size=vocab_size, causal=False, use_ctc=True, **TINY)
    model = build_model(config)
    with torch.no_grad():  # a peaky CTC head: short, varied token sequences
        model.ctc_output[1].weight.mul_(8.0)
        model.ctc_output[1].bias.zero_()
        model.ctc_output[1].bias[0] = 2.0
    model.eval()
    exp = root / "exp"
    description = model_description(
        config, {"vocab_size": vocab_size, "blank_id": 0, "sil_id": None},
        {"type": "fbank", "sample_rate": 8000, "num_mel_bins": 80})
    save_checkpoint(exp / "epoch-1.pt", model, model_avg=copy.deepcopy(model).double(),
                    extra={"batch_idx_train": 10, "cur_epoch": 1, **description})
    sys.path.insert(0, str(ROOT / "egs/an4/ASR/zipformer"))
    try:
        ctc_decode = _load(ROOT / "egs/an4/ASR/zipformer/ctc_decode.py", "an4_ctc_decode")
        summary = ctc_decode.main([
            "--corpus", "yesno", "--lang-dir", str(lang), "--test-sets", "test",
            "--manifest-dir", str(fbank), "--exp-dir", str(exp), "--epoch", "1", "--avg", "1",
            "--use-averaged-model", "0", "--decoding-method", ",".join(METHODS),
            "--num-paths", "10", "--nbest-scale", "0.5",
            "--lm-scales", ",".join(map(str, SCALES))])
    finally:
        sys.path.remove(str(ROOT / "egs/an4/ASR/zipformer"))
    return exp, lang, fbank, model, summary


def _recogs(path: Path) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for line in path.read_text().splitlines():
        utt, field = line.split(":\t")
        side, words = field.split("=", 1)
        out.setdefault(utt, {})[side] = ast.literal_eval(words)
    return out


def test_every_method_writes_summaries_whose_wer_is_the_recogs_edit_distance(setup):
    exp, *_, summary = setup
    assert set(summary) == set(METHODS)
    for method in METHODS:
        rows = summary[method]["test"]
        files = sorted((exp / method).glob("summary-test-*.json"))
        assert len(files) == len(rows) == (len(SCALES) if "rescoring" in method else 1)
        for f in files:
            row = json.loads(f.read_text())
            recogs = _recogs(exp / method / f"recogs-test-{row['settings']['key']}.txt")
            errors = sum(kaldialign.edit_distance(r["ref"], r["hyp"])["total"]
                         for r in recogs.values())
            words = sum(len(r["ref"]) for r in recogs.values())
            assert (row["errors"], row["words"]) == (errors, words) == (errors, 24)
            assert row["wer"] == round(100 * errors / words, 2)


def test_rescoring_sweeps_use_icefalls_keys_and_one_summary_lists_them_best_first(setup):
    exp, *_ = setup
    for method in ("nbest-rescoring", "whole-lattice-rescoring"):
        keys = {json.loads(f.read_text())["settings"]["key"].rsplit("_lm_scale_", 1)[1]
                for f in (exp / method).glob("summary-test-*.json")}
        assert keys == {str(s) for s in SCALES}
        lines = (exp / method / "wer-summary-test-epoch-1_avg-1.txt").read_text().splitlines()
        assert lines[0] == "settings\tWER" and len(lines) == 1 + len(SCALES)
        wers = [float(line.split("\t")[1]) for line in lines[1:]]
        assert wers == sorted(wers)
    oracle = list((exp / "nbest-oracle").glob("summary-test-*oracle_10_nbest_scale_0.5.json"))
    assert len(oracle) == 1


def test_greedy_search_words_are_the_argmax_path_of_the_ctc_head(setup):
    exp, lang, fbank, model, _ = setup
    sp = spm.SentencePieceProcessor(model_file=str(lang / "bpe.model"))
    recogs = _recogs(next((exp / "ctc-greedy-search").glob("recogs-test-*.txt")))
    for cut in CutSet.from_file(fbank / "yesno_cuts_test.jsonl.gz"):
        feats = torch.from_numpy(cut.load_features()).unsqueeze(0)
        with torch.no_grad():
            enc, lens = model.forward_encoder(feats, torch.tensor([feats.shape[1]]))
            best = model.ctc_output(enc)[0, : int(lens[0])].argmax(-1).tolist()
        tokens = [t for i, t in enumerate(best) if t != 0 and (i == 0 or best[i - 1] != t)]
        assert recogs[cut.id]["hyp"] == sp.decode(tokens).split()
    assert load_fsa(lang / "G_4_gram.pt").num_arcs > 0
