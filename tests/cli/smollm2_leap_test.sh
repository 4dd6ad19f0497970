#!/usr/bin/env bash
# A user's first LEAP run on the real SmolLM2-135M: `leap prune --model smollm2-135m` with the
# preset's data and recipe for a few steps at 50%, then checks that the run trained (finite loss
# each logged step), hit the budget exactly, wrote a folder HF transformers loads as a plain model
# with that many exact zeros, and that its perplexity on held-out WikiText-2 text lies above the
# dense model's and not absurdly far from it.
# Usage: smollm2_leap_test.sh LEAP_BINARY WORK_DIR [PYTHON]
set -euo pipefail
leap="$1"; work="$2"; py="${3:-python3}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rm -rf "$work"; mkdir -p "$work"
"$leap" prune --model smollm2-135m --method leap --sparsity 0.5 --steps 3 --global_batch 2 --seqlen 128 \
  --nsamples 8 --calib_seqlen 256 --log_every 1 --device cpu --save_model "$work/model" \
  --log_file "$work/metrics.jsonl" > "$work/prune.log" 2>&1 || { cat "$work/prune.log"; echo "FAIL: prune"; exit 1; }
steps=$(grep -c '"ce"' "$work/metrics.jsonl" || true)
[[ "$steps" -ge 3 ]] || { cat "$work/prune.log"; echo "FAIL: $steps logged steps, expected 3"; exit 1; }
if grep -q '"ce": *\(nan\|inf\|null\)' "$work/metrics.jsonl"; then echo "FAIL: non-finite loss"; exit 1; fi
"$py" - "$work/model" <<'PY'
import json, sys, torch
from transformers import AutoModelForCausalLM
d = sys.argv[1]
rep = json.load(open(d + "/leap_sparsity.json"))
assert abs(rep["achieved_sparsity"]["overall"] - 0.5) < 1e-6, rep["achieved_sparsity"]["overall"]
m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
z = n = 0
for name, p in m.model.layers.named_parameters():
    if p.dim() == 2:
        z += int((p == 0).sum()); n += p.numel()
assert abs(z / n - 0.5) < 1e-6, (z, n)
print(f"HF transformers loads it: {n:,} decoder linear weights, {z / n:.6f} exact zeros")
PY
head -c 20000 "$root/data/wikitext-2/raw/wikitext-test.txt" | tr -d '\r' > "$work/heldout.txt"
for m in smollm2-135m "$work/model"; do
  "$leap" eval --model "$m" --ppl_file "$work/heldout.txt" --tasks ppl --seqlen 512 --device cpu \
    --output_path "$work/$(basename "$m").eval.json" > "$work/eval.log" 2>&1 || { cat "$work/eval.log"; echo "FAIL: eval"; exit 1; }
done
"$py" - "$work/smollm2-135m.eval.json" "$work/model.eval.json" <<'PY'
import json, sys
dense, pruned = (json.load(open(f))["results"]["ppl"]["ppl"] for f in sys.argv[1:3])
print(f"held-out perplexity: dense {dense:.2f}, LEAP 50% after 3 steps {pruned:.2f}")
assert 5 < dense < 60, dense
assert dense < pruned < 20 * dense, (dense, pruned)
PY
echo "smollm2 leap: passed"
