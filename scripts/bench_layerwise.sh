#!/usr/bin/env bash
# bench_layerwise.sh — leap's layer-wise methods (Wanda, SparseGPT, ADMM) against llm-compressor's
# Wanda and SparseGPT `oneshot` on the same model, calibration size, sparsity (50% unstructured) and
# thread count. leap's time is its pruning phase (`prune_seconds` of --output_path: calibration
# forward passes, statistics, masks and weight updates, block by block; not the process start or the
# model load), split into its phases (`phase_seconds`); llm-compressor's is its `oneshot` call on a
# model already loaded (scripts/bench_peers.py). llm-compressor has no ADMM: leap's ADMM is set
# against its SparseGPT, the other method that updates weights. Prints a Markdown table; nothing
# here is a test.
# Usage: scripts/bench_layerwise.sh [MODEL] [NSAMPLES] [SEQLEN]   (default smollm2-135m, 32, 512)
#   LEAP_BUILD_DIR   the build folder (default build/)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:-smollm2-135m}"; nsamples="${2:-32}"; seqlen="${3:-512}"
build="${LEAP_BUILD_DIR:-$root/build}"
venv="$("$root/scripts/setup.sh" --quiet | tail -1)"
threads="${LEAP_BENCH_THREADS:-$(nproc)}"
export OMP_NUM_THREADS="$threads"
work="$root/out/bench_layerwise/$(basename "$model")"; rm -rf "$work"; mkdir -p "$work"
dir="$("$root/scripts/model_dir.sh" "$build/leap" "$model")"
train="$root/data/tinystories/train.txt"

# llm-compressor beside the venv: installed without its dependency pins (they lag torch/transformers)
llmc_ver=0.14.0.1
peers="$HOME/.cache/leap/peers-llmcompressor-$llmc_ver"
if [[ ! -d "$peers/llmcompressor" ]]; then
  rm -rf "$peers.tmp"
  "$venv/bin/pip" install -q --no-deps --target "$peers.tmp" "llmcompressor==$llmc_ver" compressed-tensors==0.19.0 loguru \
    && mv "$peers.tmp" "$peers" || echo "[bench_layerwise] llm-compressor could not be installed; its rows will say so" >&2
fi

for method in wanda sparsegpt admm; do
  echo "[bench_layerwise] leap prune --method $method ($model)" >&2
  "$build/leap" prune --model "$dir" --method "$method" --sparsity 0.5 --nsamples "$nsamples" --calib_seqlen "$seqlen" \
    --calib_data "$train" --device cpu --output_path "$work/leap_$method.json" > "$work/leap_$method.log" 2>&1
done
echo "[bench_layerwise] llm-compressor oneshot wanda / sparsegpt ($model)" >&2
PYTHONPATH="$peers" "$venv/bin/python" "$root/scripts/bench_peers.py" "$dir" --only llmc --output "$work/peers.json" \
  --nsamples "$nsamples" --calib_seqlen "$seqlen" --threads "$threads" > "$work/peers.log" 2>&1 || true

"$venv/bin/python" - "$work" "$model" "$nsamples" "$seqlen" "$threads" <<'PY'
import json, os, sys
work, model, nsamples, seqlen, threads = sys.argv[1:]
try:
    p = json.load(open(os.path.join(work, "peers.json")))
except Exception as e:
    p = {"error": f"{type(e).__name__}: {e} (see {os.path.join(work, 'peers.log')})"}
peer = f"llm-compressor {p['llmcompressor']}" if "llmcompressor" in p else "llm-compressor"
print(f"Layer-wise pruning of {model} to 50% unstructured, {nsamples} x {seqlen} calibration tokens, "
      f"{threads} threads, one run.\n")
print(f"| method | leap | forward passes | statistics | solve | {peer} | peer / leap |")
print("|---|---:|---:|---:|---:|---:|---:|")
for method, against in (("wanda", "wanda"), ("sparsegpt", "sparsegpt"), ("admm", "sparsegpt")):
    r = json.load(open(os.path.join(work, f"leap_{method}.json")))
    t, ph = r["prune_seconds"], r["phase_seconds"]
    s = p.get(f"llmc_{against}_s")
    name = {"wanda": "Wanda", "sparsegpt": "SparseGPT", "admm": "ADMM"}[method]
    shares = " | ".join(f"{ph[k]:.1f} s ({100 * ph[k] / t:.0f}%)" for k in ("forward", "statistics", "solve"))
    if s is None:
        why = p.get("llmcompressor_error", p.get("error", "?"))
        print(f"| {name} | {t:.1f} s | {shares} | not available ({why}) | - |")
    else:
        label = f"{s:.1f} s" + ("" if against == method else " (its SparseGPT)")
        print(f"| {name} | {t:.1f} s | {shares} | {label} | **{s / t:.2f}x** |")
PY
