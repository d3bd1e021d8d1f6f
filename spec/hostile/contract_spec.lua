-- Issue 10, item 9 and strict JSON: where the contract says nil, err, no call
-- raises. Options are checked once (NaN, infinities, out-of-range values,
-- control characters bound for a header, NUL anywhere), every call on a
-- closed client answers nil, err (iterators raise an error object), a
-- reader refuses a bad count, and server JSON is parsed strictly (no NaN,
-- Infinity or hex numbers).
local batchexport = require("batchexport")
local cjson = require("cjson")
local mock = require("spec.support.mock")
local client = require("spec.support.client")
local h = require("spec.support.helpers")

local m

local function new_client(extra)
  return client.new(m, client.QUICK, { backoff_max = 0.02, max_attempts = 2 }, extra)
end

-- Calls f(...) and checks it returned nil, err of one of the kinds, without raising.
local function assert_nil_err(kinds, f, ...)
  local ok, value, err = pcall(f, ...)
  assert.is_true(ok, "raised: " .. tostring(value))
  assert.is_nil(value)
  assert.is_true(batchexport.is_error(err), "expected an error object, got " .. tostring(err))
  assert.is_truthy(kinds[err.kind], "unexpected kind " .. tostring(err.kind))
  return err
end

-- Runs f and checks it raised an error object of one of the kinds.
local function assert_raises_err(kinds, f)
  local ok, err = pcall(f)
  assert.is_false(ok)
  assert.is_true(batchexport.is_error(err), "expected an error object, got " .. tostring(err))
  assert.is_truthy(kinds[err.kind], "unexpected kind " .. tostring(err.kind))
  return err
end

local CONFIG = { config = true }
local USAGE = { config = true, validation = true }
local DECODE = { decode = true }

setup(function() m = mock.start({ workers = 1 }) end)
teardown(function() if m then m:stop() end end)
before_each(function() m:reset() end)

local NUMERIC = { "timeout", "connect_timeout", "low_speed_limit", "low_speed_time", "max_attempts",
  "backoff_base", "backoff_max", "max_retry_after", "max_body", "max_record" }
local NOT_NUMBERS = { { "NaN", 0 / 0 }, { "inf", math.huge }, { "-inf", -math.huge }, { "1e300", 1e300 },
  { "-1e300", -1e300 } }

describe("batchexport.new never raises", function()
  for _, name in ipairs(NUMERIC) do
    for _, bad in ipairs(NOT_NUMBERS) do
      it("and refuses " .. name .. " = " .. bad[1] .. " with a config error naming it", function()
        local err = assert_nil_err(CONFIG, batchexport.new, { base_url = "http://127.0.0.1:1", [name] = bad[2] })
        assert.matches(name .. ":", err.message, 1, true)
      end)
    end
  end

  local STRINGS = {
    { "user_agent", "a\r\nX: y", "CR LF" }, { "user_agent", "a\0b", "NUL" }, { "user_agent", "tab\there", "a tab" },
    { "proxy", "a\0b", "NUL" }, { "proxy", "http://p:1\r\nX: y", "CR LF" }, { "ca_file", "/etc/ssl\0/x.pem", "NUL" },
    { "api_version", "2.11\0", "NUL" }, { "base_url", "http://127.0.0.1:1\0/x", "NUL" },
    { "rest_key", "k\0k", "NUL" }, { "rest_key", string.rep("k", 5000), "5000 characters" },
    { "api_key", "abc", "3 characters (too short to be masked)" }, { "project_key", "", "nothing" },
  }
  for _, case in ipairs(STRINGS) do
    it("and refuses " .. case[1] .. " with " .. case[3] .. ": a config error naming it, not echoing it", function()
      local err = assert_nil_err(CONFIG, batchexport.new, { base_url = "http://127.0.0.1:1", [case[1]] = case[2] })
      assert.matches(case[1] .. ":", err.message, 1, true)
      if case[2] ~= "" then assert.is_nil(err.message:find(case[2], 1, true)) end
    end)
  end

  it("still accepts sensible values at the edges", function()
    assert.truthy(batchexport.new({ base_url = "http://127.0.0.1:1", timeout = 0, connect_timeout = 0.5,
      low_speed_limit = 0, low_speed_time = 1, max_attempts = 1, backoff_base = 0, max_retry_after = 0,
      max_body = 1, max_record = 1, user_agent = "tool/1.0 (+https://example.invalid)" }))
  end)
end)

