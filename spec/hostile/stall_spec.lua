-- Issue #10 item 3: a server that accepts a request and then sends nothing.
-- Every transfer (API calls, downloads, and the streams behind records,
-- open and rows) has the same stall guard: fewer than low_speed_limit bytes
-- a second for low_speed_time seconds of time the consumer did not hold
-- the stream paused ends it with a `timeout` error. A consumer slower than
-- that is never failed for it.
--
-- The faults stall for STALL seconds and then send the whole body, so a
-- client without the guard does not hang the suite: it succeeds late, and
-- the spec fails on that success.
local batchexport = require("batchexport")
local mock = require("spec.support.mock")
local client = require("spec.support.client")
local h = require("spec.support.helpers")
local core = require("batchexport.core")
local scheduler = require("batchexport.scheduler")

local STALL = 20

local m, dir

local function new_client(extra)
  return client.new(m, client.QUICK, { max_attempts = 2, low_speed_time = 1 }, extra)
end

-- Storage requests for one file. (A stalled request is logged when it
-- ends, which may be during a later spec: count only this spec's file.)
local function fetches(file_id)
  local n = 0
  for _, r in ipairs(m:log().requests) do
    if r.host == "storage" and r.path:find(file_id, 1, true) then n = n + 1 end
  end
  return n
end

local raised = h.raised

-- A pause that runs nothing at all: no loop, no transfer advances.
local function busy_sleep(seconds)
  local stop = core.now() + seconds
  while core.now() < stop do end
end

-- One mock for the file; dir, where downloads go, is not there at each start.
setup(function() m, dir = mock.start({ workers = 1 }), h.tmpname() end)
teardown(function() if m then m:stop() end h.rmrf(dir) end)
before_each(function() m:reset() h.rmrf(dir) end)

describe("a storage that stalls after the headers", function()
  it("ends exports.records with a timeout error", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    m:fault({ host = "storage", stall = STALL, times = 2 })
    local c = new_client()
    local err = raised(function() for _ in c.exports.records(e) do end end)
    assert.equal("timeout", err.kind)
    assert.matches("low_speed_time", err.message)
    assert.equal(2, err.attempts)              -- one resume, then given up
  end)

  it("ends exports.open():read() with a timeout error", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    m:fault({ host = "storage", stall = STALL, times = 2 })
    local c = new_client()
    local reader = assert(c.exports.open(e.files[1]))
    local data, err = reader:read(10)
    reader:close()
    assert.is_nil(data)
    assert.equal("timeout", err.kind)
  end)

  it("ends legacy.rows with a timeout error", function()
    local s = m:create_legacy({ kind = "userbase", status = "SUCCESS", rows = 10 })
    m:fault({ host = "storage", stall = STALL, times = 2 })
    local c = new_client()
    local err = raised(function() for _ in c.legacy.rows(s) do end end)
    assert.equal("timeout", err.kind)
  end)

  it("ends exports.download with a timeout error and no file left", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    m:fault({ host = "storage", stall = STALL, times = 2 })
    local c = new_client()
    local paths, err = c.exports.download(e, { dir = dir })
    assert.is_nil(paths)
    assert.equal("timeout", err.kind)
    local p = io.popen("ls -A " .. mock.sh_quote(dir))
    assert.equal("", p:read("a"))
    p:close()
  end)

  it("ends a stream stalled midway, after the consumer has read some", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4 * 1024 * 1024 })
    -- The connection drops after 100 kB; the resume stalls.
    m:fault({ host = "storage", cut_after = 100000 })
    m:fault({ host = "storage", stall = STALL, times = 2 })
    local c = new_client()
    local reader = assert(c.exports.open(e.files[1]))
    local err
    repeat
      local data
      data, err = reader:read(65536)
    until not data
    reader:close()
    assert.equal("timeout", err and err.kind)
  end)
end)

describe("a stall seen from tasks", function()
  -- run() polls the loop for as long as nothing happens: the loop must
  -- still wake for the guards (curl alone wakes about every 10 s, after
  -- this shorter stall has ended and the body come).
  it("ends a task's records under batchexport.run(), whose polls may be long", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    m:fault({ host = "storage", stall = 6, times = 2 })
    local c = new_client()
    local task = batchexport.spawn(function()
      local n = 0
      for _ in c.exports.records(e) do n = n + 1 end
      return n
    end)
    batchexport.run()
    local ok, err = task:result()
    assert.is_false(ok)
    assert.equal("timeout", err.kind, tostring(err))
  end)
end)

describe("an API host that stalls after the headers", function()
  it("ends exports.view with a timeout error", function()
    m:fault({ path = "/2.11/exports/view", stall = STALL, times = 2 })
    local c = new_client()
    local export, err = c.exports.view("export_x")
    assert.is_nil(export)
    assert.equal("timeout", err.kind)
    assert.equal(2, err.attempts)
  end)
end)

describe("a consumer slower than low_speed_time", function()
  -- A part much larger than the stream's buffer, so the transfer is held
  -- paused while the consumer dawdles.
  local SIZE = 6 * 1024 * 1024

  it("is not failed when it blocks without running the loop", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = SIZE })
    local c = new_client()
    local n, want = 0, m:file(e.files[1].id).records
    for _ in c.exports.records(e) do
      n = n + 1
      if n == 10 or n == 2000 then busy_sleep(1.6) end
    end
    assert.equal(want, n)
    assert.equal(1, fetches(e.files[1].id))
  end)

  it("is not failed when it sleeps on the scheduler, the loop running meanwhile", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = SIZE })
    local c = new_client()
    local n, want = 0, m:file(e.files[1].id).records
    for _ in c.exports.records(e) do
      n = n + 1
      if n == 10 or n == 2000 then scheduler.sleep(1.6) end
    end
    assert.equal(want, n)
    assert.equal(1, fetches(e.files[1].id))    -- never resumed: never stalled
  end)
end)
