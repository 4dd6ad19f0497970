#!/usr/bin/env python3
"""Independent PyTorch references for leap's layer-wise pruning tests, on stories260k (HF model).

1. Calibration: 16 windows of 128 tokens from the bundled TinyStories train text, drawn as
   Wanda/SparseGPT's get_c4 draws them (random.seed(0); random document; random window).
2. Wanda: the sequential block-by-block flow of Wanda's lib/prune.py (inputs captured per block,
   statistics from the dense block with Wanda's running-mean column norms, per-row stable sort,
   shift of zero metrics, pruned outputs propagated) on HF's LlamaForCausalLM -> keep masks.
3. SparseGPT and ADMM on fixed layer inputs: the reference algorithms (sparsegpt.py fasterprune,
   admm-pruning lib/admm.py) applied to layer 0's q_proj and down_proj with the inputs HF computes,
   at 50%, 60% and 2:4 -> the reconstruction error ||X W^T - X W_hat^T||_F each reaches.
Usage: make_prune_fixtures.py OUT SRC_DIR
"""
import json
import math
import os
import random
import sys

import torch
import transformers
from safetensors.torch import save_file

NSAMPLES, SEQLEN = 16, 128


def calibration(tok, text_file):
    enc = tok(open(text_file, encoding="utf-8").read(), return_tensors="pt").input_ids
    docs = [enc]
    random.seed(0)
    out = []
    for _ in range(NSAMPLES):
        while True:
            i = random.randint(0, len(docs) - 1)
            e = docs[i]
            if e.shape[1] > SEQLEN:
                break
        i = random.randint(0, e.shape[1] - SEQLEN - 1)
        out.append(e[:, i:i + SEQLEN])
    return torch.cat(out, 0)


LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
           "mlp.up_proj", "mlp.down_proj"]


def get(mod, path):
    for p in path.split("."):
        mod = getattr(mod, p)
    return mod


def wanda_reference(model, calib, sparsity):
    layers = model.model.layers
    with torch.no_grad():
        hidden = model.model.embed_tokens(calib)
        pos = torch.arange(calib.shape[1]).unsqueeze(0)
        rope = model.model.rotary_emb(hidden, pos)
        masks = {}
        for li, layer in enumerate(layers):
            stats = {n: [torch.zeros(get(layer, n).in_features), 0] for n in LINEARS}
            hooks = []
            for n in LINEARS:
                def hook(mod, inp, out, n=n):
                    x = inp[0]
                    for b in range(x.shape[0]):  # Wanda's add_batch, one sequence at a time
                        t = x[b].reshape(-1, x.shape[-1]).t().float()
                        s = stats[n]
                        s[0] *= s[1] / (s[1] + 1)
                        s[1] += 1
                        s[0] += torch.norm(t, p=2, dim=1) ** 2 / s[1]
                hooks.append(get(layer, n).register_forward_hook(hook))
            for b in range(calib.shape[0]):
                layer(hidden[b:b + 1], position_embeddings=rope, attention_mask=None, position_ids=pos)
            for h in hooks:
                h.remove()
            for n in LINEARS:
                W = get(layer, n).weight.data
                a = stats[n][0]
                a = a + a[a > 0].min()  # shift_zero_metrics
                metric = W.abs() * torch.sqrt(a.reshape(1, -1))
                idx = torch.sort(metric, dim=-1, stable=True)[1][:, :int(W.shape[1] * sparsity)]
                prune = torch.zeros_like(W, dtype=torch.bool).scatter_(1, idx, True)
                W[prune] = 0
                masks[f"model.layers.{li}.{n}"] = (~prune).to(torch.uint8)
            for b in range(calib.shape[0]):
                hidden[b:b + 1] = layer(hidden[b:b + 1], position_embeddings=rope, attention_mask=None, position_ids=pos)
    return masks


def sparsegpt_reference(W, X, sparsity, prunen=0, prunem=0, blocksize=128, percdamp=0.01):
    W = W.clone().float()
    cols = W.shape[1]
    H = torch.zeros(cols, cols)
    n = 0
    for b in range(X.shape[0]):
        inp = X[b].t().float()
        H *= n / (n + 1)
        n += 1
        inp = math.sqrt(2 / n) * inp
        H += inp @ inp.t()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H[range(cols), range(cols)] += percdamp * torch.mean(torch.diag(H))
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = W[:, i1:i2].clone()
        Q1, Err1 = torch.zeros_like(W1), torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        if prunen == 0:
            tmp = W1 ** 2 / (torch.diag(Hinv1).reshape((1, -1))) ** 2
            thresh = torch.sort(tmp.flatten())[0][int(tmp.numel() * sparsity)]
            mask1 = tmp <= thresh
        else:
            mask1 = torch.zeros_like(W1) == 1
        for i in range(i2 - i1):
            w, d = W1[:, i], Hinv1[i, i]
            if prunen != 0 and i % prunem == 0:
                tmp = W1[:, i:i + prunem] ** 2 / (torch.diag(Hinv1)[i:i + prunem].reshape((1, -1))) ** 2
                mask1.scatter_(1, i + torch.topk(tmp, prunen, dim=1, largest=False)[1], True)
            q = w.clone()
            q[mask1[:, i]] = 0
            Q1[:, i] = q
            err = (w - q) / d
            W1[:, i:] -= err.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err
        W[:, i1:i2] = Q1
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    return W


