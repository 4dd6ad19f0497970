#!/usr/bin/env bash
# Launches N copies of a program on this machine the way `torchrun --nproc-per-node N` does:
# each gets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and LOCAL_WORLD_SIZE), rank 0's
# output on the console, other ranks' output on the console prefixed with [rank N]. When a rank
# fails, the others are stopped and its exit code is returned.
#
# Usage: scripts/launch.sh -n N [-p PORT] -- PROGRAM ARGS...
#   e.g. scripts/launch.sh -n 2 -- build/leap prune --model stories260k --method leap --sparsity 0.6
# For several machines use torchrun (it ships with the torch wheel):
#   torchrun --no-python --nnodes 2 --nproc-per-node 4 --rdzv-endpoint HOST:PORT build/leap prune ...
set -euo pipefail
n=1
port=${MASTER_PORT:-}
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) n="$2"; shift 2 ;;
    -p) port="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "launch.sh: unknown option $1 (usage: launch.sh -n N [-p PORT] -- PROGRAM ARGS...)" >&2; exit 2 ;;
  esac
done
[[ $# -gt 0 ]] || { echo "launch.sh: no program given (usage: launch.sh -n N -- PROGRAM ARGS...)" >&2; exit 2; }
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "launch.sh: -n must be a positive integer (got '$n')" >&2; exit 2; }
if [[ -z "$port" ]]; then  # a free port from the kernel
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap 'cleanup; exit 130' INT TERM
for ((r = 0; r < n; r++)); do
  if ((r == 0)); then
    RANK=$r LOCAL_RANK=$r WORLD_SIZE=$n LOCAL_WORLD_SIZE=$n MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$@" &
  else
    ( RANK=$r LOCAL_RANK=$r WORLD_SIZE=$n LOCAL_WORLD_SIZE=$n MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$@" 2>&1 \
        | sed -u "s/^/[rank $r] /" >&2; exit "${PIPESTATUS[0]}" ) &
  fi
  pids+=($!)
done

status=0
while true; do
  done_pid=""
  set +e
  wait -n -p done_pid
  rc=$?
  set -e
  [[ -n "${done_pid:-}" ]] || break  # no rank left
  if ((rc != 0 && status == 0)); then
    status=$rc
    echo "launch.sh: a rank exited with status $rc; stopping the others" >&2
    cleanup
  fi
done
exit $status
