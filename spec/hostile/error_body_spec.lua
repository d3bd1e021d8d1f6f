-- Issue #10 item 4: an error answer whose body never ends. Every sink (the
-- buffer of an API call, a download's file, a reader's stream) keeps the
-- start of an error body for the message and then ends the transfer: the
-- call comes back with an `http` error instead of reading forever.
local mock = require("spec.support.mock")
local client = require("spec.support.client")
local h = require("spec.support.helpers")

local m, dir

-- What an error body may cost: the kept prefix (64 KiB) plus what the
-- kernel's socket buffers on loopback take before the client hangs up.
-- Reading on (today's bug) runs to gigabytes, or to max_body (16 MiB).
local BOUND = 8 * 1024 * 1024

local function new_client(extra)
  return client.new(m, client.QUICK, { max_attempts = 2, low_speed_time = 5 }, extra)
end

-- The log entries of the faulted host, each of which must have been cut short.
local function assert_bounded(host)
  local seen = 0
  for _, r in ipairs(m:log().requests) do
    if r.host == host and r.status ~= 307 and r.status ~= 302 and r.status ~= 200 then
      seen = seen + 1
      assert.is_true(r.bytes_sent < BOUND, "the " .. host .. " sent " .. r.bytes_sent .. " bytes")
    end
  end
  assert.is_true(seen >= 1)
end

-- The error an iterator raises.
local raised = h.raised

-- One mock for the file; dir, where downloads go, is not there at each start.
setup(function() m, dir = mock.start({ workers = 1 }), h.tmpname() end)
teardown(function() if m then m:stop() end h.rmrf(dir) end)
before_each(function() m:reset() h.rmrf(dir) end)

describe("an endless error body", function()
  it("from storage ends exports.records with an http error", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    m:fault({ host = "storage", status = 500, endless = true, times = 5 })
    local c = new_client()
    local err = raised(function() for _ in c.exports.records(e) do end end)
    assert.equal("http", err.kind)
    assert.equal(500, err.status)
    assert_bounded("storage")
  end)

  it("from storage ends exports.open():read() with an http error", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    m:fault({ host = "storage", status = 403, endless = true, times = 5 })
    local c = new_client()
    local reader = assert(c.exports.open(e.files[1]))
    local data, err = reader:read(100)
    reader:close()
    assert.is_nil(data)
    assert.equal("http", err.kind)
    assert.equal(403, err.status)
    assert_bounded("storage")
  end)

  it("from storage ends exports.download with an http error and no file left", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    m:fault({ host = "storage", status = 500, endless = true, times = 5 })
    local c = new_client()
    local paths, err = c.exports.download(e, { dir = dir })
    assert.is_nil(paths)
    assert.equal("http", err.kind)
    assert.equal(500, err.status)
    assert_bounded("storage")
    local p = io.popen("ls -A " .. mock.sh_quote(dir))
    assert.equal("", p:read("a"))
    p:close()
  end)

  it("from storage ends legacy.rows with an http error", function()
    local s = m:create_legacy({ kind = "userbase", status = "SUCCESS", rows = 10 })
    m:fault({ host = "storage", status = 500, endless = true, times = 5 })
    local c = new_client()
    local err = raised(function() for _ in c.legacy.rows(s) do end end)
    assert.equal("http", err.kind)
    assert.equal(500, err.status)
    assert_bounded("storage")
  end)

  it("from the API ends exports.view with an http error that keeps the start of the body", function()
    m:fault({ path = "/2.11/exports/view", status = 500, endless = true, body = "overloaded ", times = 5 })
    local c = new_client()
    local export, err = c.exports.view("export_x")
    assert.is_nil(export)
    assert.equal("http", err.kind)
    assert.equal(500, err.status)
    assert.matches("overloaded overloaded", err.message)
    assert_bounded("api")
  end)

  it("from the API ends a download link request with an http error", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    m:fault({ path = "/2.11/exports/download", status = 503, endless = true, times = 5 })
    local c = new_client()
    local paths, err = c.exports.download(e, { dir = dir })
    assert.is_nil(paths)
    assert.equal("http", err.kind)
    assert.equal(503, err.status)
    assert_bounded("api")
  end)
end)