def admm_reference(W0, X, sparsity, nm=False, percdamp=0.1, iterative_prune=15, iters=20):
    Xf = X.reshape(-1, X.shape[-1]).float()
    XX = Xf.T @ Xf
    norm = torch.diag(XX).sqrt() + 1e-8
    XX = XX / norm
    XX = (XX.T / norm).T
    W = (W0.float() * norm).T
    diag = torch.arange(XX.shape[0])
    XX[diag, diag] += percdamp * torch.diag(XX).mean()
    XY = XX @ W
    XX[diag, diag] += 1.0
    XXinv = torch.inverse(XX)
    U = torch.zeros_like(W)
    for itt in range(iters):
        if itt < iterative_prune:
            if nm:
                WT = (W + U).T.reshape((W.shape[1] * W.shape[0] // 4, 4)).abs()
                mask = torch.zeros(WT.shape, dtype=torch.bool)
                si = WT.sort(dim=1)[1]
                mask[torch.arange(WT.shape[0]), si[:, 2]] = 1
                mask[torch.arange(WT.shape[0]), si[:, 3]] = 1
                mask = mask.reshape(W.T.shape).T
                cur = 0.5 - 0.5 * (1 - (itt + 1) / iterative_prune) ** 3
                Z2 = (W + U).abs()
                Z2[mask] = torch.inf
                thres = Z2.flatten().kthvalue(int(W.numel() * cur) + 1)[0]
                mask = Z2 >= thres
            else:
                topk = torch.topk((W + U).abs().flatten(), k=int(W.numel() * sparsity), largest=False)
                mask = torch.ones(W.numel(), dtype=torch.bool)
                mask[topk.indices] = 0
                mask = mask.reshape(W.shape)
        Z = (W + U) * mask
        U = U + (W - Z)
        W = XXinv @ (XY + (Z - U))
    Z = (W + U) * mask
    return (Z.T / norm)


def main():
    out, src = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model_dir = os.path.join(src, "data/stories260k")
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    calib = calibration(tok, os.path.join(src, "data/tinystories/train.txt"))
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tensors = {"calib_ids": calib.contiguous()}
    for s in (0.5, 0.6):
        masks = wanda_reference(transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval(),
                                calib, s)
        for k, v in masks.items():
            tensors[f"wanda{int(s * 100)}.{k}"] = v.contiguous()
    # layer-0 inputs of q_proj (post-norm hidden) and down_proj (act(gate)*up), from HF
    layer = model.model.layers[0]
    cap = {}
    hooks = [layer.self_attn.q_proj.register_forward_hook(lambda m, i, o: cap.__setitem__("q_proj", i[0].detach())),
             layer.mlp.down_proj.register_forward_hook(lambda m, i, o: cap.__setitem__("down_proj", i[0].detach()))]
    with torch.no_grad():
        model(calib)
    for h in hooks:
        h.remove()
    errors = {}
    for name, lin in (("q_proj", layer.self_attn.q_proj), ("down_proj", layer.mlp.down_proj)):
        X, W = cap[name], lin.weight.data.clone()
        tensors[f"X.{name}"] = X.contiguous()
        tensors[f"W.{name}"] = W.contiguous()
        Xf = X.reshape(-1, X.shape[-1])
        def err(Wh):
            return torch.linalg.norm(Xf @ W.T - Xf @ Wh.T).item()
        for s in (0.5, 0.6):
            errors[f"sparsegpt.{name}.{s}"] = err(sparsegpt_reference(W, X, s))
            errors[f"admm.{name}.{s}"] = err(admm_reference(W, X, s))
        errors[f"sparsegpt.{name}.2:4"] = err(sparsegpt_reference(W, X, 0.5, 2, 4))
        errors[f"admm.{name}.2:4"] = err(admm_reference(W, X, 0.5, nm=True))
    save_file(tensors, os.path.join(out, "prune_reference.safetensors"))
    json.dump({"errors": errors, "nsamples": NSAMPLES, "seqlen": SEQLEN}, open(os.path.join(out, "prune_reference.json"), "w"), indent=1)
    print(json.dumps(errors, indent=1))


if __name__ == "__main__":
    main()
