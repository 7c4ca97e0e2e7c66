# The steps every egs/*/ASR/prepare.sh is made of (sourced after prepare_lib.sh). Each step
# leaves a .done marker next to its output holding the record of what it was made from (its
# options, the checksums of its input files and of the earlier steps' markers). A rerun with the
# same inputs is a no-op; with other inputs (another --dl-dir, vocabulary, LM, ...) the step
# says what changed and rebuilds, and so does every later step, whose records include it.
# Corpus-specific choices (splits, vocabulary, lexicon, LM) are the arguments.

# step_manifests CORPUS DL_DIR OUT_DIR ON_ERROR: validated lhotse manifests of every split.
step_manifests() {
  local corpus=$1 dl_dir=$2 out_dir=$3 on_error=$4
  local marker=$out_dir/.$corpus.done record
  # corpus_splits (set by a recipe whose splits are not the corpus's own, e.g. AN4's dev):
  # manifests of another split layout are rebuilt
  record=$(step_record step=manifests corpus="$corpus" dl_dir="$(realpath -m -- "$dl_dir")" \
    on_error="$on_error" splits="${corpus_splits:-}")
  is_done "$marker" "$record" && return 0
  # Splits of a corpus prepared from another download directory must not survive.
  rm -f "$out_dir/${corpus}"_{recordings,supervisions}_*.jsonl.gz
  run_python -m icefall_lite.data.prepare_manifests --corpus "$corpus" --dl-dir "$dl_dir" \
    --output-dir "$out_dir" --on-error "$on_error"
  mark_done "$marker" "$record"
}

# step_fbank CORPUS MANIFEST_DIR FBANK_DIR NUM_WORKERS [SPLIT_TO_SPEED_PERTURB...]
# The number of mel bins is the recipe's $num_mel_bins when it sets one, else 80.
step_fbank() {
  local corpus=$1 manifest_dir=$2 fbank_dir=$3 num_workers=$4
  shift 4
  local marker=$fbank_dir/.$corpus.done record
  # fbank_augment_noise_dir (set by a recipe's --augment 1): the speed copies are degraded
  local augment=()
  [[ -n ${fbank_augment_noise_dir:-} ]] && augment=(--augment-noise-dir "$fbank_augment_noise_dir")
  record=$(step_record step=fbank corpus="$corpus" num_mel_bins="${num_mel_bins:-80}" \
    perturb_speed_splits="$*" augment="${fbank_augment_noise_dir:-}" -- \
    "$manifest_dir/.$corpus.done")
  is_done "$marker" "$record" && return 0
  # An interrupted run's finished splits are kept; features of other inputs are not.
  [[ $inputs_changed == 1 ]] && rm -rf "$fbank_dir/${corpus}"_{cuts,feats}_*
  run_python -m icefall_lite.data.fbank --manifest-dir "$manifest_dir" --output-dir "$fbank_dir" \
    --prefix "$corpus" --num-workers "$num_workers" --num-mel-bins "${num_mel_bins:-80}" \
    "${augment[@]}" --perturb-speed-splits "$@"
  mark_done "$marker" "$record"
}

# step_transcripts CORPUS MANIFEST_DIR OUTPUT FALLBACK_TO_ALL(0|1) TRAIN_SPLIT...
step_transcripts() {
  local corpus=$1 manifest_dir=$2 output=$3 fallback=$4
  shift 4
  local record
  record=$(step_record step=transcripts corpus="$corpus" fallback_to_all="$fallback" \
    splits="$*" -- "$manifest_dir/.$corpus.done")
  is_done "$output.done" "$record" && return 0
  run_python -m icefall_lite.data.transcripts --manifest-dir "$manifest_dir" --prefix "$corpus" \
    --output "$output" --fallback-to-all "$fallback" --splits "$@"
  mark_done "$output.done" "$record"
}

