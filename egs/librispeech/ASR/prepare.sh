#!/usr/bin/env bash
# LibriSpeech (OpenSLR 12): data preparation. Runs end to end on any subset of parts, e.g. the
# four test-clean utterances of a smoke test.
#
# Usage: ./prepare.sh [--dl-dir DIR] [--lm-dir DIR] [--stage N] [--stop-stage N] [--vocab-size N]
#
#   --dl-dir      download root holding LibriSpeech/<part>/ (each part with lhotse's .completed);
#                 every part present is prepared; a directory that does not exist is an error
#   --download    1: stage 0 downloads LibriSpeech into --dl-dir when LibriSpeech/ is missing
#                 (0, the default: a missing corpus is an error)
#   --lm-dir      directory with the ARPA LM for G (3-gram.pruned.1e-7.arpa, or its only *.arpa).
#                 Empty: a 3-gram is estimated from the training transcripts (smoke tests)
#   --vocab-size  BPE vocabulary (default 500). When sentencepiece allows fewer pieces on the
#                 available transcripts, the largest allowed size is used, with a log line
#
# The training transcripts are those of the train-* parts, or of every part when none is present.
# Stages (outputs under data/; finished steps leave .done markers recording their inputs, so a
# rerun is a no-op, and a rerun with other inputs, e.g. another --dl-dir, rebuilds what changed):
#   0 check / download (--download 1)   3 training transcripts   6 ARPA LM (--lm-dir or estimated)
#   1 validated manifests               4 BPE model              7 G and LG
#   2 80-bin fbank (train-* 0.9/1.1)    5 lang dir (BPE)         8 summary
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

dl_dir=$PWD/download
lm_dir=
stage=0
stop_stage=100
vocab_size=500
perturb_speed=1
on_error=raise
download=0
num_workers=2
option_names=(dl_dir download lm_dir stage stop_stage vocab_size perturb_speed on_error
  num_workers)
. ../../shared/prepare_lib.sh
. ../../shared/prepare_steps.sh
parse_options "$@"
require_dl_dir 0 1

corpus=librispeech
train_parts=(train-clean-100 train-clean-360 train-other-500)
manifests=data/manifests
transcript=data/local/transcript_words.txt
bpe_size_file=data/local/bpe_vocab_size
g_name=G_3_gram
arpa=data/lm/$g_name.arpa
log "dl_dir: $dl_dir; lm_dir: ${lm_dir:-none}; stages $stage to $stop_stage"

if stage_enabled 0; then
  log "Stage 0: LibriSpeech in $dl_dir (downloaded there with --download 1)"
  run_python -m icefall_lite.data.download --corpus $corpus --dl-dir "$dl_dir" \
    --allow-download "$download"
fi

if stage_enabled 1; then
  log "Stage 1: manifests of every part present"
  step_manifests $corpus "$dl_dir" $manifests "$on_error"
fi

if stage_enabled 2; then
  log "Stage 2: fbank features"
  perturb=()
  [[ $perturb_speed == 1 ]] && perturb=("${train_parts[@]}")
  step_fbank $corpus $manifests data/fbank "$num_workers" "${perturb[@]}"
fi

if stage_enabled 3; then
  log "Stage 3: training transcripts"
  step_transcripts $corpus $manifests $transcript 1 "${train_parts[@]}"
fi

if stage_enabled 4; then
  log "Stage 4: BPE model, vocabulary $vocab_size"
  size_record=$(bpe_record $transcript "$vocab_size")
  if ! is_done $bpe_size_file.done "$size_record"; then
    # Few transcripts support fewer pieces than asked: sentencepiece names the maximum.
    bpe_log=data/local/prepare_bpe_$vocab_size.log
    mkdir -p data/local
    if lang_tool prepare_bpe --lang-dir data/lang_bpe_$vocab_size --transcript $transcript \
        --vocab-size "$vocab_size" 2> $bpe_log; then
      cat $bpe_log >&2
      size=$vocab_size
    else
      size=$(grep -o 'value <= [0-9]*' $bpe_log | grep -o '[0-9]*$' | tail -n 1 || true)
      [[ -n $size ]] || { cat $bpe_log >&2; die "prepare_bpe failed (log: $bpe_log)"; }
      log "sentencepiece allows at most $size pieces on these transcripts: vocabulary $size" \
        "instead of $vocab_size"
      rm -rf data/lang_bpe_$vocab_size
      step_bpe data/lang_bpe_$size $transcript "$size"
    fi
    mark_done data/lang_bpe_$size/.bpe.done "$(bpe_record $transcript "$size")"
    echo "$size" > $bpe_size_file
    mark_done $bpe_size_file.done "$size_record"
  fi
fi
lang_bpe=data/lang_bpe_$(cat $bpe_size_file 2>/dev/null || echo "$vocab_size")

if stage_enabled 5; then
  log "Stage 5: lang dir (BPE lexicon)"
  step_lang "$lang_bpe" $transcript --bpe-model "$lang_bpe/bpe.model"
fi

if stage_enabled 6; then
  log "Stage 6: ARPA LM"
  if [[ -n $lm_dir ]]; then
    source_arpa=$lm_dir/3-gram.pruned.1e-7.arpa
    if [[ ! -f $source_arpa ]]; then
      shopt -s nullglob
      candidates=("$lm_dir"/*.arpa)
      shopt -u nullglob
      [[ ${#candidates[@]} == 1 ]] ||
        die "--lm-dir $lm_dir: expected 3-gram.pruned.1e-7.arpa or exactly one *.arpa"
      source_arpa=${candidates[0]}
    fi
    source_arpa=$(realpath -- "$source_arpa")
    lm_record=$(step_record step=lm-dir source="$source_arpa")
    if ! is_done $arpa.done "$lm_record"; then
      log "G from $source_arpa"
      mkdir -p "$(dirname $arpa)"
      ln -sfn "$source_arpa" $arpa
      mark_done $arpa.done "$lm_record"
    fi
  else
    log "no --lm-dir: estimating a 3-gram from the training transcripts (smoke test only)"
    step_ngram $transcript 3 $arpa
  fi
fi

if stage_enabled 7; then
  log "Stage 7: G and LG"
  step_g_lg "$lang_bpe" $arpa $g_name
fi

if stage_enabled 8; then
  log "Stage 8: summary"
  step_summary $corpus $manifests "$lang_bpe"
fi
