rockspec_format = "3.0"
package = "batchexport"
version = "scm-1"
source = {
  url = "git+file:///dev/null", -- built from a checkout: luarocks make
}
description = {
  summary = "A client for Batch's Export APIs (v2 Exports and legacy 1.0), with a libcurl C core",
  detailed = [[
    Create, list, view and wait for export requests; stream their records with
    bounded memory or save their files safely. Non-blocking inside coroutine
    tasks, game loops and OpenResty handlers.
  ]],
  license = "MIT",
  labels = { "batch", "export", "http", "curl" },
}
dependencies = {
  "lua >= 5.1",
  "lua-cjson",
  "argparse >= 0.7",
}
-- libcurl and zlib come from the system (Debian: libcurl4-openssl-dev,
-- zlib1g-dev), found by their headers; elsewhere: CURL_DIR=... ZLIB_DIR=...
external_dependencies = {
  CURL = { header = "curl/curl.h" },
  ZLIB = { header = "zlib.h" },
}
build = {
  type = "builtin",
  modules = {
    ["batchexport.core"] = {
      sources = {
        "csrc/client.c",
        "csrc/core.c",
        "csrc/csvparse.c",
        "csrc/digest.c",
        "csrc/fsutil.c",
        "csrc/growable.c",
        "csrc/headers.c",
        "csrc/jsondecode.c",
        "csrc/jsonsplit.c",
        "csrc/jsonvalue.c",
        "csrc/loop.c",
        "csrc/offthread.c",
        "csrc/pump.c",
        "csrc/pager.c",
        "csrc/reader.c",
        "csrc/request.c",
        "csrc/sha256.c",
        "csrc/splitter.c",
        "csrc/strbuf.c",
        "csrc/tape.c",
        "csrc/tempfile.c",
        "csrc/terminal.c",
        "csrc/transfer.c",
        "csrc/url.c",
      },
      defines = { "_POSIX_C_SOURCE=200809L" },
      libraries = { "curl", "z", "pthread" },
      incdirs = { "$(CURL_INCDIR)", "$(ZLIB_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(ZLIB_LIBDIR)" },
    },
    batchexport = "lua/batchexport/init.lua",
    ["batchexport.class"] = "lua/batchexport/class.lua",
    ["batchexport.cli"] = "lua/batchexport/cli.lua",
    ["batchexport.cli.args"] = "lua/batchexport/cli/args.lua",
    ["batchexport.cli.config"] = "lua/batchexport/cli/config.lua",
    ["batchexport.cli.exports"] = "lua/batchexport/cli/exports.lua",
    ["batchexport.cli.legacy"] = "lua/batchexport/cli/legacy.lua",
    ["batchexport.cli.manpage"] = "lua/batchexport/cli/manpage.lua",
    ["batchexport.cli.output"] = "lua/batchexport/cli/output.lua",
    ["batchexport.cli.setup"] = "lua/batchexport/cli/setup.lua",
    ["batchexport.cli.sync"] = "lua/batchexport/cli/sync.lua",
    ["batchexport.cli.term"] = "lua/batchexport/cli/term.lua",
    ["batchexport.cli.progress"] = "lua/batchexport/cli/progress.lua",
    ["batchexport.client"] = "lua/batchexport/client.lua",
    ["batchexport.documents"] = "lua/batchexport/documents.lua",
    ["batchexport.errors"] = "lua/batchexport/errors.lua",
    ["batchexport.exports"] = "lua/batchexport/exports.lua",
    ["batchexport.files"] = "lua/batchexport/files.lua",
    ["batchexport.json"] = "lua/batchexport/json.lua",
    ["batchexport.legacy"] = "lua/batchexport/legacy.lua",
    ["batchexport.options"] = "lua/batchexport/options.lua",
    ["batchexport.request"] = "lua/batchexport/request.lua",
    ["batchexport.scheduler"] = "lua/batchexport/scheduler.lua",
    ["batchexport.stream"] = "lua/batchexport/stream.lua",
    ["batchexport.suggest"] = "lua/batchexport/suggest.lua",
    ["batchexport.sync"] = "lua/batchexport/sync.lua",
    ["batchexport.validate"] = "lua/batchexport/validate.lua",
    ["batchexport.wait"] = "lua/batchexport/wait.lua",
  },
  install = {
    bin = {
      batchexport = "bin/batchexport",
      ["batchexport-mock"] = "bin/batchexport-mock",
    },
    -- the man page beside the LICENSE in the rock's folder (LuaRocks has no
    -- man slot): man "$(luarocks show --rock-dir batchexport)/conf/batchexport.1"
    conf = { LICENSE = "LICENSE", ["batchexport.1"] = "batchexport.1" },
  },
  -- the mock's nginx configuration and Lua handlers, found by
  -- bin/batchexport-mock next to its own folder in the rock's tree
  copy_directories = { "mock" },
}
