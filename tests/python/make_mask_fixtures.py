#!/usr/bin/env python3
"""Reference mask files for leap's mask-file tests, written by NumPy the way the LEAP/PATCH
release does (Paramathic/patch scripts/release/build_release.py, save_mask_npz): per masked weight
np.packbits of the flat keep mask under its parameter name, "<name>.__shape__" as int64, and a JSON
"__meta__" string, saved with np.savez_compressed (deflate). A second copy is saved with np.savez
(stored members) and a third with an odd-sized tensor's mask.

Masks: random keep masks at 50% for every 2-D ".layers." weight of stories260k (the release's rule
for what it masks), seed 0. The expected pruned weights come from HF transformers: the model loaded
with AutoModelForCausalLM, each named parameter multiplied by its unpacked mask as the release's
loader does (np.unpackbits(x, count=n).reshape(shape)), saved as safetensors.
Usage: make_mask_fixtures.py OUT SRC_DIR
"""
import json
import os
import sys

import numpy as np
import torch
import transformers
from safetensors.numpy import save_file


def main():
    out, src = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    model_dir = os.path.join(src, "data/stories260k")
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    rng = np.random.default_rng(0)
    arrays, masks = {}, {}
    for name, p in model.named_parameters():
        if not (name.endswith(".weight") and p.dim() == 2 and ".layers." in name):
            continue
        keep = rng.random(tuple(p.shape)) < 0.5
        masks[name] = keep
        arrays[name] = np.packbits(keep.reshape(-1))
        arrays[name + ".__shape__"] = np.array(p.shape, dtype=np.int64)
    meta = {"base_model": "stories260k", "method": "random", "sparsity": 0.5, "pattern": "unstructured",
            "format": "bit-packed uint8 (np.packbits); unpack with np.unpackbits"}
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez_compressed(os.path.join(out, "mask.npz"), **arrays)
    np.savez(os.path.join(out, "mask_stored.npz"), **arrays)

    # the release loader's reading, applied to the HF model
    data = np.load(os.path.join(out, "mask.npz"), allow_pickle=False)
    with torch.no_grad():
        params = dict(model.named_parameters())
        for key in data.files:
            if key == "__meta__" or key.endswith(".__shape__"):
                continue
            shape = tuple(int(x) for x in data[key + ".__shape__"])
            m = np.unpackbits(data[key], count=int(np.prod(shape))).astype(bool).reshape(shape)
            assert np.array_equal(m, masks[key])
            params[key].mul_(torch.from_numpy(m).to(params[key].dtype))
    save_file({k: v.detach().numpy().copy() for k, v in model.state_dict().items() if k in masks},
              os.path.join(out, "expected_weights.safetensors"))
    save_file({k: m.astype(np.uint8) for k, m in masks.items()}, os.path.join(out, "expected_masks.safetensors"))

    # an odd number of bits (13 x 7 = 91: the last byte holds 3 of them)
    odd = rng.random((13, 7)) < 0.3
    np.savez_compressed(os.path.join(out, "odd.npz"), w=np.packbits(odd.reshape(-1)),
                        **{"w.__shape__": np.array([13, 7], dtype=np.int64)})
    save_file({"w": odd.astype(np.uint8)}, os.path.join(out, "odd_expected.safetensors"))
    print(f"wrote {len(masks)} masks of stories260k to {out}")


if __name__ == "__main__":
    main()
