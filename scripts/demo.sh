#!/usr/bin/env bash
# The demo: start the bundled mock, run a real export end to end with the
# library, stop the mock. `make demo` runs it after installing and building.
set -euo pipefail
cd "$(dirname "$0")/.."
export LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;'

env_file=$(mktemp)
out=$(mktemp -d)
bin/batchexport-mock start --speed 20 >"$env_file"
set -a; . "$env_file"; set +a
trap 'bin/batchexport-mock stop --prefix "$MOCK_PREFIX" >/dev/null 2>&1 || true; rm -rf "$env_file" "$out"' EXIT

echo "== mock running at $MOCK_API_URL (storage $MOCK_STORAGE_URL)"
lua5.4 examples/quickstart.lua "$out"
echo "== demo finished"
