#!/usr/bin/env python3
"""Training-data fixtures for tests/parity/test_data.cpp, written with the real peers.

Usage: make_data_fixtures.py OUT_DIR LEAP_SOURCE_DIR TOKENIZER_FIXTURES_DIR

Writes, from the first 300 documents of the bundled C4 sample (plus an empty and a non-ASCII one):
  docs.json                    the documents, in order
  all.jsonl, all.parquet       all of them in one file (parquet: row groups of 50, pyarrow)
  shards/                      the same documents over three shards of three formats, in path
                               order: part-00000.parquet, part-00001.jsonl.gz, part-00002.jsonl.zst
  hub/datasets--leap-test--tiny       an HF hub cache tree (blobs + snapshot symlinks + refs/main)
                                      with train-0000{0,1}-of-00002.parquet and validation-*.parquet,
                                      and an older snapshot holding other text
  hub/datasets--leap-test--carded     split files named by the dataset card (README.md configs)
  bad/                         corrupt.parquet, no_text.parquet, int_text.parquet, empty.parquet,
                               empty.jsonl, null_text.parquet
  blocks/<tok>_<case>.safetensors     int32 "input_ids": the reference's packed blocks
  cases.json                   the packing settings of each case

The reference blocks follow the LEAP code's data preparation (patch/data.py, HF run_clm): HF
datasets' map(tokenize, batched, num_proc) then map(group_texts, batched, batch_size, num_proc),
select(range(max_train_samples)), with AutoTokenizer's default special tokens.
"""
import gzip
import hashlib
import json
import os
import shutil
import sys
from itertools import chain

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset, disable_progress_bars
from safetensors.numpy import save_file
from transformers import AutoTokenizer

CASES = {
    # name: (seqlen, pack_batch, pack_shards, max_train_samples)
    "s64_b40_p3": (64, 40, 3, 0),
    "s96_b1000_p96_m20": (96, 1000, 96, 20),
    "s128_b25_p1": (128, 25, 1, 0),
}


def write_parquet(path, docs, column="text", row_group_size=50):
    pq.write_table(pa.table({column: docs}), path, row_group_size=row_group_size)


def write_jsonl(path, docs, opener=open):
    with opener(path, "wt", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"text": d, "meta": {"n": len(d)}}) + "\n")


def write_jsonl_zst(path, docs):
    with pa.CompressedOutputStream(path, "zstd") as out:
        for d in docs:
            out.write((json.dumps({"text": d}) + "\n").encode("utf-8"))


def add_to_hub(repo, rev, rel, write):
    """Writes a file into blobs/<sha256> and links snapshots/<rev>/<rel> to it, as huggingface_hub."""
    tmp = os.path.join(repo, "tmp_blob")
    os.makedirs(repo, exist_ok=True)
    write(tmp)
    sha = hashlib.sha256(open(tmp, "rb").read()).hexdigest()
    os.makedirs(os.path.join(repo, "blobs"), exist_ok=True)
    blob = os.path.join(repo, "blobs", sha)
    os.replace(tmp, blob)
    link = os.path.join(repo, "snapshots", rev, rel)
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(os.path.relpath(blob, os.path.dirname(link)), link)


