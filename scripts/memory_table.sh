#!/usr/bin/env bash
# Prints the Markdown rows of docs/MEMORY.md's table: per-rank GiB while training each model of
# configs/models on 1, 2, 4 and 8 GPUs (bfloat16 weights, --seqlen 4096, --micro_batch 1), for three
# mask-state settings, from `leap prune --dry_run` (config.json or the preset's architecture only).
# Usage: scripts/memory_table.sh [LEAP_BINARY] [GPU_GIB]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
leap="${1:-$here/../build/leap}"; gib="${2:-80}"
for m in llama-3.2-1b llama-3.2-3b llama-3.1-8b qwen2.5-0.5b gemma-3-1b; do
  counts=$("$leap" prune --model "$m" --method leap --dry_run --device cuda | sed -n 2p | sed 's/^ *//; s/;.*//; s/ parameters, / \/ /; s/ masked//')
  for v in "float32|" "float32|--shard_optimizer" "bfloat16|--shard_optimizer --grad_checkpoint"; do
    md=${v%%|*}; fl=${v#*|}
    # shellcheck disable=SC2086
    line=$("$leap" prune --model "$m" --method leap --dry_run --device cuda --mask_dtype "$md" $fl | grep "per rank on")
    row="| $m | $counts | $md${fl:+ $fl} |"
    for w in 1 2 4 8; do
      g=$(sed -E "s/.* $w: ([0-9.]+) GiB.*/\1/" <<< "$line")
      if awk -v g="$g" -v b="$gib" 'BEGIN { exit !(g <= b) }'; then row+=" **$g** |"; else row+=" $g |"; fi
    done
    echo "$row"
  done
done
