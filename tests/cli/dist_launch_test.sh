#!/usr/bin/env bash
# Data-parallel LEAP through the CLI, as users launch it: 2 processes started by scripts/launch.sh
# (sharded optimizer) stop after 3 steps with a checkpoint; the run is resumed by torchrun with 3
# processes for 2 more steps, then finished by one process. The final pruned weights must be
# byte-identical to an uninterrupted single-process run (same final mask), and only rank 0 writes.
# Usage: dist_launch_test.sh LEAP_BINARY WORK_DIR [TORCHRUN]
set -euo pipefail
leap="$1"; work="$2"; torchrun="${3:-}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
launch="$here/../../scripts/launch.sh"
rm -rf "$work"; mkdir -p "$work"
args=(prune --model stories260k --method leap --sparsity 0.5 --steps 8 --global_batch 6 --seqlen 64
      --nsamples 4 --calib_seqlen 64 --device cpu --log_every 1 --bucket_mib 0.2)
"$leap" "${args[@]}" --save_model "$work/ref" > "$work/ref.log" 2>&1
ref_sha=$(sha256sum "$work/ref/model.safetensors" | cut -d' ' -f1)

out="$work/dp"
"$launch" -n 2 -- "$leap" "${args[@]}" --save_model "$out" --shard_optimizer --max_steps_per_run 3 > "$work/dp1.log" 2>&1
grep -q "optimizer state sharded over 2 ranks" "$work/dp1.log" || { echo "FAIL: no sharded 2-rank run"; cat "$work/dp1.log"; exit 1; }
ls "$out.leap_ckpt"/step_00000003/state.safetensors > /dev/null
if [[ -n "$torchrun" && -x "$torchrun" ]]; then
  "$torchrun" --no-python --nproc-per-node 3 "$leap" "${args[@]}" --save_model "$out" --resume --max_steps_per_run 2 \
    > "$work/dp2.log" 2>&1
  grep -q "replicated on 3 ranks" "$work/dp2.log" || { echo "FAIL: no 3-rank torchrun run"; cat "$work/dp2.log"; exit 1; }
  grep -q "resumed from .*step_00000003" "$work/dp2.log" || { echo "FAIL: torchrun run did not resume"; exit 1; }
  echo "torchrun: 3 ranks resumed from step 3"
fi
"$leap" "${args[@]}" --save_model "$out" --resume > "$work/dp3.log" 2>&1
grep -o "resumed from [^ ]*" "$work/dp3.log"
sha=$(sha256sum "$out/model.safetensors" | cut -d' ' -f1)
echo "uninterrupted: $ref_sha"
echo "2 ranks -> ${torchrun:+3 ranks -> }1 rank: $sha"
[[ "$sha" == "$ref_sha" ]] || { echo "FAIL: the final weights differ from the single-process run"; exit 1; }
# rank 0 alone logs progress: no step lines from other ranks
if grep -q "^\[rank 1\].*step 1/8" "$work/dp1.log"; then echo "FAIL: rank 1 logged training progress"; exit 1; fi
echo "dist launch: passed"
