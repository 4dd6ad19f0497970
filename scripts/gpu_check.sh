#!/usr/bin/env bash
# gpu_check.sh — the GPU checks of issue "GPU" in one script for a bare GPU machine: one that has
# the CUDA toolkit, a C++ compiler, CMake, ninja and a python3 with a CUDA torch (and pyarrow), but
# no package registries. It
#   1. unpacks the Debian packages leap builds against (sentencepiece, nlohmann_json, CLI11,
#      spdlog, fmt, GoogleTest, gloo's headers, bzip2, zlib, pkgconf) into a prefix with `dpkg -x`
#      (or `ar` + `tar` where dpkg is absent), never into /; fetch them beforehand, on a machine
#      with Debian 12's archive, with `scripts/gpu_check.sh --fetch` (into .gpu_bundle/, which git
#      ignores; the device tool carries it with `carry: [".gpu_bundle"]`);
#   2. builds leap and its cuda tests against python3's own torch (its LibTorch, as scripts/build.sh
#      finds the pinned one here);
#   3. runs `ctest -L cuda` (tests/cuda: CUDA vs CPU logits, mask gradients, autocast, checkpointing,
#      a short LEAP run, one NCCL rank, the allocator's figures);
#   4. prunes a random-weight Llama-3.2-1B-shaped model (hidden 2048, 16 layers, intermediate 8192,
#      32/8 heads; stories260k's 512-token vocabulary, so the LM head is smaller than Llama's) with
#      LEAP for a few steps of 4096-token sequences in bf16, on the fused mask kernels (--mask_path
#      device, the default on CUDA) and on the composite ops (--mask_path host): tokens/s, seconds
#      per step, CUDA peak allocated / reserved memory, and the memory model's total;
#   5. profiles one LEAP step of that model on each path (leap_bench --only profile --device cuda):
#      the device time of the GEMMs, the mask kernels, attention and the rest;
#   6. writes the results table to $OUT/gpu_check.md (the device tool's output folder) or --out FILE.
# Not here: multi-GPU runs.
#
# Usage: scripts/gpu_check.sh --fetch [DIR]                 fetch the .deb files (default .gpu_bundle)
#        scripts/gpu_check.sh [--bundle DIR] [--out FILE]   run the checks (wants ~10 min on 16 cores)
#   LEAP_COMMIT=<sha>   the commit to write in the table (the device copy of the tree has no .git)
#   GPU_CHECK_STEPS=N   LEAP steps of the benchmark (default 6)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
debs=(libsentencepiece-dev libsentencepiece0 nlohmann-json3-dev libcli11-dev libspdlog-dev libspdlog1.10
      libfmt-dev libfmt9 libgtest-dev libgmock-dev libgloo-dev libbz2-dev libbz2-1.0 zlib1g-dev zlib1g
      pkgconf pkgconf-bin libpkgconf3)
log() { echo "[gpu_check $(date -u +%H:%M:%S)] $*" >&2; }
die() { echo "gpu_check.sh: $*" >&2; exit 1; }

