#!/usr/bin/env bash
# bench/run.sh: the benchmarks of issue 4, side by side in one run against one
# mock. `make bench` runs it (after building); not part of `make test`.
#
#   bash bench/run.sh                  the library and mock of the working tree
#   BENCH_SNAPSHOT=1 bash bench/run.sh the library and mock of HEAD, exported
#                                      and built in a temporary folder (so edits
#                                      in progress elsewhere in the tree cannot
#                                      change what is measured mid-run)
#   BENCH_ROOT=DIR bash bench/run.sh   the library (DIR/lua, DIR/build) and mock of
#                                      another tree, e.g. a candidate change
#   BENCH_ROUNDS=5 BENCH_LIST_PASSES=50 BENCH_DIR=/var/tmp   (defaults)
#   BENCH_ONLY=decoder bash bench/run.sh   only the decoder's figures (issue 12:
#                                      records, fields, values, gzip, array,
#                                      3 parts, peak RSS, callgrind); BENCH_ONLY=compare
#                                      only the others; BENCH_DECODER_ROUNDS=3, BENCH_DECODER_MB=100 (part size),
#                                      BENCH_CALLGRIND_MB=10 (0: no callgrind)
#
# Needs: lua5.4, lua-cjson, lua-socket, curl, coreutils (sha256sum, sync), the
# mock's packages, and GNU time (/usr/bin/time, for CPU seconds; optional).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
rounds=${BENCH_ROUNDS:-5}
passes=${BENCH_LIST_PASSES:-50}
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/batchexport-bench.XXXXXX")
root=$repo
mock_prefix=""
cleanup() {
  if [ -n "$mock_prefix" ]; then "$root/bin/batchexport-mock" stop --prefix "$mock_prefix" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${BENCH_ROOT:-}" ]; then
  root=$(cd "$BENCH_ROOT" && pwd)
  echo "bench: library and mock of $root"
elif [ -n "${BENCH_SNAPSHOT:-}" ]; then
  root=$work/tree
  mkdir -p "$root"
  git archive HEAD | tar -x -C "$root"
  make -s -C "$root" build >/dev/null
  echo "bench: library and mock of $(git rev-parse --short HEAD) (snapshot in $root)"
else
  [ -f build/batchexport/core.so ] || make -s build
  echo "bench: library and mock of the working tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- lua csrc mock || echo ', with local changes'))"
fi
export LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;$repo/?.lua;;"
# bench/values_floor.c: a measuring device of the decoder bench (the Lua side
# of `values` with nothing else left), not part of the library.
${CC:-cc} -O2 -shared -fPIC -I"${LUA_INC:-/usr/include/lua5.4}" -o "$work/values_floor.so" bench/values_floor.c
export LUA_CPATH="$root/build/?.so;$work/?.so;;"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -m | awk '/^Mem:/ {print $2 " MiB RAM"}'), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tools: $(curl --version | head -1 | cut -d' ' -f1-3), $(lua5.4 -v 2>&1 | cut -d' ' -f1-2), $(lua5.4 -e 'print("lua-cjson " .. require("cjson")._VERSION .. ", " .. require("socket")._VERSION)')"

set -a
eval "$("$root/bin/batchexport-mock" start --workers 2)"
set +a
mock_prefix=$MOCK_PREFIX
echo "mock: $MOCK_API_URL (storage $MOCK_STORAGE_URL), 2 workers"

if [ "${BENCH_ONLY:-}" != decoder ]; then
  lua5.4 bench/compare.lua "$work" "$rounds" "$passes"
fi
if [ "${BENCH_ONLY:-}" != compare ]; then
  lua5.4 bench/decoder.lua "$work" "${BENCH_DECODER_ROUNDS:-3}" "${BENCH_CALLGRIND_MB:-10}"
fi
