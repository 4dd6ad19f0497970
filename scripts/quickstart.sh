#!/usr/bin/env bash
# quickstart.sh — one command from a fresh clone: install, build, and run the main job on the
# embedded default model: LEAP-prune stories260k to 50% unstructured sparsity (Wanda prior from
# the bundled TinyStories text, 300 mask-training steps: about a minute on 2 CPU cores), write the
# pruned HF folder to out/stories260k-leap50/, and evaluate it (held-out TinyStories perplexity at
# 512 tokens, and the zero-shot tasks on their first 100 documents each).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$("$root/scripts/build.sh" | tail -n 1)"
leap="$build/leap"
out="$root/out/stories260k-leap50"
"$leap" --version
"$leap" prune --model stories260k --method leap --sparsity 0.5 --save_model "$out" \
  --eval_ppl_file "$root/data/tinystories/eval.txt" --log_file "$root/out/stories260k-leap50.metrics.jsonl"
"$leap" inspect sparsity --model "$out"
"$leap" eval --model "$out" --tasks ppl,piqa,arc_easy,arc_challenge,winogrande,openbookqa,mmlu \
  --ppl_file "$root/data/tinystories/eval.txt" --seqlen 512 --limit 100 --output_path "$root/out/stories260k-leap50.eval.json"
