# batchexport: build, test and demo. `make test` and `make demo` work on a
# fresh Debian 12 machine: both install what is missing first (scripts/deps.sh).

LUA          ?= lua5.4
LUA_INC      ?= /usr/include/lua5.4
LUAJIT_INC   ?= /usr/include/luajit-2.1
CC           ?= cc
CFLAGS       ?= -O2 -g
WARN         := -Wall -Wextra -Werror -std=c99 -pedantic -D_POSIX_C_SOURCE=200809L
LIBS         := -lcurl -lz -lm -pthread

CORE_SRC     := $(wildcard csrc/*.c)
CORE_HDR     := $(wildcard csrc/*.h)

# Where specs and tools find the module without installing it.
export LUA_PATH  := lua/?.lua;lua/?/init.lua;./?.lua;;
export LUA_CPATH := build/?.so;;

.PHONY: all deps build build-jit build-asan test test-fast asan valgrind fuzz demo bench clean install

all: build

deps:
	@bash scripts/deps.sh

build: build/batchexport/core.so

build/batchexport/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -fPIC -shared -I$(LUA_INC) -o $@ $(CORE_SRC) $(LIBS)

# The same sources against OpenResty's LuaJIT headers (Lua 5.1 API).
build-jit: build-jit/batchexport/core.so

build-jit/batchexport/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -fPIC -shared -I$(LUAJIT_INC) -o $@ $(CORE_SRC) $(LIBS)

# AddressSanitizer + UndefinedBehaviorSanitizer build of the core, and a Lua
# interpreter linked with the same runtime to load it (scripts/test.sh asan).
SANITIZE     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow

build-asan: build-asan/batchexport/core.so build-asan/lua5.4-asan

build-asan/batchexport/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(SANITIZE) $(WARN) -fPIC -shared -I$(LUA_INC) -o $@ $(CORE_SRC) $(LIBS)

build-asan/lua5.4-asan: tests/asan/lua.c
	@mkdir -p $(@D)
	$(CC) $(SANITIZE) $(WARN) -I$(LUA_INC) -o $@ $< -llua5.4 -lm

# Every test: the spec suite, the same suite under ASan/UBSan, the C parser
# tests and a bounded fuzzing run; ends with one "N passed, N failed" line.
test: deps build build-jit build-asan
	@bash scripts/test.sh all

# Just the spec suite on the normal build (quick feedback while developing;
# the OpenResty spec loads the LuaJIT build).
test-fast: build build-jit
	@bash scripts/test.sh specs

asan: build-asan
	@bash scripts/test.sh asan

valgrind: build
	@bash scripts/test.sh valgrind

fuzz:
	@bash scripts/test.sh fuzz

demo: deps build
	@bash scripts/demo.sh

bench: deps build
	@bash bench/run.sh

install: build
	luarocks --lua-version 5.4 make --deps-mode=none batchexport-scm-1.rockspec

# The man page, from the command's own definitions (lua/batchexport/cli/args.lua);
# spec/cli_conventions_spec.lua fails when the committed page differs.
.PHONY: man
man:
	$(LUA) -e 'io.write(require("batchexport.cli.manpage").render())' > batchexport.1.tmp
	mv batchexport.1.tmp batchexport.1

clean:
	rm -rf build build-jit build-asan
