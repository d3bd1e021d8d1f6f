-- What the fault soak (tests/soak/soak.lua) found, each kept as a spec.
local batchexport = require("batchexport")
local mock = require("spec.support.mock")
local support_client = require("spec.support.client")
local h = require("spec.support.helpers")

local m, client

setup(function()
  m = mock.start({ history = 10 })
end)
teardown(function() if m then m:stop() end end)
before_each(function()
  m:reset()
  client = support_client.new(m, support_client.QUICK)
end)
after_each(function() client:close() end)

-- Runs fn, failing (instead of hanging) if it spins: more than `millions`
-- million Lua instructions. A reader that waits does so in the loop's poll,
-- executing next to nothing.
local function without_spinning(millions, fn)
  local calls = 0
  debug.sethook(function()
    calls = calls + 1
    if calls > millions then
      debug.sethook()
      error("spinning: over " .. millions .. " million instructions", 2)
    end
  end, "", 1000000)
  local ok, err = pcall(fn)
  debug.sethook()
  if not ok then error(err, 0) end
end

-- Reads a file through reader:read() to its end, giving each chunk to fn;
-- a read error fails the test.
local function read_through(file, fn)
  local reader = assert(client.exports.open(file))
  while true do
    local chunk, err = reader:read(4096)
    assert.is_nil(err)
    if not chunk then break end
    fn(chunk)
  end
  reader:close()
end

-- Every record of an export, counted; fails rather than hangs if it spins.
local function count_records(target)
  local n = 0
  without_spinning(200, function()
    for _ in client.exports.records(target) do n = n + 1 end
  end)
  return n
end

-- A gzip file whose first storage answer brought no byte of it (an error
-- status, an expired link, a reset, a cut after one byte) was then read as
-- plain text: the reader decided "not gzip" from the failed answer's empty
-- body, and the good answer that followed failed with "unexpected byte".
describe("a gzip file whose first storage answer failed before two bytes", function()
  local FIRST_ANSWERS = {
    { status = 503 }, { status = 429, retry_after = "0" }, { status = 403 }, { close = true }, { cut_after = 1 },
    { cut_after = 0 },
  }
  for _, fault in ipairs(FIRST_ANSWERS) do
    local name = next(fault) .. "=" .. tostring(fault[next(fault)])
    for _, format in ipairs({ "ndjson", "array" }) do
      it("is still read as gzip after " .. name .. " (" .. format .. ")", function()
        local e = m:create_export({ status = "SUCCESS", parts = 2, part_size = 20000, format = format, gzip = true })
        local expected = 0
        for _, f in ipairs(e.files) do expected = expected + m:file(f.id).records end
        local f = { host = "storage", path = "/exports/" }
        for k, v in pairs(fault) do f[k] = v end
        m:fault(f)
        assert.equal(expected, count_records(e))
      end)
    end
  end

  it("reads the same bytes through reader:read() after a 503", function()
    local e = m:create_export({ status = "SUCCESS", part_size = 20000, gzip = true })
    local function read_all()
      local out = {}
      without_spinning(200, function()
        read_through(e.files[1], function(chunk) out[#out + 1] = chunk end)
      end)
      return table.concat(out)
    end
    local plain = read_all()
    m:fault({ host = "storage", path = "/exports/", status = 503 })
    local again = read_all()
    assert.equal(20000, #plain)
    assert.equal(plain, again)
  end)
end)

-- A reader told "not enough bytes yet" (one byte of a gzip magic, say) waited
-- for "any byte pending", which was already true: it spun without ever
-- letting the network move again, forever.
describe("a reader holding fewer bytes than it needs to go on", function()
  it("waits for more instead of spinning (records)", function()
    local e = m:create_export({ status = "SUCCESS", part_size = 20000, gzip = true })
    local expected = m:file(e.files[1].id).records
    m:fault({ host = "storage", path = "/exports/", stall = 0.5, stall_at = 1 })
    assert.equal(expected, count_records(e))
  end)

  it("waits for more instead of spinning (read)", function()
    local e = m:create_export({ status = "SUCCESS", part_size = 20000, gzip = true })
    m:fault({ host = "storage", path = "/exports/", stall = 0.5, stall_at = 1 })
    local total = 0
    without_spinning(200, function()
      read_through(e.files[1], function(chunk) total = total + #chunk end)
    end)
    assert.equal(20000, total)
  end)

  it("waits for more inside a task too", function()
    local e = m:create_export({ status = "SUCCESS", part_size = 20000, gzip = true })
    local expected = m:file(e.files[1].id).records
    m:fault({ host = "storage", path = "/exports/", stall = 0.5, stall_at = 1 })
    -- count_records sets its hook inside the task (hooks are per coroutine)
    local task = batchexport.spawn(count_records, e)
    local ok, n = task:wait()
    assert.is_true(ok, tostring(n))
    assert.equal(expected, n)
  end)
end)

-- A storage that answers a resume (Range) with 200 and the whole file: a
-- download holds the file on disk and can start it again from byte 0; a
-- stream has handed its records out already and stops with a clear error.
describe("a storage that ignores Range on a resume", function()
  local dir
  before_each(function()
    dir = os.tmpname()
    os.remove(dir)
  end)
  after_each(function() h.rmrf(dir) end)

  local function names()
    local out = {}
    local p = io.popen("ls -A " .. mock.sh_quote(dir))
    for name in p:lines() do out[#out + 1] = name end
    p:close()
    return out
  end

  it("download starts the file again from byte 0 and saves it whole", function()
    local e = m:create_export({ status = "SUCCESS", part_size = 300000 })
    local sha = m:file_sha256(e.files[1].id)
    m:fault({ host = "storage", path = "/exports/", cut_after = 100000 })
    m:fault({ host = "storage", path = "/exports/", ignore_range = true })
    m:clear_log()
    local paths, err = client.exports.download(e, { dir = dir })
    assert.is_nil(err)
    assert.equal(sha, h.sha256(paths[1]))
    assert.same({ e.id .. "-1.json" }, names())
    local ranges = {}
    for _, r in ipairs(m:log().requests) do
      if r.host == "storage" then ranges[#ranges + 1] = r.range == require("cjson").null and "none" or r.range end
    end
    assert.same({ "none", "bytes=100000-", "none" }, ranges)
  end)

  it("download gives up, leaving nothing, when every resume is refused", function()
    local e = m:create_export({ status = "SUCCESS", part_size = 300000 })
    local c = assert(batchexport.new({ rest_key = m.rest_key, project_key = m.project_key, base_url = m.api_url,
      backoff_base = 0.01, backoff_max = 0.05, max_attempts = 3 }))
    m:fault({ host = "storage", path = "/exports/", cut_after = 100000, ignore_range = true, times = 10 })
    local paths, err = c.exports.download(e, { dir = dir })
    c:close()
    assert.is_nil(paths)
    assert.equal("network", err.kind)
    assert.matches("Range", err.message)
    assert.same({}, names())
  end)

  it("records stops with a network error that says so", function()
    local e = m:create_export({ status = "SUCCESS", part_size = 300000 })
    m:fault({ host = "storage", path = "/exports/", cut_after = 100000 })
    m:fault({ host = "storage", path = "/exports/", ignore_range = true })
    local ok, err = pcall(count_records, e)
    assert.is_false(ok)
    assert.equal("network", err.kind)
    assert.matches("ignored the Range request", err.message, 1, true)
  end)
end)
