#!/usr/bin/env bash
# Write errors (here a file-size limit, `ulimit -f`, as a full disk would) must be reported with the
# path and leave the previous state intact: the previous pruned model folder, the previous training
# checkpoints, no temporary leftovers or lock files. Also: a second leap writing the same output folder is refused.
# Usage: write_errors_test.sh LEAP_BINARY WORK_DIR
set -uo pipefail
leap="$1"; work="$2"
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
base=(prune --model stories260k --sparsity 0.5 --nsamples 4 --calib_seqlen 64 --device cpu)

# 1. the pruned model folder
"$leap" "${base[@]}" --method magnitude --save_model "$work/out" > "$work/1.log" 2>&1 || fail "first save"
before=$(sha256sum "$work/out/model.safetensors" | cut -d' ' -f1)
( ulimit -f 200; "$leap" "${base[@]}" --method wanda --save_model "$work/out" > "$work/2.log" 2>&1 ); rc=$?
[[ $rc -ne 0 ]] || fail "a write beyond the file-size limit succeeded"
grep -q "$work/out: writing the model folder failed, the previous content (if any) is untouched: .*model.safetensors: write failed: File too large" "$work/2.log" \
  || { cat "$work/2.log"; fail "the error does not name the folder, the file and the OS error"; }
after=$(sha256sum "$work/out/model.safetensors" | cut -d' ' -f1)
[[ "$before" == "$after" ]] || fail "the previous model was modified"
ls -a "$work" | grep -q "tmp" && fail "temporary files left: $(ls -a "$work")"
ls -a "$work" | grep -q "lock" && fail "lock files left after the runs ended: $(ls -a "$work")"
echo "model folder: write error reported with the path, previous model intact, no lock files left"

# 2. training checkpoints
leap_args=("${base[@]}" --method leap --steps 8 --global_batch 1 --seqlen 64 --save_every 2 --ckpt_dir "$work/ck")
"$leap" "${leap_args[@]}" --max_steps_per_run 2 > "$work/3.log" 2>&1 || fail "first LEAP run"
[[ -f "$work/ck/step_00000002/state.json" ]] || fail "no step 2 checkpoint"
ck_before=$(cat "$work/ck/step_00000002/"* | sha256sum)
( ulimit -f 500; "$leap" "${leap_args[@]}" --resume --max_steps_per_run 2 > "$work/4.log" 2>&1 ); rc=$?
[[ $rc -ne 0 ]] || fail "a checkpoint beyond the file-size limit was written"
grep -q "$work/ck: writing training checkpoint step_00000004 failed, the previous checkpoints are untouched: .*state.safetensors: write failed: File too large" "$work/4.log" \
  || { cat "$work/4.log"; fail "the error does not name the checkpoint folder and file"; }
[[ "$(cat "$work/ck/step_00000002/"* | sha256sum)" == "$ck_before" ]] || fail "step 2 checkpoint modified"
[[ -z "$(ls -a "$work/ck" | grep -v '^\.\.\?$' | grep -v '^step_00000002$')" ]] || fail "leftovers in ck: $(ls -a "$work/ck")"
"$leap" "${leap_args[@]}" --resume --max_steps_per_run 2 > "$work/5.log" 2>&1 || fail "resume after the failed write"
grep -q "resumed from $work/ck/step_00000002" "$work/5.log" || fail "did not resume from step 2"
echo "training checkpoints: write error reported with the path, step 2 intact, resumable"

# 3. two writers of one output folder
"$leap" "${base[@]}" --method leap --steps 400 --global_batch 1 --seqlen 64 --save_model "$work/busy" > "$work/6.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do [[ -f "$work/.busy.lock" ]] && break; sleep 0.05; done
sleep 0.5
"$leap" "${base[@]}" --method magnitude --save_model "$work/busy" > "$work/7.log" 2>&1; rc=$?
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
[[ $rc -ne 0 ]] || fail "the second writer was not refused"
grep -q "$work/busy: another leap process (pid $pid) is writing this output" "$work/7.log" || { cat "$work/7.log"; fail "unclear lock error"; }
echo "second writer: refused naming the output and the pid"
echo "write errors: passed"
