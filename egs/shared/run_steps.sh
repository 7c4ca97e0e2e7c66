# Steps shared by egs/*/ASR/run.sh (sourced after prepare_lib.sh, not run):
#   decoding_methods                 array of every decoding method's name (icefall's names)
#   step_train ARGS...               zipformer/train.py ARGS
#   step_decode EPOCH AVG METHODS... zipformer/decode.py per method; extra decode options go in
#                                    the array decode_args
#   step_report EXP_DIR MAX_WER      the WER/RTF table; fails when a WER is above MAX_WER

decoding_methods=(greedy_search beam_search modified_beam_search fast_beam_search
  fast_beam_search_LG fast_beam_search_nbest fast_beam_search_nbest_LG
  fast_beam_search_nbest_oracle)
decode_args=()

step_train() {
  run_python zipformer/train.py "$@"
}

step_decode() {
  local epoch=$1 avg=$2 method
  shift 2
  for method in "$@"; do
    log "decoding with $method (epoch $epoch, avg $avg)"
    run_python zipformer/decode.py --epoch "$epoch" --avg "$avg" --decoding-method "$method" \
      "${decode_args[@]}"
  done
}

step_report() {
  run_python -m icefall_lite.recipe.report --exp-dir "$1" --max-wer "$2"
}
