#!/usr/bin/env bash
# bench_eval.sh — `leap eval` against lm-evaluation-harness (HF transformers, float32) on the same
# model, local task files, batch size and thread count: wall time of each whole process (model load
# included) for the five zero-shot tasks and for MMLU, with leap's token-tree rows (the default) and
# with one causal row per input (--share_prefixes=false), and the largest per-document
# log-likelihood difference between leap and lm-eval. lm-eval runs at batch size 1 and at leap's
# (padding costs it more than batching gains on a CPU); the ratio is against its faster run.
# Prints a Markdown table; nothing here is a test.
# Usage: scripts/bench_eval.sh [MODEL] [LIMIT] [MMLU_LIMIT]   (default smollm2-135m, 200, 10)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:-smollm2-135m}"; limit="${2:-200}"; mmlu_limit="${3:-10}"
build="${LEAP_BUILD_DIR:-$root/build}"
venv="$("$root/scripts/setup.sh" --quiet | tail -1)"
threads="${LEAP_BENCH_THREADS:-$(nproc)}"
batch="${LEAP_BENCH_BATCH:-8}"
work="$root/out/bench_eval"; rm -rf "$work"; mkdir -p "$work"
dir="$("$root/scripts/model_dir.sh" "$build/leap" "$model")"
five="piqa,arc_easy,arc_challenge,winogrande,openbookqa"
export OMP_NUM_THREADS="$threads"
run_leap() {  # name tasks extra-flags...
  local name="$1" tasks="$2"; shift 2
  local s e
  s=$(date +%s.%N)
  "$build/leap" eval --model "$dir" --tasks "$tasks" --limit "$limit" --mmlu_limit "$mmlu_limit" --batch_size "$batch" \
    --data_dir "$root/data" --log_samples "$work/$name.jsonl" --output_path "$work/$name.json" "$@" \
    > "$work/$name.log" 2>&1
  e=$(date +%s.%N)
  echo "$name $(echo "$e - $s" | bc)" >> "$work/times"
}
echo "[bench_eval] leap, token trees" >&2
run_leap leap_five "$five"; run_leap leap_mmlu mmlu
echo "[bench_eval] leap, one row per input" >&2
run_leap plain_five "$five" --share_prefixes=false; run_leap plain_mmlu mmlu --share_prefixes=false
echo "[bench_eval] lm-eval" >&2
HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error PYTHONPATH="$root/tests/python" "$venv/bin/python" - "$dir" "$root/data" \
  "$five" "$limit" "$mmlu_limit" "$batch" "$threads" "$work" <<'PY'
import json, os, sys, time
model_dir, data, five, limit, mmlu_limit, batch, threads, work = sys.argv[1:]
import torch
torch.set_num_threads(int(threads))
import lmeval_local_datasets
lmeval_local_datasets.install(data)
import lm_eval
for name, tasks, lim in [("lmeval_five", five.split(","), int(limit)), ("lmeval_mmlu", ["mmlu"], int(mmlu_limit))]:
    out = {"seconds": {}}
    for bs in sorted({1, int(batch)}):
        s = time.perf_counter()
        res = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={model_dir},dtype=float32", tasks=tasks,
                                      limit=lim, device="cpu", batch_size=bs, log_samples=True, bootstrap_iters=0)
        out["seconds"][str(bs)] = time.perf_counter() - s  # without Python's imports; leap's start-up is in leap's
        out["acc"] = {k: v.get("acc,none") for k, v in res["results"].items()}
        out["lls"] = {k: [[r[0][0] for r in x["resps"]] for x in sorted(ss, key=lambda x: x["doc_id"])]
                      for k, ss in res["samples"].items()}
    json.dump(out, open(os.path.join(work, name + ".json"), "w"))
PY
"$venv/bin/python" - "$work" "$limit" "$mmlu_limit" "$batch" "$threads" "$model" <<'PY'
import json, os, sys
work, limit, mmlu_limit, batch, threads, model = sys.argv[1:]
times = dict(l.split() for l in open(os.path.join(work, "times")))
def leap_lls(name):
    by = {}
    for line in open(os.path.join(work, name + ".jsonl")):
        s = json.loads(line)
        key = "mmlu_" + s["subject"] if s.get("subject") else s["task"]
        by.setdefault(key, []).append([r[0] for r in s["resps"]])
    return by
def max_diff(ours, theirs):
    d, n = 0.0, 0
    for task, docs in theirs.items():
        if task not in ours: continue
        for a, b in zip(ours[task], docs):
            for x, y in zip(a, b): d, n = max(d, abs(x - y)), n + 1
    return d, n
print(f"`leap eval` vs lm-evaluation-harness {__import__('lm_eval').__version__} (HF transformers "
      f"{__import__('transformers').__version__}), {model}, float32, batch size {batch}, {threads} threads, one run.\n")
print("| tasks | leap (token trees) | leap (one row per input) | lm-eval, batch 1 | lm-eval, batch " + batch +
      " | lm-eval (faster) / leap | max abs ll difference vs lm-eval |")
print("|---|---|---|---|---|---|---|")
total = {"leap": 0.0, "plain": 0.0, "1": 0.0, batch: 0.0}
for group, label in [("five", f"piqa, arc_easy, arc_challenge, winogrande, openbookqa ({limit} documents each)"),
                     ("mmlu", f"mmlu ({mmlu_limit} documents per subject)")]:
    ref = json.load(open(os.path.join(work, f"lmeval_{group}.json")))
    lt, pt = float(times[f"leap_{group}"]), float(times[f"plain_{group}"])
    e1, eb = ref["seconds"]["1"], ref["seconds"][batch]
    for k, v in [("leap", lt), ("plain", pt), ("1", e1), (batch, eb)]: total[k] += v
    d, n = max_diff(leap_lls(f"leap_{group}"), ref["lls"])
    dp, _ = max_diff(leap_lls(f"plain_{group}"), ref["lls"])
    print(f"| {label} | {lt:.1f} s | {pt:.1f} s | {e1:.1f} s | {eb:.1f} s | **{min(e1, eb) / lt:.2f}x** | "
          f"{d:.1e} ({dp:.1e} one row per input; {n} log-likelihoods) |")
print(f"| all six | {total['leap']:.1f} s | {total['plain']:.1f} s | {total['1']:.1f} s | {total[batch]:.1f} s | "
      f"**{min(total['1'], total[batch]) / total['leap']:.2f}x** | |")
PY
