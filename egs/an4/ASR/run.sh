#!/usr/bin/env bash
# AN4 end to end: prepare -> train the causal Tiny-AN4 zipformer transducer -> decode the test set
# with every decoding method (full context) -> simulated and chunk-wise streaming decoding at two
# chunk sizes -> print the WER table of the dev and test sets (see RESULTS.md for what this gives).
#
# Usage: ./run.sh [--dl-dir DIR] [--stage N] [--stop-stage N] [--num-epochs N] [--avg N]
#                 [--max-wer PERCENT] [--seed N] [--exp-dir DIR]
#
#   --dl-dir     download root holding an4/ (read-only; see prepare.sh)
#   --seed       training seed (epoch N draws with seed + N - 1)
#   --exp-dir    the run's checkpoints and decoding results; several seeds, each in its own:
#                  for s in 1 2 3; do ./run.sh --seed $s --exp-dir zipformer/exp-seed$s; done
#                  python -m icefall_lite.recipe.report --exp-dir zipformer/exp-seed{1,2,3}
#                (the second prints each method's mean and spread over the runs)
#
# Stages: 0 prepare.sh   1 train   2 decode with every method   3 streaming decoding
#         (chunk 16 and 32, left context 128; greedy, modified beam, fast beam search), simulated
#         (decode.py: the whole utterance, chunk-limited attention) and chunk-wise
#         (streaming_decode.py)
#         4 WER table
#         5 robustness: the test set band-limited to telephone quality (8 kHz and back) and with
#           white noise at 10 dB SNR (icefall_lite.data.degrade), decoded with every method
#         6 CTC decoding with the model's CTC head, every CTC method (prepare.sh stages 9-10:
#           HLG, the 4-gram G), LM scales 0.1-1.0 for the rescoring methods
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

dl_dir=$PWD/download
stage=0
stop_stage=100
num_epochs=8
avg=1  # chosen on dev (zipformer/model_defaults.py, RESULTS.md)
max_wer=100
seed=42
exp_dir=zipformer/exp
option_names=(dl_dir stage stop_stage num_epochs avg max_wer seed exp_dir)
. ../../shared/prepare_lib.sh
. ../../shared/run_steps.sh
parse_options "$@"

if stage_enabled 0; then
  log "Stage 0: data preparation"
  ./prepare.sh --dl-dir "$dl_dir"
fi

if stage_enabled 1; then
  log "Stage 1: training for $num_epochs epochs"
  step_train --num-epochs "$num_epochs" --seed "$seed" --exp-dir "$exp_dir"
fi

if stage_enabled 2; then
  log "Stage 2: decoding with ${#decoding_methods[@]} methods"
  decode_args=(--exp-dir "$exp_dir")
  step_decode "$num_epochs" "$avg" "${decoding_methods[@]}"
fi

if stage_enabled 3; then
  log "Stage 3: streaming decoding"
  streaming_methods=(greedy_search modified_beam_search fast_beam_search)
  for chunk in 16 32; do
    # simulated: decode.py with chunk-limited attention; fast beam search with streaming_decode.py's
    # settings (icefall's streaming defaults), so that the two rows differ only in how the encoder
    # ran
    decode_args=(--exp-dir "$exp_dir" --chunk-size "$chunk" --left-context-frames 128 --beam 4
      --max-contexts 4 --max-states 32)
    step_decode "$num_epochs" "$avg" "${streaming_methods[@]}"
    decode_args=()
    for method in "${streaming_methods[@]}"; do
      log "streaming $method, chunk $chunk (epoch $num_epochs, avg $avg)"
      run_python zipformer/streaming_decode.py --exp-dir "$exp_dir" --epoch "$num_epochs" \
        --avg "$avg" --chunk-size "$chunk" --left-context-frames 128 --decoding-method "$method"
    done
  done
fi

if stage_enabled 4; then
  log "Stage 4: WER table"
  step_report "$exp_dir" "$max_wer"
fi
if stage_enabled 5; then
  log "Stage 5: robustness: telephone band, white noise at 10 dB SNR"
  for condition in telephone noise; do
    run_python -m icefall_lite.data.degrade --manifest-dir data/manifests --fbank-dir data/fbank \
      --prefix an4 --split test --condition "$condition" --snr 10 --noise-dir data/noise
  done
  decode_args=(--exp-dir "$exp_dir" --test-sets test-telephone,test-noise10db)
  step_decode "$num_epochs" "$avg" "${decoding_methods[@]}"
  decode_args=()
  step_report "$exp_dir" "$max_wer"
fi
if stage_enabled 6; then
  log "Stage 6: CTC decoding with every CTC method"
  run_python zipformer/ctc_decode.py --exp-dir "$exp_dir" --epoch "$num_epochs" --avg "$avg" \
    --lm-scales 0.1,0.3,0.5,0.7,1.0 --decoding-method \
    ctc-greedy-search,ctc-decoding,1best,nbest,nbest-rescoring,whole-lattice-rescoring,nbest-oracle
  step_report "$exp_dir" "$max_wer"
fi
log "run.sh done in $SECONDS s (stages $stage to $stop_stage)"
