-- Every way out of a save removes its temporary file, and the error that
-- comes back is the right one: a progress callback's own error value, a
-- `config` error when the temporary file cannot be created. A download also
-- removes the temporary files an earlier, killed process left for the same
-- files, and nothing else (not another export's, not a live download's).
local batchexport = require("batchexport")
local errors = require("batchexport.errors")
local mock = require("spec.support.mock")
local h = require("spec.support.helpers")
local support_client = require("spec.support.client")

local sh_quote = mock.sh_quote

local sh, slurp, write, ls = h.sh, h.read, h.write, h.ls

describe("hostile file system: nothing left behind", function()
  local m, tmp, client

  local function fresh_dir(name) return h.emptydir(tmp .. "/" .. name) end

  local function storage_requests() return #m:requests("storage") end

  setup(function()
    m, tmp = mock.start({ workers = 1 }), h.tmpdir()
    client = support_client.new(m, support_client.QUICK)
  end)
  teardown(function() if m then m:stop() end h.rmrf(tmp) end)
  before_each(function() m:reset() end)

  describe("a progress callback that raises", function()
    it("v2: download returns nil and the very value raised; no file is left", function()
      local e = m:create_export({ status = "SUCCESS", parts = 2, part_size = 300000 })
      local dir = fresh_dir("progress-v2")
      local boom = setmetatable({}, { __tostring = function() return "user stop" end })
      local ok, paths, err = pcall(client.exports.download, e, { dir = dir, progress = function() error(boom) end })
      assert.is_true(ok, tostring(paths))
      assert.is_nil(paths)
      assert.equal(boom, err)
      assert.same({}, ls(dir))
    end)

    it("legacy: download returns nil and the very value raised; no file is left", function()
      local r = m:create_legacy({ kind = "userbase", status = "SUCCESS", rows = 5000 })
      local dir = fresh_dir("progress-legacy")
      local ok, path, err = pcall(client.legacy.download, r.id,
        { path = dir .. "/out.csv", progress = function() error("stop here", 0) end })
      assert.is_true(ok, tostring(path))
      assert.is_nil(path)
      assert.equal("stop here", err)
      assert.same({}, ls(dir))
    end)
  end)

  describe("a temporary file that cannot be created", function()
    it("v2: a config error naming the problem, and nothing is fetched from storage", function()
      local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 20000 })
      -- /proc/self is a folder in which nobody, root included, creates files.
      local ok, paths, err = pcall(client.exports.download, e, { dir = "/proc/self" })
      assert.is_true(ok, tostring(paths))
      assert.is_nil(paths)
      assert.is_true(errors.is(err, "config"), tostring(err))
      assert.matches("temporary file", err.message)
      assert.equal(0, storage_requests())
    end)

    it("legacy: a config error naming the problem", function()
      local r = m:create_legacy({ kind = "userbase", status = "SUCCESS", rows = 10 })
      local ok, path, err = pcall(client.legacy.download, r.id, { path = "/proc/self/out.csv" })
      assert.is_true(ok, tostring(path))
      assert.is_nil(path)
      assert.is_true(errors.is(err, "config"), tostring(err))
      assert.matches("temporary file", err.message)
      assert.equal(0, storage_requests())
    end)

    it("a path that names a folder: a config error, not a raise", function()
      local r = m:create_legacy({ kind = "userbase", status = "SUCCESS", rows = 10 })
      local dir = fresh_dir("slash")
      local ok, path, err = pcall(client.legacy.download, r.id, { path = dir .. "/sub/" })
      assert.is_true(ok, tostring(path))
      assert.is_nil(path)
      assert.is_true(errors.is(err, "config"), tostring(err))
      assert.same({ "sub" }, ls(dir))
      assert.same({}, ls(dir .. "/sub"))
    end)

    it("a final name as long as the folder allows still gets a temporary file", function()
      local r = m:create_legacy({ kind = "userbase", status = "SUCCESS", rows = 10 })
      local dir = fresh_dir("long")
      local name = string.rep("n", 251) .. ".csv"       -- 255 bytes: the longest name there is
      local path, err = client.legacy.download(r.id, { path = dir .. "/" .. name })
      assert.equal(dir .. "/" .. name, path, tostring(err))
      assert.same({ name }, ls(dir))
    end)
  end)

  describe("an error after bytes arrived", function()
    it("a file shorter than announced: a decode error, and no file at all", function()
      local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 300000 })
      e.files[1].size = e.files[1].size + 10
      local dir = fresh_dir("short")
      local paths, err = client.exports.download(e, { dir = dir })
      assert.is_nil(paths)
      assert.is_true(errors.is(err, "decode"), tostring(err))
      assert.same({}, ls(dir))
    end)

    it("a storage that cuts every answer and ignores Range: the error, and no file at all", function()
      local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 300000 })
      m:fault({ host = "storage", cut_after = 1000, ignore_range = true, times = 100 })
      local dir = fresh_dir("cut")
      local paths, err = client.exports.download(e, { dir = dir })
      assert.is_nil(paths)
      assert.is_true(errors.is(err, "network"), tostring(err))
      assert.same({}, ls(dir))
    end)
  end)

  -- PUC Lua 5.1 cannot yield from a download's pcall: a task blocks there
  -- until the download ends, so there is nothing to cancel mid-way.
  local in_task = (_VERSION == "Lua 5.1" and not rawget(_G, "jit")) and pending or it
  in_task("a task cancelled mid-download leaves no temporary file (at once, without a collection)", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 300000 })
    m:fault({ host = "storage", stall = 30 })
    local dir = fresh_dir("cancel")
    local task = batchexport.spawn(function() return client.exports.download(e, { dir = dir }) end)
    for _ = 1, 200 do
      batchexport.step(0.05)
      if #ls(dir) > 0 then break end
    end
    assert.equal(1, #ls(dir))
    assert.is_true(task:cancel())
    assert.same({}, ls(dir))
  end)

  describe("temporary files of an earlier, killed download", function()
    it("v2: that export's are removed; anything else in the folder is kept", function()
      local e = m:create_export({ status = "SUCCESS", parts = 2, part_size = 20000 })
      local dir = fresh_dir("stale-v2")
      local keep = { ".export_other-1.json.0badc0de.part", "." .. e.id .. "-1.json.0badc0de.part.bak",
        "." .. e.id .. "-1.json.nothex00.part", e.id .. "-1.json.0badc0de.part", "notes.txt",
        "." .. e.id .. "-10.json.0badc0de.part" }
      for _, name in ipairs(keep) do write(dir .. "/" .. name, "keep me") end
      write(dir .. "/." .. e.id .. "-1.json.0badc0de.part", "stale")
      write(dir .. "/." .. e.id .. "-2.json.12345678.part", "stale")
      local paths, err = client.exports.download(e, { dir = dir })
      assert.is_table(paths, tostring(err))
      local want = { e.id .. "-1.json", e.id .. "-2.json" }
      for _, name in ipairs(keep) do
        want[#want + 1] = name
        assert.equal("keep me", slurp(dir .. "/" .. name), name)
      end
      table.sort(want)
      assert.same(want, ls(dir))
    end)

    it("legacy: the file's are removed; another file's are kept", function()
      local r = m:create_legacy({ kind = "userbase", status = "SUCCESS", rows = 10 })
      local dir = fresh_dir("stale-legacy")
      write(dir .. "/.out.csv.deadbeef.part", "stale")
      write(dir .. "/.other.csv.deadbeef.part", "keep me")
      local path, err = client.legacy.download(r.id, { path = dir .. "/out.csv" })
      assert.equal(dir .. "/out.csv", path, tostring(err))
      assert.same({ ".other.csv.deadbeef.part", "out.csv" }, ls(dir))
    end)

    it("one a live download still writes (it holds its lock) is kept", function()
      local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 20000 })
      local dir = fresh_dir("live")
      local live = dir .. "/." .. e.id .. "-1.json.0badc0de.part"
      write(live, "in progress")
      local holder = sh("flock " .. sh_quote(live) .. " sleep 30 >/dev/null 2>&1 & echo $!"):match("(%d+)")
      mock.sleep(0.2)   -- real time: lets the background flock take its lock
      local paths, err = client.exports.download(e, { dir = dir })
      sh("kill " .. holder)
      assert.is_table(paths, tostring(err))
      assert.equal("in progress", slurp(live))
    end)
  end)
end)
