#!/usr/bin/env bash
# bench/profile.sh: where the CPU goes when records are streamed, counted by
# valgrind's callgrind (instructions, so the figures do not depend on what
# else the machine is doing). Runs bench/records.lua on a smaller part than
# run.sh (PROFILE_MB, default 8 MiB; callgrind is ~50x slower) and
# bench/lines.lua on the same bytes on disk, then prints the totals and the
# top functions of each.
#
#   bash bench/profile.sh                      the working tree's library
#   BENCH_SNAPSHOT=1 bash bench/profile.sh    HEAD, exported and built in a temp folder
#   BENCH_ROOT=/path/to/tree bash bench/profile.sh   another build (lua/ + build/)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
root=${BENCH_ROOT:-$repo}
mb=${PROFILE_MB:-8}
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/batchexport-profile.XXXXXX")
mock_prefix=""
cleanup() {
  if [ -n "$mock_prefix" ]; then "$repo/bin/batchexport-mock" stop --prefix "$mock_prefix" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
if [ -n "${BENCH_SNAPSHOT:-}" ]; then
  root=$work/tree
  mkdir -p "$root"
  git archive HEAD | tar -x -C "$root"
  make -s -C "$root" build >/dev/null
fi
command -v valgrind >/dev/null || { echo "profile: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
export LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;$repo/?.lua;;"
export LUA_CPATH="$root/build/?.so;;"

set -a
eval "$("$repo/bin/batchexport-mock" start --workers 2)"
set +a
mock_prefix=$MOCK_PREFIX

read -r export_id file_id < <(curl -sS -X POST -H 'Content-Type: application/json' \
  -d "{\"status\":\"SUCCESS\",\"parts\":1,\"part_size\":$((mb * 1024 * 1024)),\"format\":\"ndjson\",\"gzip\":false}" \
  "$MOCK_API_URL/_mock/exports" | lua5.4 -e 'local e = require("cjson").decode(io.read("a")) print(e.id .. " " .. e.files[1].id)')
curl -sS -L -H "Authorization: Bearer $BATCH_REST_KEY" -H "X-Batch-Project: $BATCH_PROJECT_KEY" \
  -o "$work/part.json" "$MOCK_API_URL/2.11/exports/download?id=$file_id"
echo "profile: $mb MiB part, library from $root"

for what in records lines; do
  if [ $what = records ]; then args=(bench/records.lua "$export_id"); else args=(bench/lines.lua "$work/part.json"); fi
  valgrind --tool=callgrind --callgrind-out-file="$work/$what.out" lua5.4 "${args[@]}" 2>"$work/$what.err" >/dev/null
  echo
  echo "== $what: $(grep -o 'Collected : [0-9]*' "$work/$what.err" | sed 's/Collected : //') instructions"
  callgrind_annotate --threshold=95 "$work/$what.out" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | head -16 || true
  echo "-- inclusive (the function and what it calls), for the library's own steps"
  callgrind_annotate --inclusive=yes --threshold=100 "$work/$what.out" 2>/dev/null \
    | grep -E '^ *[0-9,]+ \(.*(curl_easy_pause|curl_multi_perform|curl_multi_poll|:l_next|jsonsplit_next|:normalize|on_write|stream_compact|:inflate|lua_pushlstring|:read |:recv|__libc_recv|:luaL_checkudata|Curl_client_write)' \
    | head -14 || true
done
