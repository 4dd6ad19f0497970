#!/usr/bin/env python3
"""Writes a random-weight Llama HF folder for benchmarks (speed, memory): the architecture of a real
model scaled to what a CPU can run, stories260k's tokenizer (vocab 512). Not a trained model: its
perplexity means nothing, its shapes and FLOPs are what is measured.

Usage: make_bench_model.py OUT [--hidden 1024] [--layers 4] [--intermediate 2816] [--heads 16]
                           [--kv_heads 4] [--seed 0]
"""
import argparse, json, os, shutil, sys, tempfile

import torch
from safetensors.torch import save_file

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--hidden", type=int, default=1024)
ap.add_argument("--layers", type=int, default=4)
ap.add_argument("--intermediate", type=int, default=2816)
ap.add_argument("--heads", type=int, default=16)
ap.add_argument("--kv_heads", type=int, default=4)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
here = os.path.dirname(os.path.abspath(__file__))
src = os.path.join(here, "..", "data", "stories260k")
H, I, L, nh, nkv = a.hidden, a.intermediate, a.layers, a.heads, a.kv_heads
if H % nh or nh % nkv:
    sys.exit("make_bench_model.py: --hidden must be a multiple of --heads, and --heads of --kv_heads")
D, V = H // nh, 512
cfg = json.load(open(os.path.join(src, "config.json")))
cfg.update(hidden_size=H, intermediate_size=I, num_hidden_layers=L, num_attention_heads=nh,
           num_key_value_heads=nkv, head_dim=D, max_position_embeddings=4096, vocab_size=V)
g = torch.Generator().manual_seed(a.seed)
rnd = lambda *s: (torch.randn(*s, generator=g) * 0.02).contiguous()
t = {"model.embed_tokens.weight": rnd(V, H), "model.norm.weight": torch.ones(H)}
for l in range(L):
    p = f"model.layers.{l}."
    t.update({p + "input_layernorm.weight": torch.ones(H), p + "post_attention_layernorm.weight": torch.ones(H),
              p + "self_attn.q_proj.weight": rnd(nh * D, H), p + "self_attn.k_proj.weight": rnd(nkv * D, H),
              p + "self_attn.v_proj.weight": rnd(nkv * D, H), p + "self_attn.o_proj.weight": rnd(H, nh * D),
              p + "mlp.gate_proj.weight": rnd(I, H), p + "mlp.up_proj.weight": rnd(I, H),
              p + "mlp.down_proj.weight": rnd(H, I)})
tmp = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(a.out)) or ".")
save_file(t, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
json.dump(cfg, open(os.path.join(tmp, "config.json"), "w"), indent=2)
for f in ("tokenizer.model", "tokenizer_config.json", "generation_config.json"):
    shutil.copy(os.path.join(src, f), tmp)
shutil.rmtree(a.out, ignore_errors=True)
os.rename(tmp, a.out)
n = sum(v.numel() for v in t.values())
print(f"{a.out}: random Llama, hidden {H}, {L} layers, intermediate {I}, {nh}/{nkv} heads, {n/1e6:.1f} M parameters")
