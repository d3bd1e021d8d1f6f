#!/usr/bin/env bash
# Runs the core under valgrind: tests/valgrind/session.lua drives every
# userdata through success, error and abandon paths; the parsers' C tests run
# under valgrind too (tests/c). Fails on any invalid access or definite leak.
set -uo pipefail
cd "$(dirname "$0")/.."
export LUA_PATH='lua/?.lua;lua/?/init.lua;./?.lua;;' LUA_CPATH='build/?.so;;'
status=0
valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
  --error-exitcode=99 lua5.4 tests/valgrind/session.lua || status=1
make -s -C tests/c valgrind || status=1
exit $status
