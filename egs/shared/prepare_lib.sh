# Shared helpers for egs/*/ASR/prepare.sh (sourced, not run):
#   log MSG...             timestamped message with file:line, to stderr
#   parse_options "$@"     --some-name VALUE / --some-name=VALUE sets $some_name; the recipe lists
#                          its options (with defaults already assigned) in the array option_names
#   stage_enabled N        true when $stage <= N <= $stop_stage
#   is_done MARKER         true (and logs a skip) when the .done marker exists
#   mark_done MARKER       creates the marker once a step has finished
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

is_done() {
  if [[ -f $1 ]]; then
    log "already done ($1 exists): skipping"
    return 0
  fi
  return 1
}

mark_done() {
  mkdir -p "$(dirname "$1")"
  touch "$1"
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