def reference_blocks(tok, docs, seqlen, batch, shards, max_samples):
    ds = Dataset.from_dict({"text": docs})
    if max_samples:
        ds = ds.select(range(min(len(ds), max_samples * 6)))

    def tokenize(examples):
        return tok(examples["text"])

    def group_texts(examples):  # run_clm's, as patch/data.py has it
        concatenated = {k: list(chain(*examples[k])) for k in examples.keys()}
        total = len(concatenated[list(examples.keys())[0]])
        if total >= seqlen:
            total = (total // seqlen) * seqlen
        return {k: [t[i : i + seqlen] for i in range(0, total, seqlen)] for k, t in concatenated.items()}

    nproc = shards if shards > 1 else None
    ds = ds.map(tokenize, batched=True, num_proc=nproc, remove_columns=["text"])
    ds = ds.map(group_texts, batched=True, batch_size=batch, num_proc=nproc)
    if max_samples:
        ds = ds.select(range(min(len(ds), max_samples)))
    rows = ds["input_ids"]
    assert all(len(r) == seqlen for r in rows), "a short block: choose settings without short batches"
    return np.array(rows, dtype=np.int32).reshape(-1, seqlen)


def main():
    out, src, tok_fixtures = (os.path.abspath(a) for a in sys.argv[1:4])
    disable_progress_bars()
    os.environ.setdefault("HF_DATASETS_CACHE", os.path.join(out, "hf_datasets_cache"))
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    c4 = [json.loads(l)["text"] for l in open(os.path.join(src, "data", "c4", "c4_sample.jsonl"), encoding="utf-8")]
    docs = c4[:150] + ["", "Grüße aus Köln — 東京 🙂 ok"] + c4[150:298]
    json.dump(docs, open(os.path.join(out, "docs.json"), "w", encoding="utf-8"), ensure_ascii=False)

    write_jsonl(os.path.join(out, "all.jsonl"), docs)
    write_parquet(os.path.join(out, "all.parquet"), docs)
    os.makedirs(os.path.join(out, "shards"))
    write_parquet(os.path.join(out, "shards", "part-00000.parquet"), docs[:120], row_group_size=32)
    write_jsonl(os.path.join(out, "shards", "part-00001.jsonl.gz"), docs[120:210], opener=gzip.open)
    write_jsonl_zst(os.path.join(out, "shards", "part-00002.jsonl.zst"), docs[210:])

    hub = os.path.join(out, "hub")
    tiny = os.path.join(hub, "datasets--leap-test--tiny")
    rev, old = "a" * 40, "b" * 40
    add_to_hub(tiny, rev, "data/train-00000-of-00002.parquet", lambda p: write_parquet(p, docs[:160]))
    add_to_hub(tiny, rev, "data/train-00001-of-00002.parquet", lambda p: write_parquet(p, docs[160:]))
    add_to_hub(tiny, rev, "data/validation-00000-of-00001.parquet", lambda p: write_parquet(p, docs[:7]))
    add_to_hub(tiny, rev, "README.md", lambda p: open(p, "w").write("# no card configs\n"))
    add_to_hub(tiny, old, "data/train-00000-of-00001.parquet", lambda p: write_parquet(p, ["old text"] * 3))
    os.makedirs(os.path.join(tiny, "refs"))
    open(os.path.join(tiny, "refs", "main"), "w").write(rev)
    carded = os.path.join(hub, "datasets--leap-test--carded")
    card = ("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: \"blobs_a/*.parquet\"\n"
            "  - split: test\n    path:\n    - blobs_b/x.jsonl\n---\n# card\n")
    add_to_hub(carded, rev, "README.md", lambda p: open(p, "w").write(card))
    add_to_hub(carded, rev, "blobs_a/one.parquet", lambda p: write_parquet(p, docs[:11]))
    add_to_hub(carded, rev, "blobs_b/x.jsonl", lambda p: write_jsonl(p, docs[:5]))
    add_to_hub(carded, rev, "train-looking-but-not-in-card.parquet", lambda p: write_parquet(p, docs[:2]))
    os.makedirs(os.path.join(carded, "refs"))
    open(os.path.join(carded, "refs", "main"), "w").write(rev)

    bad = os.path.join(out, "bad")
    os.makedirs(bad)
    good = open(os.path.join(out, "all.parquet"), "rb").read()
    open(os.path.join(bad, "corrupt.parquet"), "wb").write(good[:4] + b"\x00" * 200 + good[-300:])
    write_parquet(os.path.join(bad, "no_text.parquet"), docs[:3], column="content")
    pq.write_table(pa.table({"text": pa.array([1, 2, 3], pa.int64())}), os.path.join(bad, "int_text.parquet"))
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), os.path.join(bad, "empty.parquet"))
    pq.write_table(pa.table({"text": pa.array(["a", None], pa.string())}), os.path.join(bad, "null_text.parquet"))
    open(os.path.join(bad, "empty.jsonl"), "w").close()

    toks = {"stories260k": os.path.join(src, "data", "stories260k"),
            "llama3_bpe": os.path.join(tok_fixtures, "llama3_bpe"),
            "qwen2_bpe": os.path.join(tok_fixtures, "qwen2_bpe")}
    os.makedirs(os.path.join(out, "blocks"))
    cases = {"cases": {}, "tokenizers": {}}
    for tname, tdir in toks.items():
        tok = AutoTokenizer.from_pretrained(tdir)
        cases["tokenizers"][tname] = {"dir": tdir, "bos_first": tok("x")["input_ids"][0] == tok.bos_token_id}
        for cname, (seqlen, batch, shards, m) in CASES.items():
            blocks = reference_blocks(tok, docs, seqlen, batch, shards, m)
            save_file({"input_ids": blocks}, os.path.join(out, "blocks", f"{tname}_{cname}.safetensors"))
            print(tname, cname, blocks.shape)
    for cname, (seqlen, batch, shards, m) in CASES.items():
        cases["cases"][cname] = {"seqlen": seqlen, "pack_batch": batch, "pack_shards": shards,
                                 "max_train_samples": m}
    json.dump(cases, open(os.path.join(out, "cases.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
