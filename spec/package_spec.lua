-- The rockspec installs what the repository has, and builds with LuaRocks.
local mock = require("spec.support.mock")
local h = require("spec.support.helpers")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local q = mock.sh_quote

-- What a command line writes to stdout.
local function capture(cmd) return select(2, h.capture(cmd)) end

-- What `make` passes LuaRocks so it finds curl/curl.h on Debian (multiarch).
local ROCK_VARS = capture("make -s print-rock-vars"):gsub("%s+$", "")

local function ls(pattern)
  local out = {}
  local p = assert(io.popen("ls " .. pattern))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

-- Every C source of the core ships; test-only C (the batchexport.parsers
-- test module, the C tests) lives under tests/c/ and never ships.
local SHIPPED_C = "csrc/*.c"
local TEST_ONLY_C = "tests/c/*.c"

describe("the rockspecs", function()
  for _, name in ipairs({ "batchexport-scm-1.rockspec", "batchexport-0.1.0-1.rockspec" }) do
    it(name .. " lists every Lua module and C source, the commands, and is lint clean", function()
      local text = read(name)
      for _, path in ipairs(ls("lua/batchexport/*.lua lua/batchexport/*/*.lua")) do
        assert.truthy(text:find('"' .. path .. '"', 1, true), path .. " missing from " .. name)
      end
      for _, path in ipairs(ls(SHIPPED_C)) do
        assert.truthy(text:find('"' .. path .. '"', 1, true), path .. " missing from " .. name)
      end
      for _, path in ipairs(ls(TEST_ONLY_C)) do
        assert.falsy(text:find('"' .. path .. '"', 1, true), path .. " is test-only, yet in " .. name)
      end
      assert.truthy(text:find('["batchexport-mock"] = "bin/batchexport-mock"', 1, true))
      assert.truthy(text:find('header = "curl/curl.h"', 1, true))
      assert.truthy(text:find('header = "zlib.h"', 1, true))
      local out = capture("luarocks lint " .. q(name) .. " 2>&1; echo \"exit=$?\"")
      assert.matches("exit=0%s*$", out)
    end)
  end

  it("the two rockspecs differ only in version and source", function()
    local scm = read("batchexport-scm-1.rockspec"):gsub("\nversion = [^\n]*", ""):gsub("\nsource = %b{}", "")
    local versioned = read("batchexport-0.1.0-1.rockspec"):gsub("\nversion = [^\n]*", ""):gsub("\nsource = %b{}", "")
    assert.equal(scm, versioned)
  end)

  it("builds and installs with luarocks make into a tree that loads, with the command", function()
    local tree = os.tmpname()
    os.remove(tree)
    local ok = os.execute("luarocks --lua-version 5.4 make --tree " .. q(tree) ..
      " --deps-mode=none batchexport-scm-1.rockspec " .. ROCK_VARS .. " >/dev/null 2>&1")
    assert.is_true(ok == true or ok == 0)
    local p = assert(io.popen("env LUA_PATH=" .. q(tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua;;") ..
      " LUA_CPATH=" .. q(tree .. "/lib/lua/5.4/?.so;;") ..
      " lua5.4 -e 'local b = require(\"batchexport\"); io.write(b._VERSION, \" \", package.searchpath(\"batchexport.core\", package.cpath))'"))
    local out = p:read("a")
    p:close()
    local cli = io.popen("env LUA_PATH=" .. q(tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua;;") ..
      " LUA_CPATH=" .. q(tree .. "/lib/lua/5.4/?.so;;") .. " " .. q(tree .. "/bin/batchexport") .. " --help 2>&1")
    local help = cli:read("a")
    cli:close()
    os.execute("rm -rf " .. q(tree))
    assert.matches("batchexport", help)
    assert.matches("download", help)
    assert.matches("^batchexport %d+%.%d+%.%d+ " .. tree:gsub("%p", "%%%0") .. "/lib/lua/5.4/batchexport/core.so$", out)
  end)
end)

-- `make dist` makes a .src.rock offline; installed into an empty tree, it
-- works from a folder that has nothing to do with the checkout, with only
-- that tree on the paths: the library, the command and the mock.
describe("make dist", function()
  it("makes a .src.rock that installs into an empty tree and runs from anywhere", function()
    local tmp = os.tmpname()
    os.remove(tmp)
    finally(function() os.execute("rm -rf " .. q(tmp)) end)
    assert(os.execute("mkdir -p " .. q(tmp .. "/elsewhere") .. " " .. q(tmp .. "/run")))
    local out = capture("make -s dist DIST=" .. q(tmp .. "/dist") .. " 2>&1; echo \"exit=$?\"")
    assert.matches("exit=0%s*$", out)
    local rock = tmp .. "/dist/batchexport-0.1.0-1.src.rock"
    assert.truthy(io.open(rock, "rb"), out)
    local listing = capture("unzip -l " .. q(rock) .. " 2>&1 || lua5.4 -e '' ")
    if listing:find("Archive", 1, true) then
      assert.matches("batchexport%-0%.1%.0%-1%.rockspec", listing)
      assert.matches("batchexport%-0%.1%.0%.tar%.gz", listing)
    end
    local tarball = capture("tar -tzf " .. q(tmp .. "/dist/batchexport-0.1.0.tar.gz"))
    assert.matches("batchexport%-0%.1%.0/LICENSE\n", tarball)
    assert.matches("batchexport%-0%.1%.0/mock/conf/nginx%.conf%.tmpl\n", tarball)

    local tree = tmp .. "/tree"
    out = capture("luarocks --lua-version 5.4 install --tree " .. q(tree) .. " --deps-mode=none " .. q(rock) ..
      " " .. ROCK_VARS .. " 2>&1; echo \"exit=$?\"")
    assert.matches("exit=0%s*$", out)
    assert.truthy(io.open(tree .. "/lib/luarocks/rocks-5.4/batchexport/0.1.0-1/conf/LICENSE", "rb"), "LICENSE not installed")

    local script = tmp .. "/elsewhere/count.lua"
    local fh = assert(io.open(script, "wb"))
    fh:write([[
      local batchexport = require("batchexport")
      local client = batchexport.assert(batchexport.from_env())
      local page = batchexport.assert(client.exports.pages({ limit = 3 })())
      print(batchexport._VERSION, #page.exports, package.searchpath("batchexport.core", package.cpath))
    ]])
    fh:close()
    local tree_paths = "LUA_PATH=" .. q(tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua;;") ..
      " LUA_CPATH=" .. q(tree .. "/lib/lua/5.4/?.so;;")
    out = capture("cd " .. q(tmp .. "/elsewhere") .. " && env -u LUA_PATH_5_4 -u LUA_CPATH_5_4 -u MOCK_PREFIX " ..
      tree_paths .. " XDG_RUNTIME_DIR=" .. q(tmp .. "/run") .. " PATH=" .. q(tree .. "/bin:/usr/bin:/bin") ..
      " bash -c " .. q([[
        set -e
        eval "$(batchexport-mock start --history 5 --speed 50)"
        lua5.4 count.lua
        batchexport list --limit 2
        batchexport-mock stop
        echo stopped
      ]]) .. " 2>&1; echo \"exit=$?\"")
    assert.matches("exit=0%s*$", out)
    local version, count, core = out:match("(batchexport %d+%.%d+%.%d+)\t(%d+)\t(%S+)")
    assert.equal("batchexport 0.1.0", version, out)
    assert.equal("3", count)
    assert.equal(tree .. "/lib/lua/5.4/batchexport/core.so", core)
    assert.matches("export_", out)
    assert.matches("stopped", out)
  end)
end)
