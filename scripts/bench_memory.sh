#!/usr/bin/env bash
# Peak resident memory of LEAP training per rank against the memory model (docs/MEMORY.md), by
# default on a random Llama with hidden 1024 (scripts/make_bench_model.py): 1 process, 2 ranks
# replicated, 2 ranks with --shard_optimizer, float32 and bfloat16 mask state. Prints a Markdown table.
# glibc's allocator keeps freed blocks in its arenas (the peak then measures the allocator, not
# leap); the "exact" columns run with MALLOC_MMAP_THRESHOLD_=1048576, which returns every block of
# 1 MiB or more to the kernel on free, so the peak is the live set the model predicts.
# Usage: scripts/bench_memory.sh [LEAP_BINARY] [WORK_DIR] [MODEL]      (~5 minutes on 2 cores)
#   LEAP_MEMORY_CONFIGS="float32 1;float32 1 --optim adamw_8bit"   other rows: "MASK_DTYPE RANKS [FLAGS]"
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
leap="${1:-$here/../build/leap}"; work="${2:-$here/../out/bench}"
py="$("$here/setup.sh" --quiet | tail -1)/bin/python"
mkdir -p "$work"
model="${3:-$work/llama-h1024}"
[[ -n "${3:-}" || -f "$model/config.json" ]] || "$py" "$here/make_bench_model.py" "$model" > /dev/null
configs="${LEAP_MEMORY_CONFIGS:-float32 1;float32 2;float32 2 --shard_optimizer;bfloat16 1;bfloat16 2;bfloat16 2 --shard_optimizer}"
common=(prune --model "$model" --method leap --sparsity 0.5 --steps 3 --global_batch 2 --seqlen 256 --nsamples 4
        --calib_seqlen 256 --train_data "$here/../data/tinystories/train.txt" --device cpu)
echo "| mask state | ranks | optimizer | model estimate (MiB) | peak RSS per rank, glibc default (MiB) | peak RSS per rank, exact (MiB) | exact / estimate |"
echo "|---|---|---|---:|---:|---:|---:|"
IFS=';' read -r -a cfgs <<< "$configs"
for cfg in "${cfgs[@]}"; do
  # shellcheck disable=SC2086
  set -- $cfg; md=$1; n=$2; shift 2
  est=$(WORLD_SIZE=$n RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 "$leap" "${common[@]}" --mask_dtype "$md" "$@" --dry_run \
        | awk '/total while training  /{print $4}')
  est_mib=$(awk -v g="$est" 'BEGIN{printf "%.0f", g*1024}')
  run() { "$here/launch.sh" -n "$n" -- "$leap" "${common[@]}" --mask_dtype "$md" "$@" 2>&1 \
          | sed -n 's/.*peak resident memory while training: \([0-9, ]*\) MiB.*/\1/p'; }
  d=$(run "$@")
  x=$(MALLOC_MMAP_THRESHOLD_=1048576 run "$@")
  ratio=$(awk -v x="${x%%,*}" -v e="$est_mib" 'BEGIN{printf "%.2f", x/e}')
  opt=replicated; [[ " $* " == *" --shard_optimizer "* ]] && opt=sharded
  [[ " $* " == *" --optim adamw_8bit "* ]] && opt="$opt, 8-bit moments"
  echo "| $md | $n | $opt | $est_mib | $d | $x | $ratio |"
done
