#!/usr/bin/env bash
# model_dir.sh — the folder of a model as leap resolves it (a short name from configs/models/, or a
# folder), for the benchmark scripts that hand the same model to a Python peer. Prints the folder,
# or fails naming the model.
# Usage: scripts/model_dir.sh LEAP_BINARY MODEL
set -euo pipefail
leap="$1"; model="$2"
dir="$("$leap" inspect model --model "$model" 2>/dev/null | sed -n 's/^| *folder *| *\([^ ]*\) .*/\1/p' | head -1)" || true  # a failed inspect leaves MODEL itself to check
[[ -n "$dir" ]] || dir="$model"
[[ -d "$dir" ]] || { echo "$(basename "$0"): model $model not found" >&2; exit 1; }
echo "$dir"