# bpe_record TRANSCRIPT VOCAB_SIZE [prepare_bpe options...]: the record of step_bpe.
bpe_record() {
  local transcript=$1 vocab_size=$2
  shift 2
  step_record step=bpe vocab_size="$vocab_size" options="$*" -- "$transcript"
}

# step_bpe LANG_DIR TRANSCRIPT VOCAB_SIZE [prepare_bpe options...]
step_bpe() {
  local lang_dir=$1 transcript=$2 vocab_size=$3
  shift 3
  local record
  record=$(bpe_record "$transcript" "$vocab_size" "$@")
  is_done "$lang_dir/.bpe.done" "$record" && return 0
  lang_tool prepare_bpe --lang-dir "$lang_dir" --transcript "$transcript" \
    --vocab-size "$vocab_size" "$@"
  mark_done "$lang_dir/.bpe.done" "$record"
}

# step_lang LANG_DIR TRANSCRIPT (--bpe-model MODEL | --lexicon DICT): words, lexicon, L.
step_lang() {
  local lang_dir=$1 transcript=$2
  shift 2
  local record arg files=("$transcript")
  for arg in "$@"; do
    [[ $arg == --* ]] || files+=("$arg")
  done
  record=$(step_record step=lang options="$*" -- "${files[@]}")
  is_done "$lang_dir/.lang.done" "$record" && return 0
  lang_tool prepare_lang --lang-dir "$lang_dir" --transcript "$transcript" "$@"
  mark_done "$lang_dir/.lang.done" "$record"
}

# step_ngram TEXT ORDER ARPA: an n-gram LM estimated from TEXT.
step_ngram() {
  local text=$1 order=$2 arpa=$3
  local record
  record=$(step_record step=ngram order="$order" -- "$text")
  is_done "$arpa.done" "$record" && return 0
  mkdir -p "$(dirname "$arpa")"
  # ARPA may be a link to a --lm-dir file of an earlier run: never write through it.
  rm -f "$arpa"
  lang_tool make_ngram --text "$text" --order "$order" --out "$arpa"
  mark_done "$arpa.done" "$record"
}

# step_g_lg LANG_DIR ARPA G_NAME: G (OpenFst text) from the ARPA LM, then LG.pt.
step_g_lg() {
  local lang_dir=$1 arpa=$2 g_name=$3
  local record
  record=$(step_record step=G -- "$arpa" "$lang_dir/words.txt")
  if ! is_done "$lang_dir/.$g_name.done" "$record"; then
    lang_tool arpa_to_g --arpa "$arpa" --words "$lang_dir/words.txt" \
      --out "$lang_dir/$g_name.fst.txt"
    mark_done "$lang_dir/.$g_name.done" "$record"
  fi
  record=$(step_record step=LG -- "$lang_dir/$g_name.fst.txt" "$lang_dir/tokens.txt" \
    "$lang_dir/words.txt" "$lang_dir/lexicon_disambig.txt")
  if ! is_done "$lang_dir/.LG.done" "$record"; then
    lang_tool compile_lg --lang-dir "$lang_dir" --g "$lang_dir/$g_name.fst.txt"
    mark_done "$lang_dir/.LG.done" "$record"
  fi
}

# step_summary CORPUS MANIFEST_DIR LANG_DIR...: utterances/hours per split, vocabularies, LG size.
step_summary() {
  local corpus=$1 manifest_dir=$2
  shift 2
  run_python -m icefall_lite.data.summary --manifest-dir "$manifest_dir" --prefix "$corpus" \
    --lang-dirs "$@"
}

# HLG = H o LG (the CTC topology composed with LG) in each given lang dir; rebuilt when LG.pt
# changes (another G)
step_hlg() {
  local lang_dir record
  for lang_dir in "$@"; do
    record=$(step_record step=HLG -- "$lang_dir/LG.pt")
    if ! is_done "$lang_dir/.HLG.done" "$record"; then
      lang_tool compile_hlg --lang-dir "$lang_dir"
      mark_done "$lang_dir/.HLG.done" "$record"
    fi
  done
}
