#!/usr/bin/env bash
# Runs batchexport's tests and ends with one line "N passed, N failed" summed
# from busted's own results (and the fuzzers' verdicts); exits non-zero on any
# failure. Modes:
#   specs  the spec suite on the normal build (build/)
#   asan   the same suite with the core built with ASan+UBSan (build-asan/)
#   jit    the client specs on LuaJIT with the core built for it (build-jit/)
#   valgrind  the core and the parsers under valgrind (scripts/valgrind.sh)
#   fuzz   the parsers' libFuzzer targets, for FUZZ_SECONDS each
#   soak   the fault soak (tests/soak/soak.lua): SOAK_RUNS downloads and as
#          many `records` runs (100 unless set) under random faults, SOAK_SEED
#   all    all of the above
set -uo pipefail
cd "$(dirname "$0")/.."
export LUA_PATH='lua/?.lua;lua/?/init.lua;./?.lua;;'
mode=${1:-all}
passed=0
failed=0
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
    return
  fi
  read -r s f e <<<"$(echo "$line" | awk '{print $1, $4, $7}')"
  passed=$((passed + s))
  failed=$((failed + f + e))
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

specs() {
  run_busted specs lua5.4 build -- spec
}

asan() {
  # The interpreter carries the sanitizer runtime itself, so the processes
  # the specs start (nginx, curl, child Lua programs) run without it. Only
  # the core is instrumented; leaks are valgrind's job (scripts/valgrind.sh).
  run_busted asan build-asan/lua5.4-asan build \
    "ASAN_LUA_CPATH=build-asan/?.so" "BATCHEXPORT_CPATH=build-asan/?.so" "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1" "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1" \
    "BATCHEXPORT_SANITIZED=1" -- spec
}

jit() {
  if ! command -v luajit >/dev/null; then
    echo "test.sh: luajit is not installed (make deps installs luajit2)"
    failed=$((failed + 1))
    return
  fi
  local files=()
  for f in spec/*_spec.lua; do
    grep -q '<close>' "$f" || files+=("$f")        # 5.4 syntax stays on 5.4
  done
  LUA_PATH="lua/?.lua;lua/?/init.lua;./?.lua;/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua;;" \
    run_busted jit luajit build-jit -- "${files[@]}"
}

valgrind_run() {
  echo "== valgrind"
  if bash scripts/valgrind.sh >"$logs/valgrind.out" 2>&1; then
    tail -n 3 "$logs/valgrind.out"
    passed=$((passed + 1))
  else
    cat "$logs/valgrind.out"
    echo "valgrind: invalid access or leak (above)"
    failed=$((failed + 1))
  fi
}

fuzz() {
  echo "== fuzz"
  if make -s -C tests/c fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}" >"$logs/fuzz.out" 2>&1; then
    tail -n 5 "$logs/fuzz.out"
    passed=$((passed + 1))
  else
    cat "$logs/fuzz.out"
    echo "fuzz: a fuzzer found a failure"
    failed=$((failed + 1))
  fi
}

soak() {
  local runs=${SOAK_RUNS:-100}
  echo "== soak ($runs downloads, $runs records runs)"
  if lua5.4 tests/soak/soak.lua --downloads "$runs" --records "$runs" --seed "${SOAK_SEED:-1}" \
      >"$logs/soak.out" 2>&1; then
    sed -n '/^fault soak:/,$p' "$logs/soak.out"
    passed=$((passed + 1))
  else
    grep -v '^soak: \(downloads\|records\) [0-9]' "$logs/soak.out"
    echo "soak: a run ended wrong, or left something behind (above)"
    failed=$((failed + 1))
  fi
}

case "$mode" in
  specs) specs ;;
  asan) asan ;;
  jit) jit ;;
  valgrind) valgrind_run ;;
  fuzz) fuzz ;;
  soak) soak ;;
  all) specs; asan; jit; valgrind_run; fuzz; soak ;;
  *) echo "usage: scripts/test.sh [specs|asan|jit|valgrind|fuzz|soak|all]" >&2; exit 2 ;;
esac

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
