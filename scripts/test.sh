#!/usr/bin/env bash
# Runs batchexport's tests and ends with one line "N passed, N failed" summed
# from busted's own results (and the fuzzers' verdicts); exits non-zero on any
# failure. Before it, a table of what each stage counted. Modes (several may
# be given: scripts/test.sh specs readme):
#   specs  the spec suite on Lua 5.4 and the normal build (build/), but for
#          the README and package specs (the next two stages)
#   readme every lua/sh block of README.md run against the mock, one busted
#          test each, plus one that checks every block is run or shown
#          (spec/readme_spec.lua)
#   package  the rockspecs, `make dist`, and the .src.rock installed into an
#          empty tree and run from elsewhere (spec/package_spec.lua)
#   asan   the whole suite with the core built with ASan+UBSan (build-asan/)
#   tsan   the specs whose streams run on their pumps' threads, with the core
#          and the interpreter built with ThreadSanitizer (build-tsan/); a
#          race report ends the run, so the stage fails
#   jit    the client specs (spec/*_spec.lua and spec/hostile/) on LuaJIT
#          with the core built for it (build-jit/), but those using 5.4's
#          <close> and those whose subject runs on a fixed Lua anyway (see
#          interpreter_files: the command on 5.4, a 5.4 child, nginx's
#          LuaJIT), which the 5.4 stages run; that saves CI minutes
#   lua5.1 lua5.2 lua5.3  the same client specs on PUC Lua 5.1, 5.2, 5.3
#          (build-5.X/); spec/support/compat.lua lets the specs' own code
#          use 5.3 idioms
#   lint   luacheck over every Lua file (make lint): 1 if clean
#   docs   the LDoc reference (make docs): 1 if built without a warning
#   valgrind  the core and the parsers under valgrind (scripts/valgrind.sh)
#   fuzz   the libFuzzer targets (JSON split, CSV, response headers, the
#          decoder against lua-cjson), FUZZ_SECONDS each
#   soak   the fault soak (tests/soak/soak.lua): SOAK_RUNS downloads and as
#          many `records` runs (100 unless set) under random faults, SOAK_SEED
#   fast   specs readme package jit
#   all    every stage
set -uo pipefail
cd "$(dirname "$0")/.."
export LUA_PATH='lua/?.lua;lua/?/init.lua;./?.lua;;'
[ $# -eq 0 ] && set -- all
passed=0
failed=0
stages=()     # "name passed failed", for the table at the end
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# count NAME FILE: adds busted's "N successes / N failures / N errors" line.
count() {
  local line s f e
  # busted says "1 success", "2 successes", "1 failure", "1 error"...
  line=$(grep -E '^[0-9]+ success(es)? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$2" | tail -n 1)
  if [ -z "$line" ]; then
    echo "test.sh: $1 printed no busted summary (crashed?)"
    failed=$((failed + 1))
    stages+=("$1 0 1")
    return
  fi
  read -r s f e <<<"$(echo "$line" | awk '{print $1, $4, $7}')"
  passed=$((passed + s))
  failed=$((failed + f + e))
  stages+=("$1 $s $((f + e))")
}

# verdict NAME OK: a stage that passes or fails as a whole.
verdict() {
  if [ "$2" = ok ]; then
    passed=$((passed + 1)); stages+=("$1 1 0")
  else
    failed=$((failed + 1)); stages+=("$1 0 1")
  fi
}

# busted NAME INTERPRETER CPATH [ENV...] -- FILES...
run_busted() {
  local name=$1 lua=$2 cpath=$3
  shift 3
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  echo "== $name"
  env LUA_CPATH="$cpath/?.so;;" BATCHEXPORT_CPATH="$cpath/?.so" "${envs[@]}" \
    "$lua" /usr/bin/busted -o plainTerminal "$@" 2>&1 | tee "$logs/$name.out"
  count "$name" "$logs/$name.out"
}

# Every spec file, but the README and package specs (stages of their own).
suite_files() {
  find spec -name '*_spec.lua' ! -name readme_spec.lua ! -name package_spec.lua | sort
}

# The client specs: spec/*_spec.lua but those using 5.4 syntax (<close>) and
# the package spec (LuaRocks for 5.4, checked by its own stage).
client_files() {
  for f in spec/*_spec.lua spec/hostile/*_spec.lua; do
    [ "$f" = spec/package_spec.lua ] && continue
    grep -q '<close>' "$f" || echo "$f"        # 5.4 syntax stays on 5.4
  done
}

specs() {
  mapfile -t files < <(suite_files)
  run_busted specs lua5.4 build -- "${files[@]}"
}

readme() {
  run_busted readme lua5.4 build -- spec/readme_spec.lua
}

package() {
  run_busted package lua5.4 build -- spec/package_spec.lua
}

# The client specs that exercise the interpreter running them: not those
# whose subject runs in a process of its own on a fixed Lua (the command,
# bin/batchexport on 5.4; the memory and kill specs' 5.4 children; nginx's
# LuaJIT). The 5.4 stages (specs, asan) run them.
interpreter_files() {
  client_files | grep -v -e '^spec/cli_spec.lua$' -e '^spec/cli_tty_spec.lua$' \
    -e '^spec/cli_conventions_spec.lua$' -e '^spec/sync_cli_spec.lua$' \
    -e '^spec/hostile/kill_spec.lua$' -e '^spec/legacy_memory_spec.lua$' \
    -e '^spec/openresty_spec.lua$'
}

# lua_version V: the client specs on PUC Lua V with build-V/.
lua_version() {
  local v=$1
  if ! command -v "lua$v" >/dev/null || [ ! -f "build-$v/batchexport/core.so" ]; then
    echo "test.sh: lua$v or build-$v/ is missing (make deps build-$v)"
    failed=$((failed + 1)); stages+=("lua$v 0 1")
    return
  fi
  mapfile -t files < <(interpreter_files)
  LUA_PATH="lua/?.lua;lua/?/init.lua;./?.lua;/usr/share/lua/$v/?.lua;/usr/share/lua/$v/?/init.lua;;" \
    run_busted "lua$v" "lua$v" "build-$v" -- --helper=spec/support/compat.lua "${files[@]}"
}

lint() {
  echo "== lint"
  if make -s lint; then verdict lint ok; else verdict lint failed; fi
}

docs() {
  echo "== docs"
  if make -s docs; then verdict docs ok; else verdict docs failed; fi
}

asan() {
  # The interpreter carries the sanitizer runtime itself, so the processes
  # the specs start (nginx, curl, child Lua programs) run without it. Only
  # the core is instrumented; leaks are valgrind's job (scripts/valgrind.sh).
  mapfile -t files < <(suite_files)
  run_busted asan build-asan/lua5.4-asan build \
    "ASAN_LUA_CPATH=build-asan/?.so" "BATCHEXPORT_CPATH=build-asan/?.so" "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1" "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1" \
    "BATCHEXPORT_SANITIZED=1" -- "${files[@]}"
}

tsan() {
  # The interpreter carries the runtime; children (nginx, lua5.4) run the
  # normal build. halt_on_error: a report kills busted before its summary.
  run_busted tsan build-tsan/lua5.4-tsan build \
    "ASAN_LUA_CPATH=build-tsan/?.so" "TSAN_OPTIONS=halt_on_error=1" -- \
    spec/stream_thread_spec.lua spec/records_spec.lua spec/decoder_spec.lua spec/legacy_spec.lua \
    spec/hostile/contract_spec.lua spec/hostile/content_range_spec.lua spec/hostile/stall_spec.lua
}

jit() {
  if ! command -v luajit >/dev/null; then
    echo "test.sh: luajit is not installed (make deps installs luajit2)"
    failed=$((failed + 1))
    return
  fi
  mapfile -t files < <(interpreter_files)
  LUA_PATH="lua/?.lua;lua/?/init.lua;./?.lua;/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua;;" \
    run_busted jit luajit build-jit -- "${files[@]}"
}

valgrind_run() {
  echo "== valgrind"
  if bash scripts/valgrind.sh >"$logs/valgrind.out" 2>&1; then
    tail -n 3 "$logs/valgrind.out"
    verdict valgrind ok
  else
    cat "$logs/valgrind.out"
    echo "valgrind: invalid access or leak (above)"
    verdict valgrind failed
  fi
}

fuzz() {
  echo "== fuzz"
  # One fuzzer a core: each still gets FUZZ_SECONDS, the stage takes less.
  if make -s -j"$(nproc)" -C tests/c fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}" >"$logs/fuzz.out" 2>&1; then
    tail -n 5 "$logs/fuzz.out"
    verdict fuzz ok
  else
    cat "$logs/fuzz.out"
    echo "fuzz: a fuzzer found a failure"
    verdict fuzz failed
  fi
}

soak() {
  local runs=${SOAK_RUNS:-100}
  echo "== soak ($runs downloads, $runs records runs)"
  if lua5.4 tests/soak/soak.lua --downloads "$runs" --records "$runs" --seed "${SOAK_SEED:-1}" \
      >"$logs/soak.out" 2>&1; then
    sed -n '/^fault soak:/,$p' "$logs/soak.out"
    verdict soak ok
  else
    grep -v '^soak: \(downloads\|records\) [0-9]' "$logs/soak.out"
    echo "soak: a run ended wrong, or left something behind (above)"
    verdict soak failed
  fi
}

for mode in "$@"; do
  case "$mode" in
    specs) specs ;;
    readme) readme ;;
    package) package ;;
    asan) asan ;;
    tsan) tsan ;;
    jit) jit ;;
    lua5.1|lua5.2|lua5.3) lua_version "${mode#lua}" ;;
    lint) lint ;;
    docs) docs ;;
    valgrind) valgrind_run ;;
    fuzz) fuzz ;;
    soak) soak ;;
    fast) specs; readme; package; jit ;;
    all) lint; docs; specs; readme; package; jit; lua_version 5.1; lua_version 5.2; lua_version 5.3; asan; tsan; valgrind_run; fuzz; soak ;;
    *) echo "usage: scripts/test.sh [specs|readme|package|asan|tsan|jit|lua5.1|lua5.2|lua5.3|lint|docs|valgrind|fuzz|soak|fast|all]..." >&2; exit 2 ;;
  esac
done

echo
printf '%-10s %8s %8s\n' stage passed failed
for row in "${stages[@]}"; do
  read -r name p f <<<"$row"
  printf '%-10s %8s %8s\n' "$name" "$p" "$f"
done
# What failed, a few lines each, so the tail of a CI log names it.
for log in "$logs"/*.out; do
  [ -f "$log" ] || continue
  awk -v stage="$(basename "$log" .out)" '
    /^(Failure|Error) -> / { n = 4; print ""; printf "%s: ", stage }
    n > 0 { print substr($0, 1, 300); n-- }' "$log"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
