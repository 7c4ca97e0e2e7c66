# Shared helpers for egs/*/ASR/prepare.sh (sourced, not run):
#   log MSG...             timestamped message with file:line, to stderr
#   parse_options "$@"     --some-name VALUE / --some-name=VALUE sets $some_name; the recipe lists
#                          its options (with defaults already assigned) in the array option_names
#   stage_enabled N        true when $stage <= N <= $stop_stage
#   require_dl_dir N...    stops with a clear message when one of the stages N (those reading
#                          $dl_dir) is enabled and $dl_dir does not exist, unless stage 0 runs
#                          with --download 1 ($download)
#   step_record K=V... [-- FILE...]  the record of a step's inputs: the K=V lines, then one
#                          "file PATH SHA256" line per FILE (a missing FILE is "missing")
#   is_done MARKER [RECORD]  true (and logs a skip) when the .done marker exists and holds
#                          RECORD. Otherwise the step is to run: RECORD goes to MARKER.inputs,
#                          and when the marker (or the MARKER.inputs of an unfinished run) holds
#                          another record, a log line says what changed and inputs_changed=1
#                          (the step then removes what it made from the old inputs)
#   mark_done MARKER [RECORD]  writes RECORD into the marker once a step has finished
#   run_python ARGS...     the main environment's python ($PYTHON, else $VIRTUAL_ENV, else the
#                          repository's .venv, else python3)
#   lang_tool NAME ARGS... runs lang/NAME.py of this repository
# Recipes source it with:  . "$(dirname "${BASH_SOURCE[0]}")/../../shared/prepare_lib.sh"

icefall_lite_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# file:line of the recipe line that led here (frames inside egs/shared are skipped).
_recipe_location() {
  local i
  for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
    if [[ ${BASH_SOURCE[i]} != */shared/prepare_*.sh ]]; then
      echo "${BASH_SOURCE[i]##*/}:${BASH_LINENO[i - 1]}"
      return
    fi
  done
  echo "${BASH_SOURCE[-1]##*/}"
}

log() {
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') ($(_recipe_location)) $*" >&2
}

die() {
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') ($(_recipe_location)) ERROR: $*" >&2
  exit 1
}

_print_usage() {
  # The script's header comment (after the shebang) is its usage text.
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
  echo "Options (current values):"
  local name
  for name in "${option_names[@]}"; do
    echo "  --${name//_/-} ${!name}"
  done
}

parse_options() {
  while [[ $# -gt 0 ]]; do
    local arg=$1 value name
    case $arg in
      -h|--help) _print_usage; exit 0 ;;
      --*=*) name=${arg%%=*}; value=${arg#*=}; shift ;;
      --*)
        [[ $# -ge 2 ]] || die "option $arg needs a value"
        name=$arg; value=$2; shift 2 ;;
      *) die "unexpected argument '$arg' (options look like --name value; see --help)" ;;
    esac
    name=${name#--}
    name=${name//-/_}
    local known=0 candidate
    for candidate in "${option_names[@]}"; do
      [[ $candidate == "$name" ]] && known=1
    done
    [[ $known == 1 ]] || die "unknown option --${name//_/-} (see --help)"
    printf -v "$name" '%s' "$value"
  done
}

stage_enabled() {
  [[ $stage -le $1 && $stop_stage -ge $1 ]]
}

require_dl_dir() {
  [[ -d $dl_dir ]] && return 0
  [[ ${download:-0} == 1 ]] && stage_enabled 0 && return 0
  local n
  for n in "$@"; do
    stage_enabled "$n" && die "--dl-dir $dl_dir does not exist (stage $n reads it): point" \
      "--dl-dir at the directory holding the corpus, or add --download 1 (stage 0) to" \
      "download it there"
  done
  return 0
}

step_record() {
  while [[ $# -gt 0 && $1 != -- ]]; do
    echo "$1"
    shift
  done
  [[ $# -gt 0 ]] && shift
  local file
  for file in "$@"; do
    if [[ -f $file ]]; then
      echo "file $file $(sha256sum < "$file" | cut -d' ' -f1)"
    else
      echo "file $file missing"
    fi
  done
}

inputs_changed=0
is_done() {
  local marker=$1 record=${2-} old= what=
  inputs_changed=0
  if [[ -f $marker ]]; then
    old=$(< "$marker")
    if [[ $old == "$record" ]]; then
      log "already done ($marker, same inputs): skipping"
      return 0
    fi
    what="$marker was made"
    rm -f "$marker"
  elif [[ -f $marker.inputs ]]; then
    old=$(< "$marker.inputs")
    [[ $old == "$record" ]] || what="an unfinished run (${marker##*/}.inputs) started"
  fi
  if [[ -n $what ]]; then
    log "$what from other inputs: rebuilding" \
      "\n  before: ${old//$'\n'/; }\n  now:    ${record//$'\n'/; }"
    inputs_changed=1
  fi
  mkdir -p "$(dirname "$marker")"
  printf '%s\n' "$record" > "$marker.inputs"
  return 1
}

mark_done() {
  mkdir -p "$(dirname "$1")"
  printf '%s\n' "${2-}" > "$1"
  rm -f "$1.inputs"
}

run_python() {
  local python=${PYTHON:-}
  if [[ -z $python ]]; then
    if [[ -n ${VIRTUAL_ENV:-} ]]; then
      python=$VIRTUAL_ENV/bin/python
    elif [[ -x $icefall_lite_root/.venv/bin/python ]]; then
      python=$icefall_lite_root/.venv/bin/python
    else
      python=python3
    fi
  fi
  "$python" "$@"
}

lang_tool() {
  local tool=$icefall_lite_root/lang/$1.py
  shift
  [[ -f $tool ]] || die "missing $tool (the lang tools of this repository)"
  run_python "$tool" "$@"
}
