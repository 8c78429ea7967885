#!/usr/bin/env bash
# Stops what env-up.sh started and removes the env file. Safe to run twice.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${MESHTLS_ENV_DIR:-$repo/target/meshtls-env}
env_file=${MESHTLS_ENV_FILE:-$repo/.meshtls-env}

if [[ -f $state/pids ]]; then
  # Reverse order: the API server before etcd.
  tac "$state/pids" | while read -r name pid; do
    kill "$pid" 2>/dev/null && printf 'env-down: stopped %s (%s)\n' "$name" "$pid" >&2
  done
  tac "$state/pids" | while read -r name pid; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -f "$state/pids"
fi
rm -f "$env_file"
