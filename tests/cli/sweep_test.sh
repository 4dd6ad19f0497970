#!/usr/bin/env bash
# scripts/sweep.sh on a tiny grid (stories260k: dense, magnitude and a 2-step LEAP at 50% and 60%,
# perplexity on 4 windows): cells are recorded in RESULTS_DIR and a recorded cell is never run
# again; METHODS/SPARSITIES run part of the grid while the table covers every finished cell;
# on a "new machine" (OUT gone) REPORT_ONLY=1 rebuilds the same table from the records alone;
# a grid without a LEAP cell has no training-curve figure (and no failure for its lack).
# Usage: sweep_test.sh LEAP SOURCE_DIR WORK_DIR
set -euo pipefail
leap="$1" src="$2" work="$3"
rm -rf "$work" && mkdir -p "$work"
cat > "$work/preset.sh" <<EOF
MODEL=stories260k
METHODS="dense magnitude leap"
SPARSITIES="0.5 0.6"
EVAL_TASKS="ppl"
EVAL_FLAGS="--ppl_file $src/data/tinystories/eval.txt --seqlen 64 --ppl_windows 4"
PRUNE_FLAGS="--nsamples 4 --calib_seqlen 64 --steps 2 --seqlen 64 --device cpu"
RESULTS_MD="$work/docs/RESULTS-t.md"
PAIRED=""
EOF
export LEAP_BIN="$leap" RESULTS_DIR="$work/results" OUT="$work/out"
sweep() { bash "$src/scripts/sweep.sh" "$work/preset.sh" > "$work/log.txt" 2>&1 || { cat "$work/log.txt"; exit 1; }; }
check() { grep -q -- "$1" "$2" || { cat "$2"; echo "sweep: expected '$1' in $2"; exit 1; }; }
refute() { if grep -q -- "$1" "$2"; then cat "$2"; echo "sweep: did not expect '$1' in $2"; exit 1; fi; }
table="$work/docs/RESULTS-t.md"
rec="$work/results/stories260k/unstructured"

# 1. part of the grid, no LEAP cell: recorded, tabulated, a density figure and no training curves
METHODS="dense magnitude" SPARSITIES=0.5 sweep
for f in eval.json prune.log leap_sparsity.json; do [[ -f "$rec/0.5/magnitude/$f" ]] || { echo "no $f recorded"; exit 1; }; done
[[ -f "$rec/0.0/dense/eval.json" ]] || { echo "dense not recorded"; exit 1; }
check "| dense |" "$table"; check "| magnitude 50% |" "$table"; refute "magnitude 60%" "$table"
check "per-block density" "$table"; refute "training curves" "$table"
[[ ! -e "$work/docs/RESULTS-t-loss.svg" ]] || { echo "a loss figure without a training cell"; exit 1; }

# 2. the whole grid: the two recorded cells are not run again, the other three are
sweep
check "done    $rec/0.0/dense" "$work/log.txt"; check "done    $rec/0.5/magnitude" "$work/log.txt"
[[ $(grep -c "running" "$work/log.txt") == 3 ]] || { cat "$work/log.txt"; echo "expected 3 cells run"; exit 1; }
[[ -f "$rec/0.6/leap/metrics.jsonl" ]] || { echo "LEAP's metrics.jsonl not recorded"; exit 1; }
for r in "| dense |" "| magnitude 50% |" "| magnitude 60% |" "| leap 50% |" "| leap 60% |"; do check "$r" "$table"; done
check "training curves" "$table"
sed 1,3d "$table" > "$work/full.md"

# 3. a new machine: OUT is gone; REPORT_ONLY rebuilds the same table from the records, running nothing
rm -rf "$work/out"
REPORT_ONLY=1 sweep
refute "running" "$work/log.txt"
sed 1,3d "$table" | cmp -s - "$work/full.md" || { diff <(sed 1,3d "$table") "$work/full.md"; echo "table changed"; exit 1; }

# 4. a cell without a record is reported missing and left out of the table, not run
rm -rf "$rec/0.6/magnitude"
REPORT_ONLY=1 sweep
check "missing $rec/0.6/magnitude" "$work/log.txt"; refute "magnitude 60%" "$table"; check "| leap 60% |" "$table"
[[ ! -e "$work/out/stories260k/unstructured/0.6/magnitude" ]] || { echo "REPORT_ONLY ran a cell"; exit 1; }
echo "sweep: 4 passed"
