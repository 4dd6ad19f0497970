#!/usr/bin/env bash
# variants.sh — the variant grid of issue "Beyond the paper" on a small model, over several seeds:
# the layer-wise methods with and without OWL budgets, plain LEAP, each LEAP variant alone
# (distillation, the OWL prior, ADMM reconstruction on the learned mask), their combination, and
# plain LEAP with 1.3x the steps (the wall time of a distilled run, whose steps cost ~1.3x), at
# each sparsity. An N:M entry of SPARSITIES (2:4, 4:8) runs the list at that pattern: LEAP with
# MaskLLM's logit scale (NM_FLAGS, default kappa 100 -> 500), no OWL runs (N:M fixes every group's
# density) and plain LEAP with 340 steps in place of 390 (at 2:4 on stories260k, less time than a
# distilled run). One `leap prune ... --eval_ppl_file` per (sparsity, run, seed); its JSON report is
# recorded in the repository under results/variants/<model>/<sparsity>/<run>/seed<k>.json (2:4 in
# .../2of4/...), so a recorded run is never repeated and the table can be rebuilt on any machine.
# At the end scripts/variants_report.py prints the table (mean ± s.e. over seeds, and each run minus
# plain LEAP paired by seed). It does not evaluate zero-shot tasks (the sweep does; stories260k is at chance on them).
#
# Usage: scripts/variants.sh [MODEL]     (default stories260k; a model leap knows by name or folder)
# Environment: SEEDS (default "0 1 2"), SPARSITIES (default "0.5 0.6"; N:M patterns too, e.g.
# "0.5 0.6 2:4"), NM_FLAGS (LEAP's flags at N:M), RUNS (names from the list below, default all),
# PPL_FILE / EVAL_SEQLEN (default data/tinystories/eval.txt at 512), PRUNE_FLAGS (more flags for
# every run), RESULTS_DIR (default results/variants), REPORT_ONLY=1 (run nothing), LEAP_BIN (a built
# binary).
# Runtime on 2 CPU cores (stories260k): ~5 s per layer-wise run, 40-60 s per LEAP run: ~42 min in all.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:-stories260k}"
seeds="${SEEDS:-0 1 2}"
sparsities="${SPARSITIES:-0.5 0.6}"
ppl_file="${PPL_FILE:-$root/data/tinystories/eval.txt}"
eval_seqlen="${EVAL_SEQLEN:-512}"
kept="${RESULTS_DIR:-$root/results/variants}/$(basename "$model")"
owl="--owl_m 5 --owl_lambda 0.08"        # the OWL paper's M and λ (METHOD.md §2.8)
distill="--distill_weight 0.5 --distill_temperature 2"
nm_flags="${NM_FLAGS:---kappa_start 100 --kappa_end 500}"   # MaskLLM's logit scale (RESULTS-variants.md)

# name|patterns|flags of every run (patterns: all, unstructured or nm); LEAP runs take the model's
# preset recipe (configs/models/<model>.json).
all_runs=(
  "wanda|all|--method wanda"
  "wanda+owl|unstructured|--method wanda $owl"
  "sparsegpt|all|--method sparsegpt"
  "admm|all|--method admm"
  "admm+owl|unstructured|--method admm $owl"
  "leap|all|--method leap"
  "leap+distill|all|--method leap $distill"
  "leap+owl|unstructured|--method leap $owl"
  "leap+reconstruct-admm|all|--method leap --reconstruct admm"
  "leap+distill+owl|unstructured|--method leap $distill $owl"
  "leap@390steps|unstructured|--method leap --steps 390"   # stories260k: 1.3 x its 300 steps, a distilled run's time
  "leap@340steps|nm|--method leap --steps 340"   # stories260k at 2:4: 59 s against a distilled run's 72 s
)
selected=" ${RUNS:-} "

if [[ "${REPORT_ONLY:-0}" != 1 ]]; then
  leap="${LEAP_BIN:-$("$root/scripts/build.sh" | tail -n 1)/leap}"
  [[ -f "$ppl_file" ]] || { echo "variants.sh: no perplexity file $ppl_file (PPL_FILE)" >&2; exit 1; }
  for s in $sparsities; do
    # the budget's flags, its pattern and its folder: 0.6 -> --sparsity 0.6 in 0.6/; 2:4 -> 2of4/
    if [[ "$s" =~ ^[0-9]+:[0-9]+$ ]]; then
      pattern=nm dir="${s/:/of}" budget="--sparsity_type $s"
    else
      pattern=unstructured dir="$s" budget="--sparsity $s"
    fi
    for run in "${all_runs[@]}"; do
      name="${run%%|*}" rest="${run#*|}"
      applies="${rest%%|*}" flags="${rest#*|}"
      [[ "$applies" == all || "$applies" == "$pattern" ]] || continue
      [[ -z "${RUNS:-}" || "$selected" == *" $name "* ]] || continue
      [[ "$pattern" == nm && "$flags" == "--method leap"* ]] && flags+=" $nm_flags"
      for seed in $seeds; do
        out="$kept/$dir/$name/seed$seed.json"
        [[ -f "$out" ]] && { echo "[variants] done    $out"; continue; }
        echo "[variants] running $s $name seed $seed"
        mkdir -p "$(dirname "$out")"
        # shellcheck disable=SC2086  # flags are word lists
        "$leap" prune --model "$model" $budget --seed "$seed" $flags ${PRUNE_FLAGS:-} \
          --eval_ppl_file "$ppl_file" --eval_seqlen "$eval_seqlen" --output_path "$out" \
          > "${out%.json}.log" 2>&1 || { echo "[variants] FAILED  ${out%.json}.log" >&2; exit 1; }
        rm -f "${out%.json}.log"   # the JSON report holds what the table needs
      done
    done
  done
fi
python3 "$root/scripts/variants_report.py" "$kept"