describe("a closed client", function()
  local c, e, file, r
  before_each(function()
    e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    file = e.files[1]
    r = m:create_legacy({ kind = "userbase", status = "SUCCESS", rows = 3 })
    c = new_client()
    assert(c.exports.view(e.id))          -- it worked before close
    c:close()
  end)

  it("answers every call with nil, err", function()
    assert_nil_err(USAGE, c.exports.create, { export_type = "ATTRIBUTES", attributes = { "$email_address" } })
    assert_nil_err(USAGE, c.exports.view, e.id)
    assert_nil_err(USAGE, c.exports.wait_for, e.id, { interval = 0.01 })
    assert_nil_err(USAGE, c.exports.open, file)
    assert_nil_err(USAGE, c.exports.download, e.id, { dir = os.tmpname() .. ".d" })
    assert_nil_err(USAGE, c.legacy.create, "userbase", { ids = { "custom_id" } })
    assert_nil_err(USAGE, c.legacy.status, r.id)
    assert_nil_err(USAGE, c.legacy.wait_for, r.id, { interval = 0.01 })
    assert_nil_err(USAGE, c.legacy.download, r.id, { path = os.tmpname() .. ".csv" })
  end)

  it("makes every iterator raise an error object", function()
    assert_raises_err(USAGE, function() for _ in c.exports.list() do end end)
    assert_raises_err(USAGE, function() for _ in c.exports.pages() do end end)
    assert_raises_err(USAGE, function() for _ in c.exports.records(e.id) do end end)
    assert_raises_err(USAGE, function() for _ in c.legacy.rows(r.id) do end end)
  end)

  it("can be closed again", function()
    assert.has_no.errors(function() c:close() end)
  end)
end)

describe("a client closed in the middle of a walk", function()
  it("ends records with an error object, not a raw error", function()
    local e = m:create_export({ status = "SUCCESS", parts = 2, part_size = 4096 })
    local c = new_client()
    local n = 0
    assert_raises_err(USAGE, function()
      for _ in c.exports.records(e.id) do
        n = n + 1
        if n == 1 then c:close() end
      end
    end)
  end)

  it("makes an open reader answer nil, err", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    local c = new_client()
    local reader = assert(c.exports.open(e.files[1]))
    assert(reader:read(10))
    c:close()
    assert_nil_err(USAGE, reader.read, reader, 10)
  end)
end)

describe("a call's own options", function()
  it("refuse a NUL byte in a string (download's dir, legacy download's path)", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    local r = m:create_legacy({ kind = "userbase", status = "SUCCESS", rows = 3 })
    local c = new_client()
    local base = os.tmpname()
    os.remove(base)
    local err = assert_nil_err({ validation = true }, c.exports.download, e.id, { dir = base .. "\0x" })
    assert.matches("dir:", err.message, 1, true)
    err = assert_nil_err({ validation = true }, c.legacy.download, r.id, { path = base .. "\0x.csv" })
    assert.matches("path:", err.message, 1, true)
    local created = io.open(base, "rb")
    if created then created:close() h.rmrf(base) end
    assert.is_nil(created)                    -- nothing made under the cut-short name
  end)
end)

describe("reader:read(n)", function()
  for _, bad in ipairs({ { "-1", -1 }, { "0", 0 }, { "1.5", 1.5 }, { "NaN", 0 / 0 }, { "inf", math.huge },
    { "a string", "10" }, { "a table", {} } }) do
    it("answers nil, err for n = " .. bad[1], function()
      local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
      local c = new_client()
      local reader = assert(c.exports.open(e.files[1]))
      local err = assert_nil_err({ validation = true }, reader.read, reader, bad[2])
      assert.matches("n:", err.message, 1, true)
      local bytes = assert(reader:read(16))        -- the reader is still usable
      assert.equal(16, #bytes)
      reader:close()
    end)
  end
end)

describe("strict JSON for server documents", function()
  local function view_with(size_text)
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    local doc = e
    doc.files[1].size = "__SIZE__"
    local body = cjson.encode(doc):gsub('"__SIZE__"', size_text)
    m:fault({ path = "/2.11/exports/view", status = 200, body = body })
    return e
  end

  for _, text in ipairs({ "NaN", "nan", "Infinity", "-Infinity", "inf", "0x10", "0X1F" }) do
    it("refuses a view answer with size " .. text .. " as a decode error", function()
      local e = view_with(text)
      local c = new_client()
      local err = assert_nil_err(DECODE, c.exports.view, e.id)
      assert.matches("JSON", err.message, 1, true)
    end)
  end

  it("refuses a list page with count NaN", function()
    m:fault({ path = "/2.11/exports/list", status = 200,
      body = '{"exports": [], "count": NaN, "has_more": false}' })
    local c = new_client()
    assert_raises_err(DECODE, function() for _ in c.exports.list() do end end)
  end)

  it("refuses a legacy status with a hex number", function()
    local r = m:create_legacy({ kind = "userbase", status = "SUCCESS", rows = 3 })
    local body = cjson.encode(r):gsub('"status"%s*:', '"rows": 0x1F, "status":')
    m:fault({ path = "/1.0/" .. m.api_key .. "/export/request/", status = 200, body = body })
    local c = new_client()
    assert_nil_err(DECODE, c.legacy.status, r.id)
  end)

  it("refuses nesting deeper than the decoder's bound (1000 levels)", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 4096 })
    local body = cjson.encode(e):gsub('"status"%s*:', '"deep": ' .. string.rep("[", 1001) ..
      string.rep("]", 1001) .. ', "status":')
    m:fault({ path = "/2.11/exports/view", status = 200, body = body })
    local c = new_client()
    assert_nil_err(DECODE, c.exports.view, e.id)
  end)

  it("still reads every record of a normal file", function()
    local e = m:create_export({ status = "SUCCESS", parts = 1, part_size = 8192 })
    local c = new_client()
    local n = 0
    for _ in c.exports.records(e.id) do n = n + 1 end
    assert.equal(m:file(e.files[1].id).records, n)
  end)
end)
