#!/usr/bin/env bash
# build.sh — set up dependencies (scripts/setup.sh) and build leap with a CMake preset
# (CMakePresets.json: release → build/, debug → build-debug/, asan → build-asan/).
# Usage: scripts/build.sh [extra cmake -D options]
#   LEAP_PRESET=debug        another configure preset (default release)
#   LEAP_BUILD_DIR=DIR       another build folder than the preset's
#   LEAP_WARNINGS_AS_ERRORS=ON   compiler warnings fail the build (CI sets it)
#   LEAP_TARGETS="a b"       build only these targets (default: all)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$("$root/scripts/setup.sh" "$([[ "${CI:-}" == true ]] && echo --quiet || echo)" | tail -n 1)"
preset="${LEAP_PRESET:-release}"
case "$preset" in release) dir=build ;; *) dir="build-$preset" ;; esac
build="${LEAP_BUILD_DIR:-$root/$dir}"
export LEAP_TORCH_PREFIX="$("$venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
export LEAP_PYTHON="$venv/bin/python"
extra=("$@")
[[ -n "${LEAP_WARNINGS_AS_ERRORS:-}" ]] && extra+=("-DLEAP_WARNINGS_AS_ERRORS=$LEAP_WARNINGS_AS_ERRORS")
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake --preset "$preset" -S "$root" -B "$build" "${extra[@]}" >&2
else  # the venv may have moved (a new requirements hash): refresh the two paths the preset set
  cmake "$build" -DCMAKE_PREFIX_PATH="$LEAP_TORCH_PREFIX" -DLEAP_PYTHON="$LEAP_PYTHON" "${extra[@]}" >/dev/null
fi
targets=()
[[ -n "${LEAP_TARGETS:-}" ]] && read -r -a targets <<< "--target $LEAP_TARGETS"
cmake --build "$build" -j "${LEAP_JOBS:-$(nproc)}" "${targets[@]}" >&2
echo "$build"
