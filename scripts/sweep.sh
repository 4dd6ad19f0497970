#!/usr/bin/env bash
# sweep.sh — model x method x sparsity (x sparsity type) grid, one cell per folder:
#   out/<model>/<type>/<sparsity>/<method>/{model/, leap_sparsity.json (inside model/), eval.json,
#   samples.jsonl (per-document results, for the paired LEAP − ADMM differences), prune.log, eval.log}
# Each finished cell's small files (eval.json, samples.jsonl, leap_sparsity.json, metrics.jsonl, prune.log)
# are recorded in the repository under results/<model>/<type>/<sparsity>/<method>/ (RECORD=0: not), so
# a sweep survives a new machine: a cell recorded there, or with eval.json in OUT, is skipped; an
# interrupted LEAP cell resumes from its training checkpoint (<cell>/model.leap_ckpt). The "dense"
# method evaluates the unpruned model once per type. METHODS="..." / SPARSITIES="..." in the
# environment run only those cells; REPORT_ONLY=1 runs none. The report always covers every finished
# cell of the preset's grid.
# At the end the comparison table (docs/RESULTS-<model>.md unless RESULTS_MD is set, plus .csv) and the
# per-block density figure are rebuilt with `leap report`.
#
# Usage: scripts/sweep.sh PRESET        (a file in scripts/presets/, e.g. stories260k, llama-3.2-1b,
#                                       or the path of a preset file)
# RESULTS_DIR (default results/) is where cells are recorded; LEAP_BIN a leap binary to use as it is.
# PAIRED (default "--paired leap:admm"; empty for none) goes to `leap report`.
# Expected runtime per cell (2 CPU cores, stories260k preset): magnitude/Wanda/SparseGPT/ADMM ~10 s,
# LEAP ~1 min, evaluation ~1 min (perplexity + six tasks at --limit 20). Llama-3.2-1B on one
# 80 GB GPU: layer-wise methods minutes, LEAP (2000 steps x 128 x 4096 tokens) about a day.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
preset="${1:?usage: scripts/sweep.sh PRESET (see scripts/presets/)}"
run_methods="${METHODS:-}" run_sparsities="${SPARSITIES:-}"
preset_file="$root/scripts/presets/$preset.sh"
[[ -f "$preset" ]] && preset_file="$preset"   # a preset file of one's own
[[ -f "$preset_file" ]] || { echo "sweep.sh: no preset $preset_file (see scripts/presets/)" >&2; exit 1; }
# shellcheck source=/dev/null
source "$preset_file"
: "${MODEL:?preset must set MODEL}" "${METHODS:?}" "${SPARSITIES:?}"
TYPES="${TYPES:-unstructured}"
OUT="${OUT:-$root/out}"
leap="${LEAP_BIN:-$("$root/scripts/build.sh" | tail -n 1)/leap}"   # LEAP_BIN: a built binary, no build step
kept_root="${RESULTS_DIR:-$root/results}"
name="$(basename "$MODEL")${TAG:+-$TAG}"   # TAG: a preset of variants keeps its cells apart
# The cells to run: the environment's METHODS / SPARSITIES, else the preset's whole grid.
run_methods="${run_methods:-$METHODS}" run_sparsities="${run_sparsities:-$SPARSITIES}"

# record_cell CELL DIR: copy a finished cell's small files into DIR (eval.json last: it marks DIR done).
record_cell() {
  local cell="$1" dir="$2" f
  mkdir -p "$dir"
  for f in samples.jsonl metrics.jsonl prune.log; do [[ -f "$cell/$f" ]] && cp "$cell/$f" "$dir/"; done
  [[ -f "$cell/model/leap_sparsity.json" ]] && cp "$cell/model/leap_sparsity.json" "$dir/"
  cp "$cell/eval.json" "$dir/eval.json"
}

# cell_dirs TYPE METHOD S: set cell (its working folder in OUT) and kept (its record in RESULTS_DIR).
cell_dirs() { cell="$OUT/$name/${1/:/-}/$3/$2" kept="$kept_root/$name/${1/:/-}/$3/$2"; }

