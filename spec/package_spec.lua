-- The rockspec installs what the repository has, and builds with LuaRocks.
local mock = require("spec.support.mock")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function ls(pattern)
  local out = {}
  local p = assert(io.popen("ls " .. pattern))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

describe("batchexport-scm-1.rockspec", function()
  local rockspec = read("batchexport-scm-1.rockspec")

  it("lists every Lua module and every C source", function()
    for _, path in ipairs(ls("lua/batchexport/*.lua lua/batchexport/*/*.lua")) do
      assert.truthy(rockspec:find('"' .. path .. '"', 1, true), path .. " missing from the rockspec")
    end
    for _, path in ipairs(ls("csrc/*.c")) do
      assert.truthy(rockspec:find('"' .. path .. '"', 1, true), path .. " missing from the rockspec")
    end
  end)

  it("builds and installs with luarocks make into a tree that loads, with the command", function()
    local tree = os.tmpname()
    os.remove(tree)
    local q = mock.sh_quote
    local ok = os.execute("luarocks --lua-version 5.4 make --tree " .. q(tree) ..
      " --deps-mode=none batchexport-scm-1.rockspec >/dev/null 2>&1")
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
