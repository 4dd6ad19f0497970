#!/usr/bin/env bash
# scripts/variants.sh on a tiny grid (stories260k, 50%, two seeds, 2-step LEAP runs, 64-token
# calibration, perplexity on 6 kB of the held-out text): each (run, seed) is recorded once and never
# run again; RUNS runs part of the list; the table gives n, mean ± s.e. over seeds and each run
# minus plain LEAP paired by seed (checked against the recorded reports); REPORT_ONLY=1 rebuilds the
# same table from the records alone; a record without a perplexity is refused, naming its file; a 2:4
# entry records under 2of4/ with LEAP at MaskLLM's logit scale and skips the OWL runs.
# Usage: variants_test.sh LEAP SOURCE_DIR WORK_DIR
set -euo pipefail
leap="$1" src="$2" work="$3"
rm -rf "$work" && mkdir -p "$work"
head -c 6000 "$src/data/tinystories/eval.txt" > "$work/eval.txt"   # ~20 windows of 64 tokens
export LEAP_BIN="$leap" RESULTS_DIR="$work/results" SEEDS="0 1" SPARSITIES=0.5 EVAL_SEQLEN=64
export PPL_FILE="$work/eval.txt"
export PRUNE_FLAGS="--nsamples 4 --calib_seqlen 64 --steps 2 --seqlen 64 --device cpu"
variants() { bash "$src/scripts/variants.sh" > "$work/log.txt" 2>&1 || { cat "$work/log.txt"; exit 1; }; }
check() { grep -q -- "$1" "$2" || { cat "$2"; echo "variants: expected '$1' in $2"; exit 1; }; }
rec="$work/results/stories260k/0.5"

# 1. two runs of the list: four reports recorded, no paired column without plain LEAP
RUNS="wanda leap+owl" variants
for r in wanda leap+owl; do for s in 0 1; do
  [[ -f "$rec/$r/seed$s.json" ]] || { echo "variants: $r seed $s not recorded"; exit 1; }
done; done
[[ $(grep -c "running" "$work/log.txt") == 4 ]] || { cat "$work/log.txt"; echo "expected 4 runs"; exit 1; }
check "| wanda | .* | 2 | 0.5000 | .* | – |" "$work/log.txt"
check "| leap+owl | .* | 2 | 0.5000 | .* | – |" "$work/log.txt"

# 2. plain LEAP added: only its two seeds run; leap+owl now has a paired difference equal to the
#    mean of its per-seed differences from the reports
RUNS="wanda leap+owl leap" variants
[[ $(grep -c "running" "$work/log.txt") == 2 ]] || { cat "$work/log.txt"; echo "expected 2 runs"; exit 1; }
check "done    $rec/wanda/seed1.json" "$work/log.txt"
want=$(python3 -c "
import json, sys
p = lambda r, s: json.load(open(f'$rec/{r}/seed{s}.json'))['eval']['ppl']
d = [p('leap+owl', s) - p('leap', s) for s in (0, 1)]
print(f'{sum(d) / 2:+.2f}'.replace('-', '−'))")
check "| leap+owl | .* | $want ± [0-9.]* |" "$work/log.txt"
grep "^|" "$work/log.txt" > "$work/table1.txt"

# 3. a new machine: the table from the records alone, the same
REPORT_ONLY=1 LEAP_BIN=/nonexistent variants
grep "^|" "$work/log.txt" > "$work/table2.txt"
diff "$work/table1.txt" "$work/table2.txt" || { echo "variants: REPORT_ONLY gave another table"; exit 1; }

# 4. a record without a perplexity
echo '{"seed": 2, "achieved_sparsity": {"overall": 0.5}, "prune_seconds": 1}' > "$rec/wanda/seed2.json"
if REPORT_ONLY=1 bash "$src/scripts/variants.sh" > "$work/log.txt" 2>&1; then
  cat "$work/log.txt"; echo "variants: a record without eval.ppl was accepted"; exit 1
fi
check "wanda/seed2.json: no eval.ppl" "$work/log.txt"

# 5. an N:M budget: recorded under 2of4/, LEAP at 2:4 with MaskLLM's logit scale, no OWL run there
rm "$rec/wanda/seed2.json"
SPARSITIES=2:4 SEEDS=0 RUNS="wanda+owl leap" variants
[[ $(grep -c "running" "$work/log.txt") == 1 ]] || { cat "$work/log.txt"; echo "expected 1 run at 2:4"; exit 1; }
[[ ! -e "$work/results/stories260k/2of4/wanda+owl" ]] || { echo "variants: an OWL run at 2:4"; exit 1; }
python3 - "$work/results/stories260k/2of4/leap/seed0.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["config"]
assert r["pattern"] == "2:4" and r["achieved_sparsity"]["overall"] == 0.5, (r["pattern"], r["achieved_sparsity"])
assert (c["kappa_start"], c["kappa_end"]) == (100, 500), (c["kappa_start"], c["kappa_end"])
PY
check "| run (2of4) |" "$work/log.txt"
check "| run (0.5) |" "$work/log.txt"
echo "variants: 5 passed"
