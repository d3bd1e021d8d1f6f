#!/usr/bin/env bash
# Installs the Debian packages batchexport needs to build, test and run its
# demo, skipping those already there. Safe to run again; needs root or sudo.
set -euo pipefail

packages=(
  gcc make clang libclang-rt-14-dev valgrind      # build, sanitizers, fuzzing
  lua5.4 liblua5.4-dev lua-cjson                  # the module itself
  lua-argparse man-db groff-base                  # the command: its parser, its man page
  libcurl4-openssl-dev zlib1g-dev                 # HTTP, gzip
  libluajit2-5.1-dev luajit2                      # the OpenResty (LuaJIT) build
  lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev     # every PUC Lua the library runs on
  lua5.3 liblua5.3-dev                            # (lua-cjson, lua-socket... ship all four)
  lua-check clang-format lua-ldoc lua-markdown    # make lint, make docs
  luarocks lua-busted lua-socket lua-sec          # packaging, specs, reference client
  nginx-light libnginx-mod-http-lua openssl curl  # the mock servers
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
# Debian starts nginx as a system service when it is installed; the project
# only ever runs its own instances, so keep the service down.
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  made_policy=1
fi
trap '[ -n "$made_policy" ] && $sudo rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
