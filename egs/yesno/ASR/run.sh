#!/usr/bin/env bash
# yesno end to end: prepare -> train a small zipformer transducer -> decode the test set with
# every decoding method -> print the WER table.
#
# Usage: ./run.sh [--dl-dir DIR] [--stage N] [--stop-stage N] [--num-epochs N] [--avg N]
#                 [--max-wer PERCENT]
#
#   --dl-dir     download root holding waves_yesno/ (read-only; see prepare.sh)
#   --max-wer    fail when a method's WER is above this (the CI test passes its threshold)
#
# Stages: 0 prepare.sh   1 train   2 decode with every method   3 WER table
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

dl_dir=$PWD/download
stage=0
stop_stage=100
num_epochs=8
avg=1
max_wer=100
option_names=(dl_dir stage stop_stage num_epochs avg max_wer)
. ../../shared/prepare_lib.sh
. ../../shared/run_steps.sh
parse_options "$@"

if stage_enabled 0; then
  log "Stage 0: data preparation"
  ./prepare.sh --dl-dir "$dl_dir"
fi

if stage_enabled 1; then
  log "Stage 1: training for $num_epochs epochs"
  step_train --num-epochs "$num_epochs"
fi

if stage_enabled 2; then
  log "Stage 2: decoding with ${#decoding_methods[@]} methods"
  step_decode "$num_epochs" "$avg" "${decoding_methods[@]}"
fi

if stage_enabled 3; then
  log "Stage 3: WER table"
  step_report zipformer/exp "$max_wer"
fi
log "run.sh done in $SECONDS s (stages $stage to $stop_stage)"
