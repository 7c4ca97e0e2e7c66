#!/usr/bin/env bash
# LibriSpeech end to end: prepare -> train -> decode -> WER table.
#
# Usage: ./run.sh [--dl-dir DIR] [--lm-dir DIR] [--smoke 0|1] [--stage N] [--stop-stage N]
#                 [--num-epochs N] [--avg N] [--world-size N]
#
#   --dl-dir     download root holding LibriSpeech/<part>/ (read-only)
#   --lm-dir     directory with the ARPA 3-gram for G (see prepare.sh)
#   --smoke 1    a smoke test of the whole pipeline on whatever parts are present (e.g. the four
#                test-clean utterances): a tiny model trained for a few steps on test-clean, then
#                greedy search and fast_beam_search_nbest_LG on the same utterances. Its WER means
#                nothing; it shows that every stage runs.
#   --world-size the full recipe's DDP processes (icefall trains on 4 GPUs; see RESULTS.md)
#
# Stages: 0 prepare.sh   1 train   2 decode   3 WER table
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

dl_dir=$PWD/download
lm_dir=
smoke=0
stage=0
stop_stage=100
num_epochs=50
avg=25
world_size=4
option_names=(dl_dir lm_dir smoke stage stop_stage num_epochs avg world_size)
. ../../shared/prepare_lib.sh
. ../../shared/run_steps.sh
parse_options "$@"

train_args=(--world-size "$world_size" --max-duration 1000 --use-fp16 1)
methods=("${decoding_methods[@]}")
exp_dir=zipformer/exp
if [[ $smoke == 1 ]]; then
  exp_dir=zipformer/exp-smoke
  num_epochs=2
  avg=1
  smoke_model=(--num-encoder-layers 1,1,1,1,1,1 --encoder-dim 64,64,64,64,64,64
    --encoder-unmasked-dim 64,64,64,64,64,64 --feedforward-dim 128,128,128,128,128,128
    --num-heads 4,4,4,4,4,4 --query-head-dim 16 --value-head-dim 8 --decoder-dim 64
    --joiner-dim 64)
  smoke_data=(--test-sets test-clean --max-duration 30 --num-workers 0 --exp-dir $exp_dir)
  train_args=("${smoke_model[@]}" "${smoke_data[@]}" --train-split test-clean
    --valid-split test-clean --world-size 1)
  # the checkpoints describe the model: decode.py takes no model flags
  decode_args=("${smoke_data[@]}" --use-averaged-model 0)
  methods=(greedy_search fast_beam_search_nbest_LG)
fi

if stage_enabled 0; then
  log "Stage 0: data preparation"
  ./prepare.sh --dl-dir "$dl_dir" ${lm_dir:+--lm-dir "$lm_dir"}
fi

# prepare.sh records the BPE vocabulary it could build (500, or fewer on a small subset).
lang_dir=data/lang_bpe_$(cat data/local/bpe_vocab_size 2>/dev/null || echo 500)
train_args+=(--lang-dir "$lang_dir")
decode_args+=(--lang-dir "$lang_dir")

if stage_enabled 1; then
  log "Stage 1: training for $num_epochs epochs (${train_args[*]})"
  step_train --num-epochs "$num_epochs" "${train_args[@]}"
fi

if stage_enabled 2; then
  log "Stage 2: decoding with ${#methods[@]} methods"
  step_decode "$num_epochs" "$avg" "${methods[@]}"
fi

if stage_enabled 3; then
  log "Stage 3: WER table"
  step_report "$exp_dir" 100000
fi
log "run.sh done in $SECONDS s (stages $stage to $stop_stage)"
