#!/usr/bin/env python3
"""Generates the HF-transformers reference fixtures for leap's model parity tests.

For each tiny configuration (the real config fields of Llama-3.2-1B, Qwen2.5-0.5B and Gemma-3-1B,
shrunk), transformers itself builds a random model (fixed seed), saves it as an HF folder, and
records its float32 logits for fixed token ids. Variants: a sharded copy, a bfloat16 copy (with
reference logits computed by HF from the bf16 file), and extra Gemma-3 settings (linear rope
scaling, soft-capping). Output layout, per case:  OUT/<case>/{config.json, *.safetensors,
input_ids.json, ref_logits.safetensors, case.json}.

Usage: make_model_fixtures.py OUT
"""
import hashlib
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file

SEQ, BATCH = 24, 2

LLAMA_3_2_1B = dict(  # meta-llama/Llama-3.2-1B config.json, shrunk
    model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, head_dim=16, vocab_size=300, max_position_embeddings=131072, rms_norm_eps=1e-5,
    rope_theta=500000.0, hidden_act="silu", attention_bias=False, mlp_bias=False, tie_word_embeddings=True,
    rope_scaling=dict(factor=32.0, high_freq_factor=4.0, low_freq_factor=1.0,
                      original_max_position_embeddings=8192, rope_type="llama3"),
    bos_token_id=1, eos_token_id=2)
LLAMA_UNTIED_BIAS = dict(LLAMA_3_2_1B, tie_word_embeddings=False, attention_bias=True, mlp_bias=True,
                         rope_scaling=None, rope_theta=10000.0, num_key_value_heads=4)
QWEN2_5_0_5B = dict(  # Qwen/Qwen2.5-0.5B config.json, shrunk
    model_type="qwen2", hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, vocab_size=320, max_position_embeddings=32768, rms_norm_eps=1e-6,
    rope_theta=1000000.0, hidden_act="silu", tie_word_embeddings=True, use_sliding_window=False,
    sliding_window=32768, max_window_layers=21, bos_token_id=0, eos_token_id=1)
GEMMA_3_1B = dict(  # google/gemma-3-1b-pt config.json, shrunk: 4 layers, every 2nd global, window 8 < 24
    model_type="gemma3_text", hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
    num_key_value_heads=1, head_dim=32, query_pre_attn_scalar=24, vocab_size=280, max_position_embeddings=32768,
    rms_norm_eps=1e-6, rope_theta=1000000.0, rope_local_base_freq=10000.0, rope_scaling=None,
    sliding_window=8, sliding_window_pattern=2, hidden_activation="gelu_pytorch_tanh",
    final_logit_softcapping=None, attn_logit_softcapping=None, tie_word_embeddings=True,
    bos_token_id=2, eos_token_id=1, pad_token_id=0)
GEMMA_3_SCALED = dict(GEMMA_3_1B, rope_scaling=dict(rope_type="linear", factor=8.0), final_logit_softcapping=30.0,
                      num_key_value_heads=2, sliding_window=5, num_hidden_layers=3, sliding_window_pattern=3)

GEMMA_3_MULTIMODAL = dict(  # google/gemma-3-4b-pt layout (Gemma3ForConditionalGeneration), shrunk
    model_type="gemma3",
    text_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, head_dim=32, query_pre_attn_scalar=32, vocab_size=300, sliding_window=4,
                     sliding_window_pattern=2, rope_scaling=dict(rope_type="linear", factor=8.0)),
    vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                       image_size=28, patch_size=14),
    mm_tokens_per_image=4, image_token_index=299, boi_token_index=297, eoi_token_index=298, vocab_size=300)

CASES = {
    "llama": (LLAMA_3_2_1B, {}),
    "llama_untied_bias": (LLAMA_UNTIED_BIAS, {}),
    "llama_sharded": (LLAMA_3_2_1B, {"shard": True}),
    "llama_bf16": (LLAMA_3_2_1B, {"dtype": torch.bfloat16}),
    "qwen2": (QWEN2_5_0_5B, {}),
    "qwen2_bf16_sharded": (QWEN2_5_0_5B, {"dtype": torch.bfloat16, "shard": True}),
    "gemma3": (GEMMA_3_1B, {}),
    "gemma3_scaled_softcap": (GEMMA_3_SCALED, {}),
    "gemma3_multimodal": (GEMMA_3_MULTIMODAL, {"multimodal": True}),
}


def make_config(fields):
    fields = dict(fields)
    mt = fields.pop("model_type")
    cls = transformers.CONFIG_MAPPING[mt]
    return cls(**fields)


def build(name, fields, opts, out):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(sum(map(ord, name)))
    cfg = make_config(fields)
    cfg._attn_implementation = "sdpa"
    if opts.get("multimodal"):
        auto = transformers.Gemma3ForConditionalGeneration
        model = auto(cfg)
    else:
        auto = transformers.AutoModelForCausalLM
        model = auto.from_config(cfg, torch_dtype=torch.float32)
    # random init has tiny norms; give norm weights some spread so (1+w) vs w matters
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "vision" in n or "multi_modal" in n:
                continue
            if "norm" in n:
                p.normal_(0.0 if fields["model_type"].startswith("gemma") else 1.0, 0.3)
            elif n.endswith("bias"):
                p.normal_(0.0, 0.2)
            elif p.dim() == 2:
                p.normal_(0.0, 0.06)  # larger than the 0.02 init, so logits carry more signal
    dtype = opts.get("dtype", torch.float32)
    model = model.to(dtype)
    kw = {"max_shard_size": "20KB"} if opts.get("shard") else {}
    model.save_pretrained(d, safe_serialization=True, **kw)
    # reference: HF loads the saved folder in float32 (so bf16 files are read exactly as stored)
    ref = auto.from_pretrained(d, torch_dtype=torch.float32, attn_implementation="sdpa")
    ref.eval()
    g = torch.Generator().manual_seed(1234)
    ids = torch.randint(0, fields["vocab_size"] - 4, (BATCH, SEQ), generator=g)  # no image tokens
    with torch.no_grad():
        logits = ref(ids).logits.float().contiguous()
    with open(os.path.join(d, "input_ids.json"), "w") as f:
        json.dump(ids.tolist(), f)
    save_file({"logits": logits}, os.path.join(d, "ref_logits.safetensors"))
    # and HF's own bfloat16 forward, for leap's --dtype bfloat16 path
    ref16 = auto.from_pretrained(d, torch_dtype=torch.bfloat16, attn_implementation="sdpa").eval()
    with torch.no_grad():
        logits16 = ref16(ids).logits.float().contiguous()
    save_file({"logits": logits16}, os.path.join(d, "ref_logits_bf16.safetensors"))
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump({"name": name, "transformers": transformers.__version__, "torch": torch.__version__,
                   "dtype": str(dtype), "sharded": bool(opts.get("shard"))}, f)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    stamp = hashlib.sha256(open(__file__, "rb").read() + transformers.__version__.encode()).hexdigest()
    stamp_file = os.path.join(out, ".stamp")
    if os.path.exists(stamp_file) and open(stamp_file).read() == stamp:
        print("fixtures up to date in", out)
        return
    for name, (fields, opts) in CASES.items():
        build(name, fields, opts, out)
        print("built", name)
    with open(stamp_file, "w") as f:
        f.write(stamp)


if __name__ == "__main__":
    main()
