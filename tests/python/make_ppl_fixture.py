#!/usr/bin/env python3
"""Reference perplexity of stories260k on the bundled TinyStories eval split at seqlen 512, computed
with HF transformers under the pruning-paper protocol (tokenise the whole text once with the
tokenizer's defaults, non-overlapping windows, tail dropped, PPL = exp(mean of window mean NLL)).
Usage: make_ppl_fixture.py OUT SRC_DIR
"""
import json
import math
import os
import sys

import torch
import transformers


def main():
    out, src = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    model_dir = os.path.join(src, "data/stories260k")
    text_file = os.path.join(src, "data/tinystories/eval.txt")
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids = torch.tensor(tok(open(text_file, encoding="utf-8").read())["input_ids"])
    L = 512
    n = ids.numel() // L
    nlls = []
    with torch.no_grad():
        for i in range(n):
            x = ids[i * L:(i + 1) * L].unsqueeze(0)
            logits = model(x).logits.float()
            nll = torch.nn.functional.cross_entropy(logits[0, :-1], x[0, 1:])
            nlls.append(nll.item())
    ppl = math.exp(sum(nlls) / n)
    json.dump({"ppl": ppl, "windows": n, "tokens": ids.numel(), "seqlen": L, "window_nll": nlls, "text_file": text_file},
              open(os.path.join(out, "stories260k_tinystories_eval_512.json"), "w"))
    print("HF perplexity", ppl, "windows", n)


if __name__ == "__main__":
    main()
