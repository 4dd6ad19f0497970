#!/usr/bin/env bash
# test.sh — the one command that installs what is missing, builds, and runs every test.
# Usage: scripts/test.sh [ctest args, e.g. -L unit]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$("$root/scripts/build.sh" | tail -n 1)"
cd "$build"
ctest --output-on-failure -j "${LEAP_TEST_JOBS:-2}" "$@"
