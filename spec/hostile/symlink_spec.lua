-- Downloads never write through a link someone planted in the target folder:
-- temporary files are created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, mode
-- 0600) under names drawn from the OS's random source, a link at a final
-- name is replaced rather than followed, and final files get the mode the
-- user's umask gives (0666 & ~umask, as `curl -o` does).
-- No 5.4-only syntax: the LuaJIT cases run in luajit child processes.
local mock = require("spec.support.mock")
local client = require("spec.support.client")
local h = require("spec.support.helpers")

local sh_quote = mock.sh_quote

local sh, slurp, write, sha256, ls, mode_of = h.sh, h.read, h.write, h.sha256, h.ls, h.mode_of

local function is_link(path)
  local _, code = sh("test -L " .. sh_quote(path))
  return code == 0
end

describe("hostile file system: links and modes", function()
  local m, tmp

  local function new_client() return client.new(m, client.QUICK) end
  local function fresh_dir(name) return h.emptydir(tmp .. "/" .. name) end

  -- Runs a Lua program in a child process (`lua` is "lua5.4" or "luajit"),
  -- with the mock's settings in its environment; returns its output, status.
  local function run_child(lua, source, env_prefix)
    local path = tmp .. "/child.lua"
    write(path, source)
    local cpath = lua == "luajit" and "build-jit/?.so;;" or "build/?.so;;"
    local lpath = "lua/?.lua;lua/?/init.lua;./?.lua;/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua;;"
    local vars = table.concat({ "LUA_PATH=" .. sh_quote(lpath), "LUA_CPATH=" .. sh_quote(cpath),
      "MOCK_API_URL=" .. sh_quote(m.api_url), "BATCH_REST_KEY=" .. sh_quote(m.rest_key),
      "BATCH_PROJECT_KEY=" .. sh_quote(m.project_key), "BATCH_API_KEY=" .. sh_quote(m.api_key) }, " ")
    return sh((env_prefix or "") .. "env -u LD_PRELOAD " .. vars .. " " .. lua .. " " .. sh_quote(path))
  end

  setup(function() m, tmp = mock.start({ workers = 1 }), h.tmpdir() end)
  teardown(function() if m then m:stop() end h.rmrf(tmp) end)
  before_each(function() m:reset() end)

  it("a link planted at the temporary name a download would pick is not followed", function()
    -- Where nothing seeds math.random (LuaJIT), a name drawn from it is the
    -- same on every run, and anyone can plant a link there. Here every draw
    -- gives 42: the link sits where such a download would write.
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 20000 })
    local dir = fresh_dir("planted")
    local victim = tmp .. "/victim"
    write(victim, "precious")
    assert(os.execute("ln -s " .. sh_quote(victim) .. " " ..
      sh_quote(dir .. "/." .. e.id .. "-1.json.0000002a.part")))
    local real_random = math.random
    -- luacheck: push ignore 122 (the old code named temp files from math.random)
    math.random = function() return 42 end
    local ok, paths, err = pcall(new_client().exports.download, e, { dir = dir })
    math.random = real_random
    -- luacheck: pop
    assert.is_true(ok, tostring(paths))
    assert.equal("precious", slurp(victim))
    assert.is_table(paths, tostring(err))
    assert.equal(m:file_sha256(e.files[1].id), sha256(paths[1]))
  end)

  it("temporary names come from the OS's random source: two fresh LuaJIT runs pick different names", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 300000 })
    local names = {}
    for run = 1, 2 do
      local dir = fresh_dir("names" .. run)
      local out, code = run_child("luajit", string.format([[
        local c = assert(require("batchexport").new({ rest_key = os.getenv("BATCH_REST_KEY"),
          project_key = os.getenv("BATCH_PROJECT_KEY"), base_url = os.getenv("MOCK_API_URL") }))
        local seen
        local paths, err = c.exports.download(%q, { dir = %q, progress = function()
          if seen then return end
          local p = io.popen("ls -A %s")
          seen = p:read("*a")
          p:close()
        end })
        assert(paths, tostring(err))
        io.write("temp=", seen or "", "\n")
      ]], e.id, dir, dir))
      assert.equal(0, code, out)
      names[run] = out:match("temp=(%S+)")
      assert.matches("^%." .. e.id .. "%-1%.json%.%x+%.part$", names[run])
    end
    assert.not_equal(names[1], names[2])
  end)

  it("a link at a final name is replaced by the file; its target is untouched", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 20000 })
    local dir = fresh_dir("final-link")
    local victim = tmp .. "/victim2"
    write(victim, "precious")
    assert(os.execute("ln -s " .. sh_quote(victim) .. " " .. sh_quote(dir .. "/" .. e.id .. "-1.json")))
    local paths, err = new_client().exports.download(e, { dir = dir })
    assert.is_table(paths, tostring(err))
    assert.equal("precious", slurp(victim))
    assert.is_false(is_link(paths[1]))
    assert.equal(m:file_sha256(e.files[1].id), sha256(paths[1]))
  end)

  it("the C exclusive create refuses a planted link, dangling or not, and never touches its target", function()
    local bin = tmp .. "/test_fsutil"
    local out, code = sh("cc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -pedantic -O1 -g -o " ..
      sh_quote(bin) .. " tests/c/test_fsutil.c csrc/fsutil.c")
    assert.equal(0, code, out)
    out, code = sh(sh_quote(bin) .. " " .. sh_quote(fresh_dir("c-unit")))
    assert.equal(0, code, out)
    assert.matches("0 failed", out)
  end)

  it("the core lists folders, reads modes and resolves links without a shell", function()
    local core = require("batchexport.core")
    local dir = fresh_dir("core-fs")
    write(dir .. "/a", "x")
    assert(os.execute("chmod 640 " .. sh_quote(dir .. "/a") .. " && ln -s a " .. sh_quote(dir .. "/b")))
    local names = assert(core.list_dir(dir))
    table.sort(names)
    assert.same({ "a", "b" }, names)
    assert.same({ 416, "file" }, { core.file_mode(dir .. "/b") })     -- 0640, the link followed
    assert.equal("directory", select(2, core.file_mode(dir)))
    assert.equal(assert(core.realpath(dir)) .. "/a", core.realpath(dir .. "/b"))
    local none, why = core.list_dir(dir .. "/missing")
    assert.is_nil(none)
    assert.matches("missing", why)
    assert.is_nil(core.file_mode(dir .. "/missing"))
    assert.is_nil(core.realpath(dir .. "/missing"))
  end)

  describe("final files get the mode the umask gives; temporary files are 0600", function()
    for _, case in ipairs({ { umask = "027", want = "640" }, { umask = "002", want = "664" },
      { umask = "077", want = "600" } }) do
      it("umask " .. case.umask .. ": " .. case.want, function()
        local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 300000 })
        local legacy = m:create_legacy({ kind = "userbase", status = "SUCCESS", rows = 2000 })
        local dir = fresh_dir("mode" .. case.umask)
        local out, code = run_child("lua5.4", string.format([[
          local c = assert(require("batchexport").new({ rest_key = os.getenv("BATCH_REST_KEY"),
            project_key = os.getenv("BATCH_PROJECT_KEY"), api_key = os.getenv("BATCH_API_KEY"),
            base_url = os.getenv("MOCK_API_URL") }))
          local temp_mode
          local function look()
            if temp_mode then return end
            local p = io.popen("stat -c '%%n %%a' %s/.*.part 2>/dev/null")
            temp_mode = p:read("*a"):match(" (%%d+)")
            p:close()
          end
          local paths, err = c.exports.download(%q, { dir = %q, progress = look })
          assert(paths, tostring(err))
          io.write("temp=", tostring(temp_mode), "\n")
          temp_mode = nil
          local path
          path, err = c.legacy.download(%q, { path = %q, progress = look })
          assert(path, tostring(err))
          io.write("legacy_temp=", tostring(temp_mode), "\n")
          io.write("final=", paths[1], "\n")
        ]], dir, e.id, dir, legacy.id, dir .. "/legacy.csv"), "umask " .. case.umask .. "; ")
        assert.equal(0, code, out)
        assert.equal("600", out:match("\ntemp=(%d+)") or out:match("^temp=(%d+)"), out)
        assert.equal("600", out:match("legacy_temp=(%d+)"), out)
        assert.equal(case.want, mode_of(out:match("final=(%S+)")))
        assert.equal(case.want, mode_of(dir .. "/legacy.csv"))
        assert.same({ e.id .. "-1.json", "legacy.csv" }, ls(dir))
      end)
    end
  end)
end)
