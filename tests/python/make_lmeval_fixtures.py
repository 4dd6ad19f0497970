#!/usr/bin/env python3
"""Runs lm-evaluation-harness itself (its real task definitions, fed the local data files through
lmeval_local_datasets.py) on two small HF models, and records per-document log-likelihoods and
metrics for leap's evaluation parity test.

Models: the real stories260k (sentencepiece, BOS added), a tiny random Llama-3-style model
with a byte-level BPE tokenizer (trained here, Llama-3 pre-tokenizer and <|begin_of_text|>), and
the real SmolLM2-135M-Instruct (byte-level BPE without BOS; its folder made by scripts/get_smollm2.sh).
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


def main():
    out, src = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    import lm_eval
    import transformers
    stamp = hashlib.sha256(open(__file__, "rb").read() + open(os.path.join(os.path.dirname(__file__),
                           "lmeval_local_datasets.py"), "rb").read() + transformers.__version__.encode()).hexdigest()
    stamp_file = os.path.join(out, ".stamp")
    if os.path.exists(stamp_file) and open(stamp_file).read() == stamp:
        print("lm-eval fixtures up to date in", out)
        return
    data_dir = os.path.join(src, "data")
    import lmeval_local_datasets
    lmeval_local_datasets.install(data_dir)
    smollm2 = subprocess.check_output(["bash", os.path.join(src, "scripts/get_smollm2.sh"), sys.prefix],
                                      text=True).strip().split("\n")[-1]
    models = {"stories260k": os.path.join(src, "data/stories260k"), "tiny_llama3": make_tiny_llama3(out, src),
              "smollm2": smollm2}
    for name, key, tasks, limit, fewshot in RUNS:
        r = run(name, models[key], tasks, limit, fewshot, data_dir)
        json.dump(r, open(os.path.join(out, name + ".json"), "w"), indent=0, default=str)
        print("lm-eval run", name, {t: v.get("acc,none") for t, v in r["results"].items() if "acc,none" in v})
    with open(stamp_file, "w") as f:
        f.write(stamp)


if __name__ == "__main__":
    main()
