#!/usr/bin/env bash
# fuzz.sh — builds leap's libFuzzer targets with clang (ASan + UBSan; tests/fuzz/) and runs each
# for SECONDS on a corpus seeded from the real files (data/, ../shared/data, the test fixtures in
# build/fixtures when present) plus tests/fuzz/regressions/<target>/ (inputs that once failed:
# every run replays them first). Prints executions and findings per target; exits non-zero on a
# finding (the input is saved under build-fuzz/artifacts/ — add it to the regressions).
# Usage: scripts/fuzz.sh [SECONDS]        (default 60 per target)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-60}"
bf="$root/build-fuzz"
"$root/scripts/setup.sh" --quiet > /dev/null  # leap's Debian packages; clang and libFuzzer below
SUDO=""; [[ $(id -u) == 0 ]] || SUDO="sudo"
command -v clang++ > /dev/null || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang > /dev/null
clang_major=$(clang++ -dumpversion | cut -d. -f1)
if ! compgen -G "/usr/lib/llvm-$clang_major/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" > /dev/null; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "libclang-rt-$clang_major-dev" > /dev/null  # libFuzzer
fi
CXX=clang++ cmake -S "$root/tests/fuzz" -B "$bf" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$bf" > "$bf/build.log" 2>&1 || { tail -30 "$bf/build.log"; exit 1; }

# ---- seed corpora (rebuilt each run from the sources; small: headers and first lines only)
seeds="$bf/seeds"; rm -rf "$seeds"; mkdir -p "$seeds"/{safetensors,config,tokenizer_json,sentencepiece,task_data,recipe,npz}
shared="$root/../shared/data"
python3 - "$root" "$seeds" "$shared" <<'EOF'
import glob, json, os, struct, sys
root, seeds, shared = sys.argv[1:4]
def w(kind, name, data):
    with open(os.path.join(seeds, kind, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
def st_head(path, extra=64):
    b = open(path, "rb").read(1 << 20)
    n = struct.unpack("<Q", b[:8])[0]
    return b[: 8 + n + extra]
sts = glob.glob(f"{root}/data/stories260k/*.safetensors") + glob.glob(f"{root}/build/fixtures/models/*/*.safetensors")
for i, p in enumerate(sts[:12]):
    w("safetensors", f"st{i}", st_head(p))
for i, p in enumerate(glob.glob(f"{root}/build/fixtures/models/*/model.safetensors.index.json")[:4]):
    shard = sorted(glob.glob(os.path.join(os.path.dirname(p), "model-*.safetensors")))
    w("safetensors", f"index{i}", open(p, "rb").read() + b"\0" + (st_head(shard[0]) if shard else b""))
cfgs = [f"{root}/data/stories260k/config.json"] + glob.glob(f"{root}/build/fixtures/models/*/config.json")
for i, p in enumerate(cfgs[:16]):
    w("config", f"cfg{i}", open(p, "rb").read())
for p in glob.glob(f"{root}/configs/models/*.json"):
    j = json.load(open(p))
    if "config" in j:
        w("config", "preset_" + os.path.basename(p), json.dumps(j["config"]))
for i, p in enumerate(glob.glob(f"{root}/build/fixtures/tokenizers/*/tokenizer.json")):
    w("tokenizer_json", f"tok{i}", open(p, "rb").read())
w("tokenizer_json", "tiny", json.dumps({"model": {"type": "BPE", "vocab": {chr(c): i for i, c in enumerate(range(33, 127))},
      "merges": []}, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
      "added_tokens": [{"id": 94, "content": "<|endoftext|>", "special": True}]}))
for i, p in enumerate([f"{root}/data/stories260k/tokenizer.model"] + glob.glob(f"{root}/build/fixtures/tokenizers/*/tokenizer.model")):
    w("sentencepiece", f"sp{i}", open(p, "rb").read())
def head(p, n=8):
    try:
        with open(p, "rb") as f:
            return b"".join(f.readline() for _ in range(n))
    except OSError:
        return b""
w("task_data", "arc", b"\0" + head(f"{root}/data/arc/arc_easy.jsonl"))
w("task_data", "obqa", b"\1" + head(f"{root}/data/openbookqa/openbook_qa.jsonl"))
w("task_data", "wino", b"\2" + head(f"{root}/data/winogrande/winogrande.jsonl"))
w("task_data", "piqa", b"\3" + head(f"{root}/data/piqa/valid.jsonl", 4) + b"\0" + head(f"{root}/data/piqa/valid-labels.lst", 4))
w("task_data", "mmlu", b"\4question,choice0,choice1,choice2,choice3,answer\n" + head(f"{root}/data/mmlu/test/anatomy_test.csv", 4))
w("task_data", "hellaswag", b"\5" + json.dumps({"ctx": "A man is", "endings": ["a", "b", "c", "d"], "label": "1",
      "activity_label": "x"}).encode() + b"\n")
w("task_data", "text", b"\6" + head(f"{root}/data/wikitext-2/wikitext-test.txt", 20))
for p in glob.glob(f"{root}/configs/recipes/*.json"):
    w("recipe", os.path.basename(p), open(p, "rb").read())
# .npz as np.savez / np.savez_compressed lay them out: .npy v1 members (packed bits, int64 shape,
# a UTF-32 JSON string), stored and deflated; and the test fixtures' real NumPy archives
import io, zipfile
def npy(descr, shape, data):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + data
meta = '{"sparsity": 0.5}'
members = {"w.npy": npy("|u1", "(2,)", b"\xb1\xc0"), "w.__shape__.npy": npy("<i8", "(2,)", struct.pack("<2q", 2, 6)),
           "__meta__.npy": npy("<U%d" % len(meta), "()", meta.encode("utf-32-le"))}
for name, method in (("stored", zipfile.ZIP_STORED), ("deflated", zipfile.ZIP_DEFLATED)):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", compression=method) as z:
        for k, v in members.items():
            z.writestr(k, v)
    w("npz", name, b.getvalue())
for p in glob.glob(f"{root}/build/fixtures/masks/odd.npz"):
    w("npz", "odd", open(p, "rb").read())
EOF

declare -A maxlen=([safetensors]=16384 [config]=8192 [tokenizer_json]=65536 [sentencepiece]=16384 [task_data]=8192 [recipe]=4096 [npz]=8192)
status=0
printf "| fuzz target | seconds | executions | corpus | findings |\n|---|---:|---:|---:|---|\n"
for t in safetensors config tokenizer_json sentencepiece task_data recipe npz; do
  corpus="$bf/corpus/$t"; reg="$root/tests/fuzz/regressions/$t"
  mkdir -p "$corpus" "$reg" "$bf/artifacts"
  log="$bf/$t.log"
  set +e
  TMPDIR="$bf" ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$bf/fuzz_$t" -max_total_time="$secs" -max_len="${maxlen[$t]}" -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$bf/artifacts/$t-" "$corpus" "$seeds/$t" "$reg" > "$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  units=$(ls "$corpus" | wc -l)
  if [[ $rc -ne 0 ]]; then
    status=1
    art=$(ls -t "$bf/artifacts/$t-"* 2>/dev/null | head -1)
    printf "| %s | %s | %s | %s | **FINDING** (exit %d): %s, see %s |\n" "$t" "$secs" "${execs:-?}" "$units" "$rc" "${art:-no artifact}" "$log"
  else
    printf "| %s | %s | %s | %s | none |\n" "$t" "$secs" "${execs:-?}" "$units"
  fi
done
exit $status
