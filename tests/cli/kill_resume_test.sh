#!/usr/bin/env bash
# Kill test: start `leap prune --method leap` on stories260k, SIGKILL it at a random moment after its
# first training checkpoint (possibly while it is writing the next one), resume, and check that the
# final pruned weights are byte-identical to an uninterrupted run with the same seed.
# Usage: kill_resume_test.sh LEAP_BINARY WORK_DIR [ROUNDS]
set -euo pipefail
leap="$1"; work="$2"; rounds="${3:-2}"
rm -rf "$work"; mkdir -p "$work"
args=(prune --model stories260k --method leap --sparsity 0.5 --steps 160 --global_batch 2 --seqlen 128
      --nsamples 8 --calib_seqlen 128 --device cpu --log_every 1000 --save_every 3)
"$leap" "${args[@]}" --save_model "$work/ref" > "$work/ref.log" 2>&1
ref_sha=$(sha256sum "$work/ref/model.safetensors" | cut -d' ' -f1)
for r in $(seq 1 "$rounds"); do
  out="$work/run$r"
  "$leap" "${args[@]}" --save_model "$out" > "$work/run$r.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do  # wait for the first complete checkpoint
    compgen -G "$out.leap_ckpt/step_*/state.json" > /dev/null && break
    sleep 0.05
  done
  sleep "$((RANDOM % 2)).$((RANDOM % 10))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [[ -e "$out" ]]; then echo "FAIL: round $r finished before the kill (the output folder exists)"; exit 1; fi
  "$leap" "${args[@]}" --save_model "$out" --resume >> "$work/run$r.log" 2>&1
  sha=$(sha256sum "$out/model.safetensors" | cut -d' ' -f1)
  resumed=$(grep -o "resumed from [^ ]*" "$work/run$r.log" || echo "not resumed")
  echo "round $r: $resumed; final weights $sha"
  [[ "$sha" == "$ref_sha" ]] || { echo "FAIL: resumed run differs from the uninterrupted one ($ref_sha)"; exit 1; }
done
echo "kill/resume: $rounds passed, 0 failed"
