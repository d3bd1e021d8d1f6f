# batchexport: build, test and demo. `make test` and `make demo` work on a
# fresh Debian 12 machine: both install what is missing first (scripts/deps.sh).

LUA          ?= lua5.4
LUA_INC      ?= /usr/include/lua5.4
LUAJIT_INC   ?= /usr/include/luajit-2.1
CC           ?= cc
CFLAGS       ?= -O2 -g
WARN         := -Wall -Wextra -Werror -std=c99 -pedantic -D_POSIX_C_SOURCE=200809L
LIBS         := -lcurl -lz -lm -pthread

VERSION      := 0.1.0
DIST         ?= dist
# Debian keeps curl/curl.h under /usr/include/<multiarch>, where LuaRocks does
# not look: ask the compiler where it finds it, and tell LuaRocks.
CURL_INCDIR  ?= $(patsubst %/curl/curl.h,%,$(shell printf '\043include <curl/curl.h>\n' | $(CC) -E -H -x c - 2>&1 >/dev/null | sed -n 's/^\. //p' | head -n 1))
ROCK_VARS    := $(if $(CURL_INCDIR),CURL_INCDIR=$(CURL_INCDIR))

CORE_SRC     := $(wildcard csrc/*.c)
CORE_HDR     := $(wildcard csrc/*.h)

# batchexport.parsers: the pure parsers' Lua binding, a test module only
# (spec/parsers_spec.lua). Never in the core nor the rock; tests/c/Makefile
# holds its recipe, called for the build folder and Lua headers asked here.
PARSERS_SRC  := tests/c/parsers_module.c csrc/jsonsplit.c csrc/csvparse.c csrc/jsonsplit.h csrc/csvparse.h
PARSERS_SO    = $(MAKE) -s -f tests/c/Makefile $(abspath $@) MODULE_INC=$(1) MODULE_FLAGS="$(2)"

# Where specs and tools find the module without installing it.
export LUA_PATH  := lua/?.lua;lua/?/init.lua;./?.lua;;
export LUA_CPATH := build/?.so;;

.PHONY: all deps build build-jit build-asan build-tsan build-5.1 build-5.2 build-5.3 test test-fast asan valgrind fuzz demo bench clean install dist print-rock-vars lint docs soak soak-ci

all: build

deps:
	@bash scripts/deps.sh

build: build/batchexport/core.so build/batchexport/parsers.so

build/batchexport/parsers.so: $(PARSERS_SRC)
	$(call PARSERS_SO,$(LUA_INC),$(CFLAGS))

build/batchexport/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -fPIC -shared -I$(LUA_INC) -o $@ $(CORE_SRC) $(LIBS)

# The same sources against OpenResty's LuaJIT headers (Lua 5.1 API).
build-jit: build-jit/batchexport/core.so build-jit/batchexport/parsers.so

build-jit/batchexport/parsers.so: $(PARSERS_SRC)
	$(call PARSERS_SO,$(LUAJIT_INC),$(CFLAGS))

build-jit/batchexport/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -fPIC -shared -I$(LUAJIT_INC) -o $@ $(CORE_SRC) $(LIBS)

# The same sources for PUC Lua 5.1, 5.2 and 5.3 (Debian's liblua5.X-dev),
# each in its own folder: build-5.1/batchexport/core.so...
build-5.1 build-5.2 build-5.3: build-%: build-%/batchexport/core.so build-%/batchexport/parsers.so

build-5.%/batchexport/parsers.so: $(PARSERS_SRC)
	$(call PARSERS_SO,/usr/include/lua5.$*,$(CFLAGS))

build-5.%/batchexport/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -fPIC -shared -I/usr/include/lua5.$* -o $@ $(CORE_SRC) $(LIBS)

# AddressSanitizer + UndefinedBehaviorSanitizer build of the core, and a Lua
# interpreter linked with the same runtime to load it (scripts/test.sh asan).
SANITIZE     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow

build-asan: build-asan/batchexport/core.so build-asan/batchexport/parsers.so build-asan/lua5.4-asan

build-asan/batchexport/parsers.so: $(PARSERS_SRC)
	$(call PARSERS_SO,$(LUA_INC),$(SANITIZE))

# ThreadSanitizer build of the core and its interpreter (scripts/test.sh
# tsan): the specs whose streams run on their pumps' threads (csrc/pump.c).
THREADSAN    := -O1 -g -fno-omit-frame-pointer -fsanitize=thread

build-tsan: build-tsan/batchexport/core.so build-tsan/lua5.4-tsan

# One recipe for both sanitized builds, each folder with its flags.
build-asan/%: SAN_FLAGS = $(SANITIZE)
build-tsan/%: SAN_FLAGS = $(THREADSAN)

build-asan/batchexport/core.so build-tsan/batchexport/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $(WARN) -fPIC -shared -I$(LUA_INC) -o $@ $(CORE_SRC) $(LIBS)

build-asan/lua5.4-asan build-tsan/lua5.4-tsan: tests/asan/lua.c
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $(WARN) -I$(LUA_INC) -o $@ $< -llua5.4 -lm

# Every test: lint, the reference, the spec suite on Lua 5.4, the README's
# blocks, the rock, the client specs on LuaJIT and PUC 5.1/5.2/5.3, the suite
# under ASan/UBSan, the stream specs under TSan, valgrind, a bounded fuzzing
# run and the short fault soak;
# ends with a table of
# the stages and one "N passed, N failed" line (scripts/test.sh says what
# each stage counts).
test: deps build build-jit build-asan build-tsan build-5.1 build-5.2 build-5.3
	@bash scripts/test.sh all

# The spec suite on 5.4, the README, the rock and the client specs on LuaJIT
# (quick feedback while developing).
test-fast: build build-jit
	@bash scripts/test.sh fast

asan: build-asan
	@bash scripts/test.sh asan

valgrind: build
	@bash scripts/test.sh valgrind

fuzz:
	@bash scripts/test.sh fuzz

# The fault soak (tests/soak/soak.lua): downloads and `records` runs against
# the mock with about 10% of requests faulted at random; every file and
# record count checked, no leftover, descriptor or transfer left open.
soak: build
	@SOAK_RUNS=1000 bash scripts/test.sh soak

# The same with 100 of each, as `make test` runs it (a few minutes at most).
soak-ci: build
	@bash scripts/test.sh soak

demo: deps build
	@bash scripts/demo.sh

bench: deps build
	@bash bench/run.sh

install: build
	luarocks --lua-version 5.4 make --deps-mode=none batchexport-scm-1.rockspec $(ROCK_VARS)

# luacheck over every Lua file of the project (.luacheckrc says which Lua
# each part runs on); fails on any warning;
# and clang-format (.clang-format) over csrc/, which must leave it unchanged.
LINT_FILES   := lua bin/batchexport bin/batchexport-mock examples mock spec bench tests
CLANG_FORMAT_FILES   := $(wildcard csrc/*.c csrc/*.h)
lint:
	luacheck -q $(LINT_FILES)
	clang-format --dry-run -Werror $(CLANG_FORMAT_FILES)

# The API reference (LDoc, config.ld) in docs/api/; fails on any warning.
# LDoc runs on Lua 5.1, where Debian's lua-markdown is.
LDOC         ?= lua5.1 $(shell command -v ldoc)
docs:
	@rm -rf docs/api
	@out=$$($(LDOC) -c config.ld . 2>&1); echo "$$out"; \
	  if echo "$$out" | grep -v -e '^reading configuration' -e '^output written' | grep -q .; then \
	    echo "docs: LDoc warned (above)"; exit 1; fi

print-rock-vars:
	@echo $(ROCK_VARS)

# The source tarball (git archive of the checkout: HEAD plus uncommitted
# changes to tracked files) and the .src.rock LuaRocks installs, offline:
# the rockspec's file:// URL is pointed at the tarball just made.
dist:
	@mkdir -p $(DIST)
	tree=$$(git stash create); git archive --prefix=batchexport-$(VERSION)/ \
	  -o $(DIST)/batchexport-$(VERSION).tar.gz $${tree:-HEAD}
	sed 's|file://dist/|file://$(abspath $(DIST))/|' batchexport-$(VERSION)-1.rockspec \
	  > $(DIST)/batchexport-$(VERSION)-1.rockspec
	cd $(DIST) && luarocks pack batchexport-$(VERSION)-1.rockspec
	rm -f $(DIST)/batchexport-$(VERSION)-1.rockspec

# The man page, from the command's own definitions (lua/batchexport/cli/args.lua);
# spec/cli_conventions_spec.lua fails when the committed page differs.
.PHONY: man
man:
	$(LUA) -e 'io.write(require("batchexport.cli.manpage").render())' > batchexport.1.tmp
	mv batchexport.1.tmp batchexport.1

clean:
	rm -rf build build-jit build-asan build-5.1 build-5.2 build-5.3 dist docs/api
