#!/usr/bin/env bash
# yesno (OpenSLR 1: 60 utterances of 8 Hebrew "yes"/"no" words, 8 kHz): data preparation.
#
# Usage: ./prepare.sh [--dl-dir DIR] [--stage N] [--stop-stage N] [--num-mel-bins N]
#                    [--vocab-size N] [--sil-piece 0|1] [--phone-g 1gram|uniform]
#                    [--phone-unk none|SPN]
#
#   --dl-dir      download root holding waves_yesno/ (with lhotse's .completed marker; read only);
#                 a directory that does not exist is an error
#   --download    1: stage 0 downloads yesno into --dl-dir when it is not there (0, the default:
#                 a missing corpus is an error)
#   --num-mel-bins  fbank bins (default 23, as icefall's yesno: 8 kHz audio has no use for 80; the
#                 model's --feature-dim must match)
#   --vocab-size  BPE vocabulary. The default 15 (byte-pair merges) makes "▁YES" and "▁NO" single
#                 tokens, next to <blk>, <sos/eos>, <unk>, <sil> and the letters, so the
#                 transducer emits one token per word (use 14 with --sil-piece 0).
#   --sil-piece   1 (default): the BPE model gets a <sil> piece (prepare_bpe.py --sil-piece 1)
#                 that the training and decoding scripts put between the words of every
#                 transcript, so the model emits it at each pause and a third YES in a row differs
#                 from the second to the decoder; decoding drops it, L has an optional <sil>
#                 between words, and the CTC head's targets leave it out. 0: plain words
#                 (RESULTS.md, Run 3 and "A pause token between words").
#   A phone lang dir (YES→Y, NO→N, as icefall's yesno recipe) is built too.
#   --phone-g     the phone lang dir's G (tdnn/ decodes with its HLG): 1gram (default) the
#                 1-gram estimated from the training transcripts (with an <unk> path when the
#                 lang dir has <unk>: --phone-unk SPN); uniform: icefall's yesno G, YES, NO and </s> equally likely and
#                 no <unk> (RESULTS.md, tdnn/)
#   --phone-unk   the phone lang dir's <unk>: none (default, icefall's yesno lang dir: tokens
#                 SIL, N, Y only; G's <unk> entry is skipped) or SPN (a <unk> word pronounced
#                 with an SPN token, as the phone lang dirs of other corpora). Chosen on dev:
#                 with SPN one seed in five fails (RESULTS.md, tdnn/)
#
# Stages (outputs under data/; finished steps leave .done markers recording their inputs, so a
# rerun is a no-op, and a rerun with other inputs, e.g. another --dl-dir, rebuilds what changed):
#   0 check / download (--download 1)   3 training transcripts   6 1-gram LM (yes/no are i.i.d.)
#   1 validated manifests               4 BPE model              7 G and LG for each lang dir
#   2 23-bin fbank                      5 lang dirs              8 summary
#   9 HLG for each lang dir             10 fbank with the training split's 0.9/1.1 speed copies
#                                          (data/fbank_sp, for tdnn/ as icefall's yesno TDNN)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

dl_dir=$PWD/download
stage=0
stop_stage=100
vocab_size=15
lm_order=1
on_error=raise
download=0
num_workers=1
num_mel_bins=23
sil_piece=1
phone_g=1gram
phone_unk=none
option_names=(dl_dir download stage stop_stage vocab_size lm_order on_error num_workers
  num_mel_bins sil_piece phone_g phone_unk)
. ../../shared/prepare_lib.sh
. ../../shared/prepare_steps.sh
parse_options "$@"
require_dl_dir 0 1
[[ $phone_g == 1gram || $phone_g == uniform ]] \
  || die "--phone-g must be 1gram or uniform (got '$phone_g')"
[[ $phone_unk == none || $phone_unk == SPN ]] \
  || die "--phone-unk must be none or SPN (got '$phone_unk')"

corpus=yesno
manifests=data/manifests
transcript=data/local/transcript_words.txt
lexicon=data/local/lexicon_phone.txt
lang_bpe=data/lang_bpe_$vocab_size
lang_phone=data/lang_phone
g_name=G_${lm_order}_gram
arpa=data/lm/$g_name.arpa
phone_g_name=$g_name
phone_arpa=$arpa
if [[ $phone_g == uniform ]]; then
  phone_g_name=G_uniform
  phone_arpa=data/lm/$phone_g_name.arpa
fi
log "dl_dir: $dl_dir; stages $stage to $stop_stage"

if stage_enabled 0; then
  log "Stage 0: yesno in $dl_dir (downloaded there with --download 1)"
  run_python -m icefall_lite.data.download --corpus $corpus --dl-dir "$dl_dir" \
    --allow-download "$download"
fi

if stage_enabled 1; then
  log "Stage 1: manifests"
  step_manifests $corpus "$dl_dir" $manifests "$on_error"
fi

if stage_enabled 2; then
  log "Stage 2: $num_mel_bins-bin fbank features"
  step_fbank $corpus $manifests data/fbank "$num_workers"
fi

if stage_enabled 3; then
  log "Stage 3: training transcripts"
  step_transcripts $corpus $manifests $transcript 0 train
fi

if stage_enabled 4; then
  log "Stage 4: BPE model, vocabulary $vocab_size (byte-pair merges)"
  step_bpe "$lang_bpe" $transcript "$vocab_size" --model-type bpe --sil-piece "$sil_piece"
fi

if stage_enabled 5; then
  log "Stage 5: lang dirs: BPE lexicon; phone lexicon YES→Y, NO→N"
  step_lang "$lang_bpe" $transcript --bpe-model "$lang_bpe/bpe.model"
  mkdir -p "$(dirname $lexicon)"
  [[ -f $lexicon ]] || printf 'NO N\nYES Y\n' > $lexicon
  step_lang $lang_phone $transcript --lexicon $lexicon --unk-phone "$phone_unk"
fi

if stage_enabled 6; then
  log "Stage 6: ${lm_order}-gram LM from the training transcripts"
  step_ngram $transcript "$lm_order" "$arpa"
  if [[ $phone_g == uniform ]]; then
    # icefall's yesno G: the two words and the sentence end equally likely, no <unk>
    cat > "$phone_arpa" <<'EOF'
\data\
ngram 1=4

\1-grams:
-99.0000000	<s>
-0.4771213	</s>
-0.4771213	NO
-0.4771213	YES

\end\
EOF
  fi
fi

if stage_enabled 7; then
  log "Stage 7: G and LG"
  step_g_lg "$lang_bpe" "$arpa" "$g_name"
  step_g_lg $lang_phone "$phone_arpa" "$phone_g_name"
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
  log "Stage 10: $num_mel_bins-bin fbank, training split with its speed copies (tdnn/)"
  step_fbank $corpus $manifests data/fbank_sp "$num_workers" train
fi
