#!/usr/bin/env bash
# bench_tokenize.sh — tokenisation throughput of leap's training-data path (read, tokenise, write the
# token cache) against HF tokenizers on the same text and thread count: Tokenizer.encode_batch (the
# Rust library alone, text already in memory) and the reference's own pipeline, datasets.map
# (AutoTokenizer, batched, num_proc). Prints a Markdown table; nothing here is a test.
# Usage: scripts/bench_tokenize.sh [MODEL_SHORT_NAME_OR_DIR] [COPIES]   (default smollm2-135m, 8 copies
# of the bundled C4 sample: 8000 documents, 17.5 MB). Copies repeat words, which helps both sides'
# BPE word caches; COPIES=1 (1000 distinct documents) or CORPUS=file.jsonl measure without that.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:-smollm2-135m}"; copies="${2:-8}"
build="${LEAP_BUILD_DIR:-$root/build}"
venv="$("$root/scripts/setup.sh" --quiet | tail -1)"
py="$venv/bin/python"
threads="${LEAP_BENCH_THREADS:-$(nproc)}"
work="$root/out/bench_tokenize"; rm -rf "$work"; mkdir -p "$work"
corpus="$work/corpus.jsonl"
if [[ -n "${CORPUS:-}" ]]; then cp "$CORPUS" "$corpus"; else
  for ((i = 0; i < copies; i++)); do cat "$root/data/c4/c4_sample.jsonl"; done > "$corpus"; fi
dir="$("$root/scripts/model_dir.sh" "$build/leap" "$model")"
leap_s() {
  LEAP_CACHE_DIR="$work/cache" "$build/leap" inspect data --model "$dir" --train_data "$corpus" --seqlen 4096 \
    --data_workers "$1" 2>&1 | sed -n 's/.*(built in \([0-9.]*\) s).*/\1/p'
  rm -rf "$work/cache"
}
l1=$(leap_s 1); lt=$(leap_s "$threads")
"$py" - "$corpus" "$dir" "$threads" "$l1" "$lt" <<'PY'
import json, os, sys, time
corpus, model_dir, threads, l1, lt = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
docs = [json.loads(l)["text"] for l in open(corpus, encoding="utf-8")]
mb = sum(len(d.encode()) for d in docs) / 1e6
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(model_dir)
ntok = sum(len(x) for x in tok(docs)["input_ids"])
def hf_batch(n):
    os.environ["RAYON_NUM_THREADS"] = str(n)  # read when the Rust thread pool starts: run in a child
    import subprocess
    code = ("import json,time,sys\nfrom tokenizers import Tokenizer\nt=Tokenizer.from_file(sys.argv[1])\n"
            "d=[json.loads(l)['text'] for l in open(sys.argv[2],encoding='utf-8')]\n"
            "s=time.perf_counter();t.encode_batch(d);print(time.perf_counter()-s)")
    out = subprocess.run([sys.executable, "-c", code, os.path.join(model_dir, "tokenizer.json"), corpus],
                         env=dict(os.environ, TOKENIZERS_PARALLELISM="true"), capture_output=True, text=True, check=True)
    return float(out.stdout.strip())
def ds_map(n):
    from datasets import Dataset, disable_progress_bars
    disable_progress_bars()
    ds = Dataset.from_dict({"text": docs})
    s = time.perf_counter()
    ds.map(lambda e: tok(e["text"]), batched=True, num_proc=n if n > 1 else None, remove_columns=["text"],
           load_from_cache_file=False)
    return time.perf_counter() - s
h1, ht = hf_batch(1), hf_batch(threads)
d1, dt = ds_map(1), ds_map(threads)
print(f"Tokenisation: {len(docs)} documents, {mb:.1f} MB, {ntok:,} tokens ({os.path.basename(model_dir.rstrip('/'))} tokenizer), "
      f"one run on this machine.\n")
print("| path | threads | seconds | MB/s | leap speed-up |")
print("|---|---|---|---|---|")
for name, n, s, ref in [("leap (read jsonl, tokenise, write the token cache)", 1, l1, l1),
                        ("HF tokenizers encode_batch (text in memory)", 1, h1, l1),
                        ("datasets.map(AutoTokenizer, batched) — the reference's path", 1, d1, l1),
                        ("leap", threads, lt, lt), ("HF tokenizers encode_batch", threads, ht, lt),
                        ("datasets.map(num_proc)", threads, dt, lt)]:
    print(f"| {name} | {n} | {s:.2f} | {mb / s:.2f} | {s / ref:.2f}x |")
PY
