# The steps every egs/*/ASR/prepare.sh is made of (sourced after prepare_lib.sh). Each step
# leaves a .done marker next to its output and does nothing when the marker exists, so a second
# run of a recipe is a no-op. Corpus-specific choices (splits, vocabulary, lexicon, LM) are the
# arguments.

# step_manifests CORPUS DL_DIR OUT_DIR ON_ERROR: validated lhotse manifests of every split.
step_manifests() {
  local corpus=$1 dl_dir=$2 out_dir=$3 on_error=$4
  is_done "$out_dir/.$corpus.done" && return 0
  run_python -m icefall_lite.data.prepare_manifests --corpus "$corpus" --dl-dir "$dl_dir" \
    --output-dir "$out_dir" --on-error "$on_error"
  mark_done "$out_dir/.$corpus.done"
}

# step_fbank CORPUS MANIFEST_DIR FBANK_DIR NUM_WORKERS [SPLIT_TO_SPEED_PERTURB...]
# The number of mel bins is the recipe's $num_mel_bins when it sets one, else 80.
step_fbank() {
  local corpus=$1 manifest_dir=$2 fbank_dir=$3 num_workers=$4
  shift 4
  is_done "$fbank_dir/.$corpus.done" && return 0
  run_python -m icefall_lite.data.fbank --manifest-dir "$manifest_dir" --output-dir "$fbank_dir" \
    --prefix "$corpus" --num-workers "$num_workers" --num-mel-bins "${num_mel_bins:-80}" \
    --perturb-speed-splits "$@"
  mark_done "$fbank_dir/.$corpus.done"
}

# step_transcripts CORPUS MANIFEST_DIR OUTPUT FALLBACK_TO_ALL(0|1) TRAIN_SPLIT...
step_transcripts() {
  local corpus=$1 manifest_dir=$2 output=$3 fallback=$4
  shift 4
  is_done "$output.done" && return 0
  run_python -m icefall_lite.data.transcripts --manifest-dir "$manifest_dir" --prefix "$corpus" \
    --output "$output" --fallback-to-all "$fallback" --splits "$@"
  mark_done "$output.done"
}

# step_bpe LANG_DIR TRANSCRIPT VOCAB_SIZE [prepare_bpe options...]
step_bpe() {
  local lang_dir=$1 transcript=$2 vocab_size=$3
  shift 3
  is_done "$lang_dir/.bpe.done" && return 0
  lang_tool prepare_bpe --lang-dir "$lang_dir" --transcript "$transcript" \
    --vocab-size "$vocab_size" "$@"
  mark_done "$lang_dir/.bpe.done"
}

# step_lang LANG_DIR TRANSCRIPT (--bpe-model MODEL | --lexicon DICT): words, lexicon, L.
step_lang() {
  local lang_dir=$1 transcript=$2
  shift 2
  is_done "$lang_dir/.lang.done" && return 0
  lang_tool prepare_lang --lang-dir "$lang_dir" --transcript "$transcript" "$@"
  mark_done "$lang_dir/.lang.done"
}

# step_ngram TEXT ORDER ARPA: an n-gram LM estimated from TEXT.
step_ngram() {
  local text=$1 order=$2 arpa=$3
  is_done "$arpa.done" && return 0
  mkdir -p "$(dirname "$arpa")"
  lang_tool make_ngram --text "$text" --order "$order" --out "$arpa"
  mark_done "$arpa.done"
}

# step_g_lg LANG_DIR ARPA G_NAME: G (OpenFst text) from the ARPA LM, then LG.pt.
step_g_lg() {
  local lang_dir=$1 arpa=$2 g_name=$3
  if ! is_done "$lang_dir/.$g_name.done"; then
    lang_tool arpa_to_g --arpa "$arpa" --words "$lang_dir/words.txt" \
      --out "$lang_dir/$g_name.fst.txt"
    mark_done "$lang_dir/.$g_name.done"
  fi
  if ! is_done "$lang_dir/.LG.done"; then
    lang_tool compile_lg --lang-dir "$lang_dir" --g "$lang_dir/$g_name.fst.txt"
    mark_done "$lang_dir/.LG.done"
  fi
}

# step_summary CORPUS MANIFEST_DIR LANG_DIR...: utterances/hours per split, vocabularies, LG size.
step_summary() {
  local corpus=$1 manifest_dir=$2
  shift 2
  run_python -m icefall_lite.data.summary --manifest-dir "$manifest_dir" --prefix "$corpus" \
    --lang-dirs "$@"
}

# HLG = H o LG (the CTC topology composed with LG) in each given lang dir
step_hlg() {
  local lang_dir
  for lang_dir in "$@"; do
    if ! is_done "$lang_dir/.HLG.done"; then
      lang_tool compile_hlg --lang-dir "$lang_dir"
      mark_done "$lang_dir/.HLG.done"
    fi
  done
}
