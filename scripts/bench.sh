#!/usr/bin/env bash
# bench.sh — regenerates docs/PERFORMANCE.md: the machine's GEMM ceiling, masked vs dense linear,
# LEAP step vs dense fine-tuning step (and its fraction of the ceiling), eval throughput, leap vs the
# Python peers (llm-compressor's Wanda/SparseGPT on the bench model and on SmolLM2-135M, a PyTorch
# eager LEAP step on HF transformers, and lm-evaluation-harness on SmolLM2-135M), tokenisation vs HF
# tokenizers, and peak memory vs the memory model (both models). Every ratio comes from this one run
# on this machine.
# Usage: scripts/bench.sh [OUT_MD]        (~75 minutes on 2 cores; nothing here is a test)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_md="${1:-$root/docs/PERFORMANCE.md}"
build="$("$root/scripts/build.sh" | tail -n 1)"
cmake --build "$build" --target leap_bench > /dev/null
venv="$("$root/scripts/setup.sh" --quiet | tail -1)"
py="$venv/bin/python"
work="$root/out/bench"
mkdir -p "$work"
"$build/leap" --version > "$work/version.txt"  # what was measured, for bench_report.py
threads="${LEAP_BENCH_THREADS:-$(nproc)}"
export OMP_NUM_THREADS="$threads"

# the benchmark model: a random Llama with hidden 1024 (shapes of a real model, scaled to a CPU)
model="$work/llama-h1024"
[[ -f "$model/config.json" ]] || "$py" "$root/scripts/make_bench_model.py" "$model"
train="$root/data/tinystories/train.txt"
seqlen=512; nsamples=32

echo "[bench] leap_bench (gemm, linear, step, eval)" >&2
"$build/leap_bench" --threads "$threads" --model "$model" --train_data "$train" --text "$root/data/tinystories/eval.txt" \
  --seqlen "$seqlen" --tokens 512 --steps 4 --rounds 3 --reps 5 --output_path "$work/leap_bench.json" > "$work/leap_bench.md"

echo "[bench] layer-wise methods vs llm-compressor (bench model)" >&2
LEAP_BUILD_DIR="$build" "$root/scripts/bench_layerwise.sh" "$model" "$nsamples" "$seqlen" > "$work/layerwise.md" \
  2> "$work/layerwise.log" || echo "layer-wise benchmark failed: see $work/layerwise.log" > "$work/layerwise.md"

echo "[bench] PyTorch eager LEAP step (bench model)" >&2
rm -f "$work/peers.json"
"$py" "$root/scripts/bench_peers.py" "$model" --only leap_step --output "$work/peers.json" --seqlen "$seqlen" --steps 8 \
  --threads "$threads" > "$work/peers.log" 2>&1 || true

echo "[bench] memory" >&2
"$root/scripts/bench_memory.sh" "$build/leap" "$work" > "$work/memory.md"

echo "[bench] tokenisation (leap's token cache vs HF tokenizers / datasets.map)" >&2
{ LEAP_BUILD_DIR="$build" "$root/scripts/bench_tokenize.sh" smollm2-135m 1; echo;
  LEAP_BUILD_DIR="$build" "$root/scripts/bench_tokenize.sh" smollm2-135m 8; } > "$work/tokenize.md" 2> "$work/tokenize.log" \
  || echo "tokenisation benchmark failed: see $work/tokenize.log" > "$work/tokenize.md"

echo "[bench] SmolLM2-135M: LEAP step vs dense fine-tuning and vs the PyTorch eager LEAP step" >&2
smol="$("$root/scripts/get_smollm2.sh" "$venv" | tail -1)"
"$build/leap_bench" --only step --model "$smol" --train_data "$train" --seqlen "$seqlen" --steps 3 --rounds 2 \
  --threads "$threads" --gemm_n 1024 --output_path "$work/smol_step.json" > "$work/smol_step.log" 2>&1 || true
"$build/leap_bench" --only mask,profile --model "$smol" --train_data "$train" --seqlen "$seqlen" --reps 3 \
  --threads "$threads" --gemm_n 1024 --output_path "$work/smol_profile.json" > "$work/smol_profile.md" 2> "$work/smol_profile.log" \
  || echo "mask / profile benchmark failed: see $work/smol_profile.log" > "$work/smol_profile.md"
"$build/leap_bench" --only denormals --model "$smol" --train_data "$train" --seqlen "$seqlen" --steps 2 --rounds 2 \
  --threads "$threads" --gemm_n 1024 --reps 3 --output_path "$work/smol_denormals.json" > "$work/smol_denormals.md" \
  2> "$work/smol_denormals.log" || echo "denormals benchmark failed: see $work/smol_denormals.log" > "$work/smol_denormals.md"
rm -f "$work/smol_peers.json"
"$py" "$root/scripts/bench_peers.py" "$smol" --only leap_step --seqlen "$seqlen" --steps 4 --threads "$threads" \
  --output "$work/smol_peers.json" > "$work/smol_peers.log" 2>&1 || true

echo "[bench] SmolLM2-135M: layer-wise methods vs llm-compressor, memory" >&2
LEAP_BUILD_DIR="$build" "$root/scripts/bench_layerwise.sh" "$smol" "$nsamples" "$seqlen" > "$work/smol_layerwise.md" \
  2> "$work/smol_layerwise.log" || echo "layer-wise benchmark failed: see $work/smol_layerwise.log" > "$work/smol_layerwise.md"
LEAP_MEMORY_CONFIGS="float32 1;float32 1 --optim adamw_8bit" "$root/scripts/bench_memory.sh" "$build/leap" "$work" "$smol" \
  > "$work/smol_memory.md" 2> "$work/smol_memory.log" || echo "memory benchmark failed: see $work/smol_memory.log" > "$work/smol_memory.md"

echo "[bench] evaluation (leap eval vs lm-evaluation-harness on SmolLM2-135M)" >&2
LEAP_BUILD_DIR="$build" "$root/scripts/bench_eval.sh" smollm2-135m 200 10 > "$work/eval.md" 2> "$work/eval.log" \
  || echo "evaluation benchmark failed: see $work/eval.log" > "$work/eval.md"

"$py" "$root/scripts/bench_report.py" "$work" "$out_md" "$threads" "$model"
