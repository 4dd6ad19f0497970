#!/usr/bin/env python3
"""Runs lm-evaluation-harness itself (its real task definitions, fed the local data files through
lmeval_local_datasets.py) on two small HF models, and records per-document log-likelihoods and
metrics for leap's evaluation parity test.

Models: the real stories260k (sentencepiece, BOS added), a tiny random Llama-3-style model
with a byte-level BPE tokenizer (trained here, Llama-3 pre-tokenizer and <|begin_of_text|>), and
the real SmolLM2-135M-Instruct (byte-level BPE without BOS; its folder made by scripts/get_smollm2.sh).
The output is also kept in $LEAP_CACHE_DIR/fixtures (default ~/.cache/leap/fixtures), keyed by a hash
of everything it depends on, and copied from there when nothing changed (LEAP_FIXTURE_CACHE=0: rerun).
Usage: make_lmeval_fixtures.py OUT SRC_DIR
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DISABLE_MULTIPROC", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

TASKS = ["piqa", "arc_easy", "arc_challenge", "openbookqa", "winogrande", "hellaswag", "lambada_openai", "mmlu"]
RUNS = [  # (name, model folder key, tasks, limit, num_fewshot)
    ("stories260k", "stories260k", TASKS, 6, None),
    ("stories260k_mmlu_2shot", "stories260k", ["mmlu"], 1, 2),
    ("tiny_llama3", "tiny_llama3", TASKS, 4, None),
    ("smollm2", "smollm2", TASKS, 3, None),  # the real SmolLM2-135M (scripts/get_smollm2.sh)
]


def make_tiny_llama3(out, src):
    import torch
    import transformers
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    d = os.path.join(out, "tiny_llama3")
    os.makedirs(d, exist_ok=True)
    pat = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
           r"\s*[\r\n]+|\s+(?!\S)|\s+")
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pat), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>"]
    text = open(os.path.join(src, "data/tinystories/train.txt"), encoding="utf-8").read().split("\n")
    tok.train_from_iterator(text, trainers.BpeTrainer(vocab_size=1000, special_tokens=specials, show_progress=False,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bos = tok.token_to_id(specials[0])
    tok.post_processor = processors.Sequence([processors.ByteLevel(trim_offsets=False), processors.TemplateProcessing(
        single=f"{specials[0]} $A", pair=f"{specials[0]} $A {specials[0]} $B", special_tokens=[(specials[0], bos)])])
    tok.save(os.path.join(d, "tokenizer.json"))
    json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": specials[0], "eos_token": specials[1],
               "model_max_length": 256}, open(os.path.join(d, "tokenizer_config.json"), "w"))
    cfg = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, head_dim=16, vocab_size=tok.get_vocab_size(),
                                   max_position_embeddings=256, rms_norm_eps=1e-5, rope_theta=500000.0,
                                   tie_word_embeddings=True, bos_token_id=bos, eos_token_id=tok.token_to_id(specials[1]))
    torch.manual_seed(7)
    model = transformers.LlamaForCausalLM(cfg)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.08)
    model.save_pretrained(d)
    return d


def run(name, model_dir, tasks, limit, fewshot, data_dir):
    import lm_eval
    res = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={model_dir},dtype=float32", tasks=tasks,
                                  num_fewshot=fewshot, limit=limit, device="cpu", batch_size=1, log_samples=True,
                                  bootstrap_iters=0)
    out = {"model_dir": model_dir, "tasks": tasks, "limit": limit, "num_fewshot": fewshot or 0,
           "results": res["results"], "samples": {}}
    for task, ss in res["samples"].items():
        out["samples"][task] = [{"doc_id": s["doc_id"], "lls": [r[0][0] for r in s["resps"]],
                                 "greedy": [bool(r[0][1]) for r in s["resps"]],
                                 "acc": s.get("acc"), "acc_norm": s.get("acc_norm")} for s in ss]
    return out


def cache_key(src, smollm2):
    """What the references depend on: this script and its dataset shim, the peers' versions, the
    bundled data and the SmolLM2 folder (sha256 over file names and contents)."""
    from importlib.metadata import version
    here = os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha256()
    for f in (os.path.abspath(__file__), os.path.join(here, "lmeval_local_datasets.py")):
        h.update(open(f, "rb").read())
    for pkg in ("lm_eval", "transformers", "torch", "tokenizers", "datasets", "sentencepiece"):
        h.update(f"{pkg}={version(pkg)};".encode())
    for root in (os.path.join(src, "data"), smollm2):
        for d, dirs, files in sorted(os.walk(root)):
            dirs.sort()
            for name in sorted(files):
                f = os.path.join(d, name)
                h.update(os.path.relpath(f, root).encode())
                with open(f, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 22), b""):
                        h.update(chunk)
    return h.hexdigest()[:20]


def restore(cached, out, models):
    """Copies the references from the cache into OUT, pointing each run at this checkout's models."""
    shutil.copytree(os.path.join(cached, "tiny_llama3"), os.path.join(out, "tiny_llama3"), dirs_exist_ok=True)
    models = dict(models, tiny_llama3=os.path.join(out, "tiny_llama3"))
    for name, key, *_ in RUNS:
        r = json.load(open(os.path.join(cached, name + ".json")))
        r["model_dir"] = models[key]
        json.dump(r, open(os.path.join(out, name + ".json"), "w"), indent=0, default=str)


def main():
    out, src = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    smollm2 = subprocess.check_output(["bash", os.path.join(src, "scripts/get_smollm2.sh"), sys.prefix],
                                      text=True).strip().split("\n")[-1]
    models = {"stories260k": os.path.join(src, "data/stories260k"), "smollm2": smollm2}
    # lm-eval's runs take ~10 minutes on 2 cores and depend only on what cache_key hashes: their
    # output is kept in the cache folder outside the clone (as the virtualenv is), so a fresh clone
    # of the same inputs copies it; LEAP_FIXTURE_CACHE=0 runs lm-eval regardless
    cache_root = os.path.join(os.environ.get("LEAP_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "leap"), "fixtures")
    cached = os.path.join(cache_root, "lmeval-" + cache_key(src, smollm2))
    use_cache = os.environ.get("LEAP_FIXTURE_CACHE", "1") != "0"
    if use_cache and os.path.exists(os.path.join(cached, ".complete")):
        restore(cached, out, models)
        print("lm-eval references restored from", cached)
        return
    data_dir = os.path.join(src, "data")
    import lmeval_local_datasets
    lmeval_local_datasets.install(data_dir)
    models["tiny_llama3"] = make_tiny_llama3(out, src)
    for name, key, tasks, limit, fewshot in RUNS:
        r = run(name, models[key], tasks, limit, fewshot, data_dir)
        json.dump(r, open(os.path.join(out, name + ".json"), "w"), indent=0, default=str)
        print("lm-eval run", name, {t: v.get("acc,none") for t, v in r["results"].items() if "acc,none" in v})
    if use_cache:  # written beside, then renamed: a cache entry is whole or absent
        tmp = f"{cached}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(os.path.join(out, "tiny_llama3"), os.path.join(tmp, "tiny_llama3"))
        for name, *_ in RUNS:
            shutil.copy(os.path.join(out, name + ".json"), tmp)
        open(os.path.join(tmp, ".complete"), "w").close()
        try:
            os.rename(tmp, cached)
        except OSError:  # another run stored the same entry first
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
