#!/usr/bin/env python3
"""Python peers for scripts/bench.sh, on the same HF model, data sizes and thread count as leap:

  leap_step   a plain PyTorch eager implementation of one LEAP training step on the HF transformers
              model (Gumbel-sigmoid masks on every decoder linear via F.linear(x, W*M), CE + density
              penalty - weight-norm reward, backward to the logits, clipping, torch AdamW): median
              seconds per step.
  llmc        llm-compressor's Wanda and SparseGPT (oneshot, 0:0 = unstructured) wall time; needs
              llmcompressor importable (bench.sh installs it beside the venv with --no-deps: its
              pins lag the torch/transformers that leap tests against, its code runs on them).

Writes one JSON object to --output.
Usage: bench_peers.py MODEL_DIR --output peers.json --seqlen 512 --steps 4 --nsamples 32 --calib_seqlen 512 --threads 2
"""
import argparse, json, math, statistics, sys, time

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--seqlen", type=int, default=512)
ap.add_argument("--micro_batch", type=int, default=1)
ap.add_argument("--steps", type=int, default=4)
ap.add_argument("--nsamples", type=int, default=32)
ap.add_argument("--calib_seqlen", type=int, default=512)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--only", default="leap_step,llmc")
ap.add_argument("--output", required=True, help="JSON file to write (stdout carries the peers' own logging)")
a = ap.parse_args()
torch.set_num_threads(a.threads)
from transformers import AutoModelForCausalLM  # noqa: E402

out = {"threads": torch.get_num_threads(), "torch": torch.__version__}
g = torch.Generator().manual_seed(0)


def load():
    m = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    m.eval()
    return m


if "leap_step" in a.only:
    m = load()
    for p in m.parameters():
        p.requires_grad_(False)
    linears = [mod for name, mod in m.named_modules()
               if isinstance(mod, torch.nn.Linear) and ".layers." in name and name.endswith("proj")]
    thetas = [torch.nn.Parameter(torch.randn(l.weight.shape, generator=g) * 0.014) for l in linears]
    masks = {}

    for l, th in zip(linears, thetas):
        l.forward = (lambda l: (lambda x: F.linear(x, l.weight * masks[l], l.bias)))(l)
    opt = torch.optim.AdamW(thetas, lr=1e-3, betas=(0.9, 0.95), weight_decay=0.0)
    total = sum(t.numel() for t in thetas)
    wnorm = sum(l.weight.norm().item() for l in linears)
    V = m.config.vocab_size

    def step(t=0, T=100, kappa=25.0, tau=4.0):
        x = torch.randint(3, V, (a.micro_batch, a.seqlen), generator=g)
        opt.zero_grad()
        msum, rnum = 0.0, 0.0
        for l, th in zip(linears, thetas):
            u = torch.rand(th.shape).clamp_(1e-6, 1 - 1e-6)
            M = torch.sigmoid((kappa * th + torch.log(u) - torch.log1p(-u)) / tau)
            masks[l] = M
            msum = msum + M.sum()
            rnum = rnum + (M * l.weight).norm()
        logits = m(input_ids=x).logits[:, :-1].float()
        ce = F.cross_entropy(logits.reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1))
        loss = ce + 7.0 * (msum / total - 0.5).abs() - 10.0 * (1 - t / T) * rnum / wnorm
        loss.backward()
        torch.nn.utils.clip_grad_norm_(thetas, 1.0)
        opt.step()

    step()  # warm-up
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    out["leap_step_s"] = statistics.median(times)
    del m

if "llmc" in a.only:
    try:
        from datasets import Dataset
        from llmcompressor import oneshot
        from llmcompressor.modifiers.obcq import SparseGPTModifier
        from llmcompressor.modifiers.pruning import WandaPruningModifier
        import llmcompressor
        out["llmcompressor"] = llmcompressor.__version__
    except Exception as e:  # reported, not fatal: the leap_step comparison still stands
        out["llmcompressor_error"] = f"{type(e).__name__}: {e}"
    else:
        import logging
        logging.disable(logging.WARNING)
        try:
            from loguru import logger
            logger.remove()
        except Exception:
            pass
        V = load().config.vocab_size
        ids = torch.randint(3, V, (a.nsamples, a.calib_seqlen), generator=g)
        ds = Dataset.from_dict({"input_ids": ids.tolist(), "attention_mask": torch.ones_like(ids).tolist()})
        for name, make in (("wanda", WandaPruningModifier), ("sparsegpt", SparseGPTModifier)):
            mm = load()
            t0 = time.perf_counter()
            oneshot(model=mm, dataset=ds, recipe=make(sparsity=0.5, mask_structure="0:0",
                                                      targets=["re:.*layers.*proj$"]),
                    num_calibration_samples=a.nsamples, max_seq_length=a.calib_seqlen)
            out[f"llmc_{name}_s"] = time.perf_counter() - t0
            z = sum((p == 0).sum().item() for n, p in mm.named_parameters() if ".layers." in n and "proj" in n)
            n = sum(p.numel() for n, p in mm.named_parameters() if ".layers." in n and "proj" in n)
            out[f"llmc_{name}_sparsity"] = z / n
with open(a.output, "w") as f:
    json.dump(out, f)
