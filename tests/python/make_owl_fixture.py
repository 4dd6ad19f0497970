#!/usr/bin/env python3
"""OWL block sparsities on stories260k (HF transformers model), for leap's --owl_m / --owl_lambda.

Calibration: 8 windows of 64 tokens, the first 512 tokens of the bundled TinyStories train text
(written as calib_ids.safetensors so leap scores the very same ids).

Reference: llm-compressor's SparsityModifierBase._infer_owl_layer_sparsity (sparsity_profile="owl",
owl_m, owl_lmbda). It is computed here two ways:
  1. a transcription of that method on the HF model: forward-pre hooks on every nn.Linear but
     lm_head add ||x||_2 over the tokens of each sample per input feature (llm-compressor also
     multiplies by 1/128, which every outlier ratio is invariant to); per decoder layer
     z = |W| * a over all its linears, outlier ratio = 100 * #(z > M * mean z) / #z, then
     s_l = 1 - ((D_l - min D) / (max D - min D) * 2 * lambda - mean(...) + (1 - s));
  2. llm-compressor itself, when it is importable (scripts/bench.sh installs it beside the venv in
     ~/.cache/leap/peers-llmcompressor-*): its result must equal the transcription, and the JSON says
     which were run.
Usage: make_owl_fixture.py OUT SRC_DIR
"""
import glob
import json
import os
import sys

import numpy as np
import torch
import transformers
from safetensors.torch import save_file

N, L = 8, 64
CASES = [(5.0, 0.08, 0.6), (5.0, 0.08, 0.5), (3.0, 0.05, 0.7)]


def transcription(model, ids, owl_m, lam, sparsity):
    acts = {}
    hooks = []
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and "lm_head" not in name:
            def pre(_m, inp, name=name):
                x = inp[0] if isinstance(inp, tuple) else inp
                acts[name] = acts.get(name, 0) + x.pow(2).sum(dim=(0, 1)).sqrt()
            hooks.append(mod.register_forward_pre_hook(pre))
    with torch.no_grad():
        for s in range(ids.shape[0]):
            model(input_ids=ids[s:s + 1])
    for h in hooks:
        h.remove()
    pct = []
    for li, layer in enumerate(model.model.layers):
        z = [m.weight.abs() * acts[f"model.layers.{li}.{n}"].unsqueeze(0)
             for n, m in layer.named_modules() if isinstance(m, torch.nn.Linear)]
        z = torch.cat([t.flatten() for t in z])
        pct.append(100 * (z > torch.mean(z) * owl_m).sum().item() / z.numel())
    d = np.array(pct)
    d = (d - d.min()) * (1 / (d.max() - d.min()) * lam * 2)
    return pct, [1 - (x - np.mean(d) + (1 - sparsity)) for x in d]


def llmcompressor_result(model, ids, owl_m, lam, sparsity):
    peers = sorted(glob.glob(os.path.expanduser("~/.cache/leap/peers-llmcompressor-*")))
    if not peers:
        return None, None
    sys.path.insert(0, peers[-1])
    try:
        import llmcompressor
        from llmcompressor.core.session_functions import create_session
        from compressed_tensors.utils import match_named_modules
        from llmcompressor.modifiers.pruning.sparsegpt import SparseGPTModifier
        from llmcompressor.utils.pytorch.module import infer_sequential_targets
    except Exception as e:  # an install that does not import is reported, not fatal
        return None, f"not importable: {e}"
    with create_session() as session:
        session.initialize()
        mod = SparseGPTModifier(sparsity=sparsity, sparsity_profile="owl", owl_m=int(owl_m) if owl_m == int(owl_m) else owl_m,
                                owl_lmbda=lam)
        layers = dict(match_named_modules(model, infer_sequential_targets(model)))
        loader = torch.utils.data.DataLoader([{"input_ids": ids[s]} for s in range(ids.shape[0])], batch_size=1)
        res = mod._infer_owl_layer_sparsity(model, layers, loader)
    return [res[k] for k in layers], llmcompressor.__version__


def main():
    out, src = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    model_dir = os.path.join(src, "data/stories260k")
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    text = open(os.path.join(src, "data/tinystories/train.txt"), encoding="utf-8").read()[:20000]
    ids = tok(text, return_tensors="pt").input_ids[0, : N * L].reshape(N, L).contiguous()
    save_file({"calib_ids": ids}, os.path.join(out, "calib_ids.safetensors"))
    cases, peer = [], None
    for owl_m, lam, s in CASES:
        pct, sp = transcription(model, ids, owl_m, lam, s)
        ref, info = llmcompressor_result(model, ids, owl_m, lam, s)
        if ref is not None:
            diff = max(abs(a - b) for a, b in zip(ref, sp))
            assert diff < 1e-9, f"transcription differs from llm-compressor {info} by {diff}"
            peer = f"llm-compressor {info}"
        elif info:
            peer = f"llm-compressor {info}"
        cases.append({"owl_m": owl_m, "owl_lambda": lam, "sparsity": s, "outlier_pct": pct, "block_sparsity": sp})
    json.dump({"calib_ids": "calib_ids.safetensors", "llmcompressor": peer, "cases": cases},
              open(os.path.join(out, "owl.json"), "w"), indent=1)
    print(f"OWL fixture: {len(cases)} cases; checked against {peer or 'the transcription only (no llm-compressor)'}")


if __name__ == "__main__":
    main()