# run_cell TYPE METHOD S: prune (resuming a LEAP cell) and evaluate into OUT, then record; a cell
# already recorded or evaluated is left as it is.
run_cell() {
  local type="$1" method="$2" s="$3" cell kept
  cell_dirs "$type" "$method" "$s"
  if [[ -f "$kept/eval.json" ]]; then
    echo "[sweep] done    $kept"; return 0
  elif [[ -f "$cell/eval.json" ]]; then
    echo "[sweep] done    $cell"
  elif [[ "${REPORT_ONLY:-0}" == 1 ]]; then
    echo "[sweep] missing $kept"; return 0
  else
    echo "[sweep] running $cell"
    mkdir -p "$cell"
    local target="$MODEL" resume=()
    if [[ "$method" != dense ]]; then
      # a resumed cell's log goes on after the interrupted run's (its time is the sum of the parts)
      if [[ -d "$cell/model.leap_ckpt" ]]; then
        resume=(--resume)
        echo "[sweep] --- resumed $(date -u '+%Y-%m-%d %H:%M:%S') UTC ---" >> "$cell/prune.log"
      else
        : > "$cell/prune.log"
      fi
      "$leap" prune --model "$MODEL" --method "$method" --sparsity "$s" --sparsity_type "$type" \
        --save_model "$cell/model" --log_file "$cell/metrics.jsonl" ${PRUNE_FLAGS:-} "${resume[@]}" \
        >> "$cell/prune.log" 2>&1 || { echo "[sweep] FAILED  $cell (see prune.log; rerun to resume)"; return 0; }
      target="$cell/model"
    fi
    "$leap" eval --model "$target" --tasks "$EVAL_TASKS" ${EVAL_FLAGS:-} --output_path "$cell/eval.json.tmp" \
      --log_samples "$cell/samples.jsonl" \
      > "$cell/eval.log" 2>&1 || { echo "[sweep] FAILED  $cell (see eval.log)"; return 0; }
    mv "$cell/eval.json.tmp" "$cell/eval.json"
  fi
  [[ "${RECORD:-1}" == 1 ]] && record_cell "$cell" "$kept"
  return 0
}

# grid METHODS SPARSITIES FN: FN TYPE METHOD S for every cell ("dense" once per type, at 0.0).
grid() {
  local type method s
  for type in $TYPES; do
    for method in $1; do
      if [[ "$method" == dense ]]; then "$3" "$type" dense 0.0; continue; fi
      for s in $2; do "$3" "$type" "$method" "$s"; done
    done
  done
}
grid "$run_methods" "$run_sparsities" run_cell

# The report covers every finished cell of the preset's grid, recorded (results/) or in OUT.
evals=()
add_eval() {
  local cell kept
  cell_dirs "$@"
  if [[ -f "$kept/eval.json" ]]; then evals+=("$kept/eval.json")
  elif [[ -f "$cell/eval.json" ]]; then evals+=("$cell/eval.json"); fi
  return 0
}
grid "$METHODS" "$SPARSITIES" add_eval
((${#evals[@]})) || { echo "[sweep] no finished cell to report" >&2; exit 1; }
results="${RESULTS_MD:-$root/docs/RESULTS-$name.md}"
mkdir -p "$(dirname "$results")"
# the figures of what the cells hold: per-block density (a pruned cell's leap_sparsity.json) and
# training curves (a LEAP cell's metrics.jsonl)
density=0 curves=0 plots=()
for e in "${evals[@]}"; do
  d="$(dirname "$e")"
  [[ -f "$d/leap_sparsity.json" || -f "$d/model/leap_sparsity.json" ]] && density=1
  [[ -f "$d/metrics.jsonl" ]] && curves=1
done
((density)) && plots+=(--plot "${results%.md}-density.svg")
((curves)) && plots+=(--plot "${results%.md}-loss.svg")
"$leap" report "${evals[@]}" --output "$results.table" --csv "${results%.md}.csv" ${PAIRED---paired leap:admm} "${plots[@]}"
{
  echo "# Results: $name"
  echo
  echo "Generated by \`scripts/sweep.sh $preset\` on $(date -u +%Y-%m-%d) (leap $("$leap" --version | cut -d' ' -f2-))."
  echo
  echo "${RESULTS_NOTE:-}"
  echo
  cat "$results.table"
  echo
  ((density)) && printf '![per-block density](%s)\n\n' "$(basename "${results%.md}-density.svg")"
  ((curves)) && printf '![training curves](%s)\n' "$(basename "${results%.md}-loss.svg")"
  if [[ -f "$(dirname "$results")/RESULTS-variants.md" ]]; then
    echo
    echo "Variants beyond the paper (learnable N:M masks, distillation, OWL, reconstruction): [RESULTS-variants.md](RESULTS-variants.md)"
  fi
} > "$results"
rm -f "$results.table"
echo "[sweep] wrote $results"