if [[ "${1:-}" == "--fetch" ]]; then
  dir="$(realpath -m "${2:-$root/.gpu_bundle}")"
  mkdir -p "$dir"
  (cd "$dir" && apt-get download "${debs[@]}") >&2 || die "apt-get download failed (needs Debian's archive)"
  ls "$dir"/*.deb | wc -l | xargs -I{} echo "[gpu_check] {} .deb files in $dir" >&2
  exit 0
fi

bundle="$root/.gpu_bundle"
out="${OUT:-$root/out}/gpu_check.md"
while (($#)); do
  case "$1" in
    --bundle) bundle="$(realpath -m "$2")"; shift 2 ;;
    --out) out="$(realpath -m "$2")"; shift 2 ;;
    *) die "unknown argument $1 (see the head of this script)" ;;
  esac
done
work="${GPU_CHECK_WORK:-/tmp/leap-gpu-check}"
prefix="$work/deps"
build="$root/build-gpu"
steps="${GPU_CHECK_STEPS:-6}"
mkdir -p "$work" "$(dirname "$out")"
t0=$(date +%s)

# ---- 0. what the machine has ---------------------------------------------------------------
for tool in cmake ninja c++ nvcc python3; do command -v "$tool" > /dev/null || die "$tool is not on PATH"; done
python3 - <<'EOF' || die "python3 cannot import torch with CUDA and pyarrow"
import torch, pyarrow
assert torch.cuda.is_available(), "torch sees no CUDA device"
print(f"[gpu_check] torch {torch.__version__} (CUDA {torch.version.cuda}), {torch.cuda.get_device_name(0)}, pyarrow {pyarrow.__version__}")
EOF
torch_prefix="$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"

# ---- 1. the Debian packages, unpacked into a prefix ------------------------------------------
ls "$bundle"/*.deb > /dev/null 2>&1 || die "no .deb files in $bundle (run scripts/gpu_check.sh --fetch on a Debian 12 machine first)"
rm -rf "$prefix" && mkdir -p "$prefix"
for deb in "$bundle"/*.deb; do
  if command -v dpkg > /dev/null; then
    dpkg -x "$deb" "$prefix"
  else  # a .deb is an ar archive holding data.tar.{xz,zst,gz}
    member="$(ar t "$deb" | grep '^data\.tar')"
    case "$member" in
      *.xz) ar p "$deb" "$member" | tar -xJ -C "$prefix" ;;
      *.zst) ar p "$deb" "$member" | zstd -dc | tar -x -C "$prefix" ;;
      *) ar p "$deb" "$member" | tar -xz -C "$prefix" ;;
    esac
  fi
done
# the -dev packages' .so links are absolute (/lib/x86_64-linux-gnu/libz.so.1...): point them into the prefix
while IFS= read -r link; do ln -sfn "$prefix$(readlink "$link")" "$link"; done < <(find "$prefix" -type l -lname '/*')
libdir="$prefix/usr/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="$libdir:$prefix/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"  # test discovery runs them
# pkg-config: the bundled pkgconf, reading only the prefix's .pc files, their paths moved under it
mkdir -p "$prefix/bin"
cat > "$prefix/bin/pkg-config" <<EOF
#!/usr/bin/env bash
export PKG_CONFIG_LIBDIR="$libdir/pkgconfig:$prefix/usr/share/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$prefix"
exec "$prefix/usr/bin/pkgconf" "\$@"
EOF
chmod +x "$prefix/bin/pkg-config"
log "unpacked $(ls "$bundle"/*.deb | wc -l) packages into $prefix"

# ---- 2. build against python3's torch -----------------------------------------------------------
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr" -DLEAP_PYTHON="$(command -v python3)" \
  -DPKG_CONFIG_EXECUTABLE="$prefix/bin/pkg-config" -DCMAKE_CXX_FLAGS="-isystem $prefix/usr/include" \
  -DTORCH_CUDA_ARCH_LIST="9.0" -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" -DCMAKE_CUDA_ARCHITECTURES=90 \
  > "$work/configure.log" 2>&1 || { tail -30 "$work/configure.log"; die "configure failed ($work/configure.log)"; }
grep -q "CUDA mask kernels: nvcc" "$work/configure.log" || { grep "CUDA mask kernels" "$work/configure.log"; die "the CUDA mask kernels are not configured"; }
cmake --build "$build" -j "$(nproc)" --target leap leap_cuda_tests leap_bench > "$work/build.log" 2>&1 ||
  { grep -m 20 -B2 -A8 "error" "$work/build.log" | head -80; die "build failed ($work/build.log)"; }
t_build=$(( $(date +%s) - t0 ))
log "built in ${t_build}s: $("$build/leap" --version)"

# ---- 3. the cuda tests -----------------------------------------------------------------------------
ctest_rc=0
(cd "$build" && ctest -L cuda --output-on-failure) > "$work/ctest.log" 2>&1 || ctest_rc=$?
log "ctest -L cuda: $(grep -E 'tests passed|tests failed' "$work/ctest.log" | tail -1)"

# ---- 4. LEAP on a Llama-3.2-1B-shaped random model -------------------------------------------------
model="$work/llama-1b-shaped"
[[ -f "$model/config.json" ]] || python3 "$root/scripts/make_bench_model.py" "$model" --hidden 2048 --layers 16 \
  --intermediate 8192 --heads 32 --kv_heads 8 >&2
flags=(--model "$model" --method leap --sparsity 0.5 --device cuda --dtype bfloat16
       --train_data "$root/data/tinystories/train.txt" --calib_data "$root/data/tinystories/train.txt"
       --nsamples 4 --calib_seqlen 4096 --seqlen 4096 --global_batch 4 --micro_batch 1 --steps "$steps")
"$build/leap" prune "${flags[@]}" --dry_run > "$work/dry_run.txt" 2>&1 || die "--dry_run failed ($work/dry_run.txt)"
bench_rc=0
for path in device host; do
  "$build/leap" prune "${flags[@]}" --mask_path "$path" --log_every 1 --log_file "$work/metrics-$path.jsonl" \
    --output_path "$work/report-$path.json" > "$work/prune-$path.log" 2>&1 || bench_rc=$?
  "$build/leap_bench" --only profile --device cuda --mask_path "$path" --model "$model" --train_data \
    "$root/data/tinystories/train.txt" --seqlen 4096 --gemm_n 512 --reps 1 --profile_top 12 \
    > "$work/profile-$path.md" 2>&1 || bench_rc=$?
  log "LEAP on the $path mask path: exit $bench_rc"
done

# ---- 5. the table -----------------------------------------------------------------------------------------
python3 - "$work" "$out" "$ctest_rc" "$bench_rc" "$t_build" "${LEAP_COMMIT:-unknown}" "$("$build/leap" --version)" <<'EOF'
import json, os, re, sys, datetime, torch
work, out, ctest_rc, bench_rc, t_build, commit, version = sys.argv[1:]
L = []
L.append(f"## GPU check, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC")
L.append("")
L.append(f"{torch.cuda.get_device_name(0)}; torch {torch.__version__} (CUDA {torch.version.cuda}); {version}; commit {commit}; build {t_build} s")
L.append("")
L.append("### ctest -L cuda")
L.append("")
L.append("```")
log = open(os.path.join(work, "ctest.log")).read().splitlines()
L += [l for l in log if re.search(r"Test +#|tests passed|tests failed", l)][-30:]
L.append("```")
L.append("")
for path in ("device", "host"):
    what = "fused CUDA mask kernels" if path == "device" else "composite mask ops"
    L.append(f"### LEAP on a random Llama-3.2-1B-shaped model, --mask_path {path} ({what}; bf16, 4 x 4096 tokens per step, micro-batch 1)")
    L.append("")
    mpath = os.path.join(work, f"metrics-{path}.jsonl")
    recs = [json.loads(l) for l in open(mpath)] if os.path.exists(mpath) else []
    rpath = os.path.join(work, f"report-{path}.json")
    if not recs or not os.path.exists(rpath):
        L.append(f"the run failed (exit {bench_rc}); the end of its log:")
        L.append("```")
        L += open(os.path.join(work, f"prune-{path}.log")).read().splitlines()[-25:]
        L.append("```")
        continue
    rep = json.load(open(rpath))
    tr = rep.get("training", {}) or {}
    L.append("| step | ce | tokens/s | CUDA allocated MiB | peak allocated MiB | peak reserved MiB |")
    L.append("|---:|---:|---:|---:|---:|---:|")
    for r in recs:
        L.append(f"| {r['step']} | {r['ce']:.4f} | {r['tokens_per_s']:.0f} | {r.get('cuda_allocated_mib') or 0:.0f} | {r.get('cuda_peak_allocated_mib') or 0:.0f} | {r.get('cuda_peak_reserved_mib') or 0:.0f} |")
    L.append("")
    mm = tr.get("memory_model_mib_per_rank")
    pa = (tr.get("cuda_peak_allocated_mib_per_rank") or [0])[0]
    pr = (tr.get("cuda_peak_reserved_mib_per_rank") or [0])[0]
    model = f"{mm:.0f} MiB (allocated / model = {pa / mm:.2f})" if mm else "not logged"
    L.append(f"training {tr.get('train_seconds', 0):.1f} s for {tr.get('steps')} steps (mask path: {tr.get('mask_path')}); peak CUDA memory {pa:.0f} MiB allocated, {pr:.0f} MiB reserved; memory model {model}")
    L.append("")
    prof = os.path.join(work, f"profile-{path}.md")
    if os.path.exists(prof):
        L.append(f"Profile of the middle of three steps (`leap_bench --only profile --device cuda --mask_path {path}`):")
        L.append("")
        L += [l for l in open(prof).read().splitlines() if l.startswith("|") or l.startswith("leap_bench")]
        L.append("")
L.append("`leap prune --dry_run` for the same settings (device path):")
L.append("")
L.append("```")
L += open(os.path.join(work, "dry_run.txt")).read().splitlines()
L.append("```")
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
EOF
log "wrote $out in $(( $(date +%s) - t0 ))s"
exit $(( ctest_rc || bench_rc ))
