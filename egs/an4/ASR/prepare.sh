#!/usr/bin/env bash
# AN4 (CMU census database, 948 train / 130 test utterances, 101 words): data preparation.
# Splits: train (819 utterances, 64 speakers), dev (129 utterances of 10 speakers held out of
# AN4's training set: icefall_lite.data.corpora.an4.DEV_SPEAKERS), test (AN4's 130).
#
# Usage: ./prepare.sh [--dl-dir DIR] [--stage N] [--stop-stage N] [--vocab-size N] ...
#
#   --dl-dir         download root holding an4/ (etc/ and wav/, as an4_sphere.tar.gz extracts);
#                    read only; a directory that does not exist is an error
#   --download       1: stage 0 downloads AN4 into --dl-dir when an4/ is not there (0, the
#                    default: a missing corpus is an error)
#   --vocab-size     BPE vocabulary (sentencepiece unigram): 101 = 100 pieces for AN4's letters,
#                    digits and words plus <sil> (sentencepiece allows at most about 114 pieces)
#   --lm-order       order of the n-gram LM estimated from the training transcripts
#   --perturb-speed  1: the training features include 0.9x and 1.1x speed-perturbed copies
#   --augment        1: those copies are degraded, one third each clean, band-limited to 8 kHz,
#                    and mixed with synthesised noise at 5-20 dB SNR (icefall_lite.data.degrade).
#                    Not the default: telephone-band / noisy WER falls from ~8x to <= 1.65x the
#                    clean WER, but clean WER rises 2.4-3.0 points (RESULTS.md)
#   --on-error       raise | skip: bad audio or transcripts stop the run, or are skipped, counted
#   --sil-piece      1 (default): the BPE model gets a <sil> pause piece that the scripts put
#                    between words (RESULTS.md, Run 7); 0: plain words (use --vocab-size 100)
#
# Stages (outputs under data/; finished steps leave .done markers recording their inputs, so a
# rerun is a no-op, and a rerun with other inputs, e.g. another --dl-dir, rebuilds what changed):
#   0 check / download (--download 1)           4 BPE model
#   1 validated manifests                       5 lang dirs: BPE lexicon; phone lexicon (an4.dic)
#   2 80-bin fbank                              6 n-gram ARPA LM from the training transcripts
#   3 training transcripts                      7 G and LG for each lang dir
#                                               8 summary
#                                               9 HLG for each lang dir (CTC decoding)
#                                              10 4-gram G for CTC lattice rescoring (BPE lang dir)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

dl_dir=$PWD/download
stage=0
stop_stage=100
vocab_size=101
lm_order=3
perturb_speed=1
augment=0
on_error=raise
download=0
num_workers=2
sil_piece=1
option_names=(dl_dir download stage stop_stage vocab_size lm_order perturb_speed augment on_error
  num_workers sil_piece)
. ../../shared/prepare_lib.sh
. ../../shared/prepare_steps.sh
parse_options "$@"
require_dl_dir 0 1 5

corpus=an4
corpus_splits="train dev test: dev = 10 speakers held out of train"
manifests=data/manifests
transcript=data/local/transcript_words.txt
lang_bpe=data/lang_bpe_$vocab_size
lang_phone=data/lang_phone
g_name=G_${lm_order}_gram
arpa=data/lm/$g_name.arpa
log "dl_dir: $dl_dir; stages $stage to $stop_stage"

if stage_enabled 0; then
  log "Stage 0: AN4 in $dl_dir (downloaded there with --download 1)"
  run_python -m icefall_lite.data.download --corpus $corpus --dl-dir "$dl_dir" \
    --allow-download "$download"
fi

if stage_enabled 1; then
  log "Stage 1: manifests"
  step_manifests $corpus "$dl_dir" $manifests "$on_error"
fi

if stage_enabled 2; then
  log "Stage 2: fbank features"
  perturb=()
  [[ $perturb_speed == 1 ]] && perturb=(train)
  fbank_augment_noise_dir=
  [[ $augment == 1 ]] && fbank_augment_noise_dir=data/noise
  step_fbank $corpus $manifests data/fbank "$num_workers" "${perturb[@]}"
fi

if stage_enabled 3; then
  log "Stage 3: training transcripts"
  step_transcripts $corpus $manifests $transcript 0 train
fi

if stage_enabled 4; then
  log "Stage 4: BPE model, vocabulary $vocab_size"
  step_bpe "$lang_bpe" $transcript "$vocab_size" --sil-piece "$sil_piece"
fi

if stage_enabled 5; then
  log "Stage 5: lang dirs: BPE lexicon, phone lexicon from an4.dic"
  step_lang "$lang_bpe" $transcript --bpe-model "$lang_bpe/bpe.model" --lexicon "$dl_dir/an4/etc/an4.dic"
  step_lang $lang_phone $transcript --lexicon "$dl_dir/an4/etc/an4.dic"
fi

if stage_enabled 6; then
  log "Stage 6: ${lm_order}-gram LM from the training transcripts"
  step_ngram $transcript "$lm_order" "$arpa"
fi

if stage_enabled 7; then
  log "Stage 7: G and LG"
  step_g_lg "$lang_bpe" "$arpa" "$g_name"
  step_g_lg $lang_phone "$arpa" "$g_name"
fi

if stage_enabled 8; then
  log "Stage 8: summary"
  step_summary $corpus $manifests "$lang_bpe" $lang_phone
fi

if stage_enabled 9; then
  log "Stage 9: HLG = H o LG (CTC topology, for the CTC decoding methods) for each lang dir"
  step_hlg "$lang_bpe" $lang_phone
fi

if stage_enabled 10; then
  log "Stage 10: 4-gram LM and its word acceptor G_4_gram.pt (zipformer/ctc_decode.py's rescoring)"
  step_ngram $transcript 4 data/lm/G_4_gram.arpa
  record=$(step_record step=G_4_gram -- data/lm/G_4_gram.arpa "$lang_bpe/words.txt")
  if ! is_done "$lang_bpe/.G_4_gram.done" "$record"; then
    lang_tool arpa_to_g --arpa data/lm/G_4_gram.arpa --words "$lang_bpe/words.txt" \
      --out "$lang_bpe/G_4_gram.fst.txt"
    lang_tool compile_g --g "$lang_bpe/G_4_gram.fst.txt" --words "$lang_bpe/words.txt" \
      --out "$lang_bpe/G_4_gram.pt"
    mark_done "$lang_bpe/.G_4_gram.done" "$record"
  fi
fi
