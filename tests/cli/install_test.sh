#!/usr/bin/env bash
# The installed layout: `cmake --install BUILD --prefix PREFIX`, then PREFIX/bin/leap, run from an
# unrelated folder without LEAP_HOME, finds its short names, configs and data in
# PREFIX/share/leap, prunes the embedded model and writes the result.
# Usage: install_test.sh BUILD_DIR PREFIX
set -uo pipefail
build="$1"; prefix="$2"
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$prefix"
cmake --install "$build" --prefix "$prefix" > "$prefix.log" 2>&1 || { cat "$prefix.log"; fail "cmake --install"; }
[[ -x "$prefix/bin/leap" ]] || fail "no $prefix/bin/leap"
[[ -f "$prefix/share/leap/configs/models/stories260k.json" ]] || fail "no configs under share/leap"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
env -u LEAP_HOME "$prefix/bin/leap" inspect model --model stories260k > model.log 2>&1 || { cat model.log; fail "inspect model"; }
grep -q "$prefix/share/leap/data/stories260k" model.log || grep -q "prunable linears" model.log || { cat model.log; fail "no model table"; }
env -u LEAP_HOME "$prefix/bin/leap" prune --model stories260k --method wanda --sparsity 0.5 --nsamples 4 --calib_seqlen 64 \
  --device cpu --output_path "$work/r.json" > prune.log 2>&1 || { cat prune.log; fail "prune"; }
grep -q "$prefix/share/leap/data/tinystories/train.txt" r.json || { cat r.json; fail "calibration not from share/leap"; }
ls -a "$work" | grep -q lock && fail "lock files left: $(ls -a "$work")"
echo "install: passed"
