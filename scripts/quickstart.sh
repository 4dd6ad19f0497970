#!/usr/bin/env bash
# quickstart.sh — one command from a fresh clone: install, build, and run leap on the embedded
# default model (stories260k, data/stories260k). Prints the model summary, a tokenization and
# the model's next-token logits after BOS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$("$root/scripts/build.sh" | tail -n 1)"
leap="$build/leap"
"$leap" --version
"$leap" inspect model --model stories260k
"$leap" inspect tokenize --model stories260k --text "Once upon a time, there was a little girl named Lily."
out="${TMPDIR:-/tmp}/leap_quickstart_logits.safetensors"
echo '[[1, 403, 407, 261, 378]]' > "${TMPDIR:-/tmp}/leap_quickstart_ids.json"
"$leap" inspect logits --model stories260k --input_ids "${TMPDIR:-/tmp}/leap_quickstart_ids.json" --output "$out"
