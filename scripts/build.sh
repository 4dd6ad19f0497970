#!/usr/bin/env bash
# build.sh — set up dependencies (scripts/setup.sh) and build leap into build/ (or $LEAP_BUILD_DIR).
# Usage: scripts/build.sh [extra cmake -D options]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$("$root/scripts/setup.sh" "$([[ "${CI:-}" == true ]] && echo --quiet || echo)" | tail -n 1)"
build="${LEAP_BUILD_DIR:-$root/build}"
prefix="$("$venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" -DLEAP_PYTHON="$venv/bin/python" -DTORCH_CUDA_ARCH_LIST="8.0;9.0" "$@" >&2
else
  cmake "$build" -DCMAKE_PREFIX_PATH="$prefix" -DLEAP_PYTHON="$venv/bin/python" "$@" >/dev/null
fi
cmake --build "$build" -j "${LEAP_JOBS:-$(nproc)}" >&2
echo "$build"
