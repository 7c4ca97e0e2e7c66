# Steps shared by egs/*/ASR/run.sh (sourced after prepare_lib.sh, not run):
#   decoding_methods                 array of every decoding method's name (icefall's names)
#   step_train ARGS...               zipformer/train.py ARGS under with_heap_malloc
#   with_heap_malloc CMD...          CMD with glibc malloc kept off mmap and never trimmed, so
#                                    freed memory is reused; USE_HEAP_MALLOC=0 turns it off
#   step_decode EPOCH AVG METHODS... one zipformer/decode.py run (one model load) for all the
#                                    methods; extra decode options go in the array decode_args
#   step_report EXP_DIR MAX_WER      the WER/RTF table; fails when a WER is above MAX_WER

decoding_methods=(greedy_search beam_search modified_beam_search fast_beam_search
  fast_beam_search_LG fast_beam_search_nbest fast_beam_search_nbest_LG
  fast_beam_search_nbest_oracle)
decode_args=()

# A CPU training step allocates and frees many activation tensors of 10-100 MB. glibc's malloc
# serves those with mmap and returns them with munmap, so every step faults the same pages in
# again: a third of AN4's training CPU time was system time (egs/an4/ASR/RESULTS.md). These glibc
# tunables keep every allocation on the heap and never give it back, so freed memory is reused
# (measured: a ~1.6x faster AN4 step, resident memory flat at ~3.8 GB). jemalloc without page
# purging was as fast but its resident memory grew by ~3 GB a minute.
with_heap_malloc() {
  if [[ ${USE_HEAP_MALLOC:-1} != 0 ]]; then
    MALLOC_MMAP_MAX_=${MALLOC_MMAP_MAX_:-0} \
      MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-68719476736} \
      MALLOC_TOP_PAD_=${MALLOC_TOP_PAD_:-268435456} "$@"
  else
    "$@"
  fi
}

step_train() {
  with_heap_malloc run_python zipformer/train.py "$@"
}

step_decode() {
  local epoch=$1 avg=$2
  shift 2
  local methods
  methods=$(IFS=,; echo "$*")
  log "decoding with $methods (epoch $epoch, avg $avg): one model load"
  run_python zipformer/decode.py --epoch "$epoch" --avg "$avg" --decoding-method "$methods" \
    "${decode_args[@]}"
}

step_report() {
  run_python -m icefall_lite.recipe.report --exp-dir "$1" --max-wer "$2"
}
