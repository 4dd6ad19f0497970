#!/usr/bin/env bash
# LEAP trains from a dataset in the local HF hub cache (a fake cache tree of parquet shards made by
# tests/python/make_data_fixtures.py) through the token cache: the first run tokenises it, a second
# run reuses the cache, the start-up table names the source, its tokens and the epochs, and a run
# that would read its text more than once says so.
# Usage: hf_dataset_test.sh LEAP_BINARY WORK_DIR DATA_FIXTURES_DIR
set -euo pipefail
leap="$1"; work="$2"; fx="$3"
rm -rf "$work"; mkdir -p "$work"
export HF_HUB_CACHE="$fx/hub" LEAP_CACHE_DIR="$work/cache"
run() {  # run NAME FLAGS...
  local name="$1"; shift
  "$leap" prune --model stories260k --method leap --sparsity 0.5 --train_data leap-test/tiny --steps 2 \
    --global_batch 2 --seqlen 64 --nsamples 4 --calib_seqlen 64 --device cpu "$@" > "$work/$name.log" 2>&1 \
    || { cat "$work/$name.log"; echo "FAIL: $name"; exit 1; }
}
need() {  # need LOG PATTERN
  grep -q -- "$2" "$work/$1.log" || { cat "$work/$1.log"; echo "FAIL: $1.log lacks: $2"; exit 1; }
}
run first
need first "training text: leap-test/tiny (hf_dataset, split train, 2 parquet shards, [0-9.]* MB) in $fx/hub/datasets--leap-test--tiny/snapshots/a\{40\}$"
need first "| source  *| leap-test/tiny (hf_dataset, split train, 2 parquet shards"
need first "tokens *| 365756 "
need first "(built in "
need first "step 2/2"
run second
need second "(reused)"
need second "step 2/2"
[[ $(ls "$work/cache/tokens" | wc -l) == 1 ]] || { ls -la "$work/cache/tokens"; echo "FAIL: one cache file expected"; exit 1; }
run epochs --max_train_samples 3
need epochs "more than one epoch"
need epochs "this run reads | 4 blocks = 256 tokens = 1.33 epochs"
echo "hf dataset: passed"
