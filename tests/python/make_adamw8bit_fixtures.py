"""Reference for leap's 8-bit AdamW (src/leap/adamw_8bit.h): torchao's AdamW8bit itself.

Writes OUT/adamw8bit.safetensors: three parameters (sizes multiples of 256 and at least 4096, the
tensors torchao quantizes), their gradients for each of 6 steps, the parameters after every step,
and the final moments' codes and block scales; plus torchao's two quantization maps. torchao runs
eagerly (TORCHDYNAMO_DISABLE: its torch.compile of the step becomes the plain function), so the
reference is its update rule in LibTorch ops, not inductor's code.

torchao is installed beside the venv (pip --no-deps --target) the first time, as bench.sh does
for llm-compressor: it is not one of the pinned packages.
Usage: make_adamw8bit_fixtures.py OUT
"""
import os
import pathlib
import subprocess
import sys

os.environ["TORCHDYNAMO_DISABLE"] = "1"
TORCHAO = "0.18.0"
peers = pathlib.Path.home() / ".cache" / "leap" / f"peers-torchao-{TORCHAO}"
if not (peers / "torchao").is_dir():
    tmp = peers.with_name(peers.name + ".tmp")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp),
                    f"torchao=={TORCHAO}"], check=True)
    tmp.rename(peers)
sys.path.insert(0, str(peers))

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from torchao.optim import AdamW8bit  # noqa: E402
from torchao.optim.quant_utils import create_dynamic_map  # noqa: E402

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
sizes = [4096, 8192, 256 * 20]
params = [torch.nn.Parameter(torch.randn(n)) for n in sizes]
t = {f"theta0.{i}": p.detach().clone() for i, p in enumerate(params)}
opt = AdamW8bit(params, lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, block_size=256)
steps = 6
for s in range(1, steps + 1):
    for i, p in enumerate(params):
        # gradients over six orders of magnitude inside each block, as a mask logit's are
        g = torch.randn(sizes[i]) * torch.logspace(-6, 0, sizes[i])[torch.randperm(sizes[i])]
        p.grad = g
        t[f"grad{s}.{i}"] = g.clone()
    opt.step()
    for i, p in enumerate(params):
        t[f"theta{s}.{i}"] = p.detach().clone()
for i, p in enumerate(params):
    st = opt.state[p]
    for k in ("exp_avg", "exp_avg_sq"):
        t[f"{k}_codes.{i}"] = st[k].codes.clone()
        t[f"{k}_scale.{i}"] = st[k].scale.clone()
t["qmap_signed"] = torch.tensor(create_dynamic_map(signed=True), dtype=torch.float32)
t["qmap_unsigned"] = torch.tensor(create_dynamic_map(signed=False), dtype=torch.float32)
save_file(t, str(out / "adamw8bit.safetensors"), metadata={"steps": str(steps), "torchao": TORCHAO})
print(f"wrote {out / 'adamw8bit.safetensors'} (torchao {TORCHAO})")
