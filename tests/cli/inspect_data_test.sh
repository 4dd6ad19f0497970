#!/usr/bin/env bash
# `leap inspect data --output`: the blocks it writes (int32 "input_ids" [blocks, seqlen], packing
# order) are HF transformers' token ids of the text, block after block. stories260k's tokenizer on
# the bundled TinyStories train split (one document; whitespace runs kept as HF keeps them).
# Usage: inspect_data_test.sh LEAP SOURCE_DIR WORK_DIR PYTHON
set -euo pipefail
leap="$1" src="$2" work="$3" py="$4"
rm -rf "$work" && mkdir -p "$work"
"$leap" inspect data --model stories260k --train_data "$src/data/tinystories/train.txt" --seqlen 128 \
  --output "$work/blocks.safetensors" > "$work/log.txt" 2>&1 || { cat "$work/log.txt"; exit 1; }
grep -q "wrote 2309 blocks to" "$work/log.txt" || { cat "$work/log.txt"; echo "inspect data: unexpected block count"; exit 1; }
"$py" - "$work/blocks.safetensors" "$src" <<'PY'
import sys, numpy as np
from safetensors.numpy import load_file
from transformers import AutoTokenizer
b = load_file(sys.argv[1])["input_ids"]
assert b.dtype == np.int32 and b.shape == (2309, 128), (b.dtype, b.shape)
tok = AutoTokenizer.from_pretrained(sys.argv[2] + "/data/stories260k")
ids = np.array(tok(open(sys.argv[2] + "/data/tinystories/train.txt").read())["input_ids"])
flat = b.reshape(-1)
bad = np.flatnonzero(flat != ids[: flat.size])
assert bad.size == 0, f"{bad.size} ids differ from transformers', the first at {bad[0]}"
print(f"inspect data --output: {b.shape[0]} x {b.shape[1]} blocks equal transformers' ids ({ids.size} tokens, remainder {ids.size - flat.size} dropped)")
PY
