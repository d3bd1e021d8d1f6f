-- Issue 10, item 8: every document a server returns is checked before use.
-- A malformed one (files with string sizes or parts, a part missing,
-- fractional or repeated, files that are not an array, a list page or a
-- legacy status with fields of the wrong type) is a decode error naming the
-- field: download returns it, records and rows raise it, nothing is written
-- and nothing raises raw.
local batchexport = require("batchexport")
local cjson = require("cjson")
local mock = require("spec.support.mock")
local client = require("spec.support.client")
local h = require("spec.support.helpers")

local m

local function new_client()
  return client.new(m, client.QUICK, { backoff_max = 0.02, max_attempts = 2 })
end

local copy = h.deepcopy

local tmpdir = h.tmpname      -- a download creates it

-- The names in dir (none when it does not exist), and dir removed.
local function take_dir(dir)
  local names = h.ls(dir)
  h.rmrf(dir)
  return names
end

-- The mock answers the next view of any export with this document.
local function serve_view(doc)
  m:fault({ path = "/2.11/exports/view", status = 200,
    body = type(doc) == "string" and doc or cjson.encode(doc) })
end

local function assert_decode(err, pattern)
  assert.is_true(batchexport.is_error(err), "expected an error object, got " .. tostring(err))
  assert.equal("decode", err.kind)
  assert.matches(pattern, err.message)
end

-- An export whose two parts really exist on the mock: a malformed view of
-- it would otherwise be downloaded.
local function real_export()
  return m:create_export({ status = "SUCCESS", parts = 2, part_size = 4096 })
end

setup(function() m = mock.start({ workers = 1 }) end)
teardown(function() if m then m:stop() end end)
before_each(function() m:reset() end)

-- Each: a name, how to spoil a good export document, the field the error names.
local EXPORT_CASES = {
  { "files[1].size is a string", function(d) d.files[1].size = string.format("%d", d.files[1].size) end,
    'files%[1%]%.size: expected a whole number >= 0, got "%d+"' },
  { "files[2].part is a string", function(d) d.files[2].part = "2" end,
    'files%[2%]%.part: expected a whole number >= 1, got "2"' },
  { "files[1].part is missing", function(d) d.files[1].part = nil end,
    "files%[1%]%.part: expected a whole number >= 1, got nothing" },
  { "files[2].part is fractional", function(d) d.files[2].part = 1.5 end,
    "files%[2%]%.part: expected a whole number >= 1, got 1%.5" },
  { "files[1].part is 0", function(d) d.files[1].part = 0 end,
    "files%[1%]%.part: expected a whole number >= 1, got 0" },
  { "files[2].size is negative", function(d) d.files[2].size = -5 end,
    "files%[2%]%.size: expected a whole number >= 0, got %-5" },
  { "files[1].size is beyond any file", function(d) d.files[1].size = 1e300 end,
    "files%[1%]%.size: expected a whole number >= 0" },
  { "two files have the same part", function(d) d.files[2].part = d.files[1].part end,
    "files%[2%]%.part: part 1 appears twice" },
  { "files is an object", function(d) d.files = { first = d.files[1] } end,
    "files: expected an array" },
  { "files is a string", function(d) d.files = "file_1,file_2" end,
    "files: expected an array" },
  { "files is missing from a SUCCESS export", function(d) d.files = nil end,
    "files: expected an array" },
  { "files[1] is not an object", function(d) d.files[1] = d.files[1].id end,
    "files%[1%]: expected an object" },
  { "files[2].id is a number", function(d) d.files[2].id = 12 end,
    "files%[2%]%.id: expected" },
  { "files[1].id holds a line break", function(d) d.files[1].id = "file_1\r\nX-Evil: 1" end,
    "files%[1%]%.id: expected" },
  { "status is a number", function(d) d.status = 3 end, "status: expected a string" },
  { "the export's id is another export's", function(d) d.id = "export_someone_else" end,
    'id: expected "export_' },
  { "request is a string", function(d) d.request = "ATTRIBUTES" end, "request: expected an object" },
}

describe("a malformed export document", function()
  for _, case in ipairs(EXPORT_CASES) do
    local name, spoil, pattern = case[1], case[2], case[3]

    it("(" .. name .. "): download returns a decode error naming the field, writes nothing", function()
      local e = real_export()
      local doc = copy(e)
      spoil(doc)
      serve_view(doc)
      local c = new_client()
      local dir = tmpdir()
      local ok, paths, err = pcall(c.exports.download, e.id, { dir = dir })
      local left = take_dir(dir)
      assert.is_true(ok, "download raised: " .. tostring(paths))
      assert.is_nil(paths)
      assert_decode(err, pattern)
      assert.same({}, left)
    end)

    it("(" .. name .. "): records raises the decode error naming the field", function()
      local e = real_export()
      local doc = copy(e)
      spoil(doc)
      serve_view(doc)
      local c = new_client()
      local n = 0
      local ok, err = pcall(function() for _ in c.exports.records(e.id) do n = n + 1 end end)
      assert.is_false(ok)
      assert_decode(err, pattern)
      assert.equal(0, n)
    end)
  end

  it("in a list page is a decode error naming the export and the field", function()
    local e = real_export()
    local doc = copy(e)
    doc.files[2].part = "2"
    m:fault({ path = "/2.11/exports/list", status = 200,
      body = cjson.encode({ exports = { doc }, count = 1, has_more = false }) })
    local c = new_client()
    local ok, err = pcall(function() for _ in c.exports.list({ limit = 10 }) do end end)
    assert.is_false(ok)
    assert_decode(err, 'exports%[1%]%.files%[2%]%.part: expected a whole number >= 1, got "2"')
  end)

  it("given as a table (from list) is checked too before download", function()
    local e = real_export()
    local doc = copy(e)
    doc.files[1].size = "4096"
    local c = new_client()
    local dir = tmpdir()
    local ok, paths, err = pcall(c.exports.download, doc, { dir = dir })
    local left = take_dir(dir)
    assert.is_true(ok, "download raised: " .. tostring(paths))
    assert.is_nil(paths)
    assert_decode(err, "files%[1%]%.size: expected a whole number >= 0")
    assert.same({}, left)
  end)

  it("a good document still downloads and reads (the checks refuse only what is wrong)", function()
    local e = real_export()
    local c = new_client()
    local dir = tmpdir()
    local paths, err = c.exports.download(e.id, { dir = dir })
    local left = take_dir(dir)
    assert.is_nil(err)
    assert.equal(2, #paths)
    assert.equal(2, #left)
    local n = 0
    for _ in c.exports.records(e.id) do n = n + 1 end
    assert.is_true(n > 0)
  end)
end)

local PAGE_CASES = {
  { "exports is an object", { exports = { a = 1 }, count = 1, has_more = false }, "exports: expected an array" },
  { "count is a string", { exports = {}, count = "0", has_more = false },
    'count: expected a whole number >= 0, got "0"' },
  { "has_more is a string", { exports = {}, count = 0, has_more = "false" },
    'has_more: expected a boolean, got "false"' },
  { "next_from is a number with has_more", { exports = {}, count = 0, has_more = true, next_from = 7 },
    "next_from: expected a cursor" },
  { "next_from holds a NUL byte", { exports = {}, count = 0, has_more = true, next_from = "abc\0def" },
    "next_from: expected a cursor" },
  { "exports[1] is a string", { exports = { "export_1" }, count = 1, has_more = false },
    "exports%[1%]: expected an object" },
}

describe("a malformed list page", function()
  for _, case in ipairs(PAGE_CASES) do
    it("(" .. case[1] .. ") is a decode error naming the field, from list and pages", function()
      local c = new_client()
      for _, walk in ipairs({ "list", "pages" }) do
        m:fault({ path = "/2.11/exports/list", status = 200, body = cjson.encode(case[2]) })
        local ok, err = pcall(function() for _ in c.exports[walk]({ limit = 10 }) do end end)
        assert.is_false(ok)
        assert_decode(err, case[3])
      end
    end)
  end
end)

describe("a malformed create answer", function()
  it("(an id with a line break) is a decode error naming the id", function()
    m:fault({ path = "/2.11/profiles/export", status = 202, body = cjson.encode({ id = "export_1\r\nX: y" }) })
    local c = new_client()
    local id, err = c.exports.create({ export_type = "ATTRIBUTES", attributes = { "$email_address" } })
    assert.is_nil(id)
    assert_decode(err, "id: expected")
  end)

  it("(a legacy requestId that is a number) is a decode error naming it", function()
    m:fault({ path = "/1.0/" .. m.api_key .. "/export/userbase", status = 202, body = '{"requestId": 42}' })
    local c = new_client()
    local id, err = c.legacy.create("userbase", { ids = { "custom_id" } })
    assert.is_nil(id)
    assert_decode(err, "requestId: expected")
  end)
end)

local LEGACY_CASES = {
  { "id is a number", function(s) s.id = 42 end, "id: expected" },
  { "the id is another request's", function(s) s.id = "110e8400-e29b-11d4-b543-446655440000" end,
    'id: expected "' },
  { "status is a number", function(s) s.status = 2 end, "status: expected a string, got 2" },
  { "file_url is a number", function(s) s.file_url = 12 end, "file_url: expected" },
  { "file_url is missing from a SUCCESS status", function(s) s.file_url = nil end, "file_url: expected" },
  { "error_msg is an object", function(s) s.error_msg = { text = "x" } end, "error_msg: expected a string" },
  { "request is a string", function(s) s.request = "userbase" end, "request: expected an object" },
}

describe("a malformed legacy status", function()
  for _, case in ipairs(LEGACY_CASES) do
    local name, spoil, pattern = case[1], case[2], case[3]
    it("(" .. name .. ") is a decode error naming the field from status, rows and download", function()
      local r = m:create_legacy({ kind = "userbase", status = "SUCCESS", rows = 5 })
      local doc = copy(r)
      spoil(doc)
      local body = cjson.encode(doc)
      local c = new_client()
      local path = "/1.0/" .. m.api_key .. "/export/request/"

      m:fault({ path = path, status = 200, body = body })
      local ok, s, err = pcall(c.legacy.status, r.id)
      assert.is_true(ok, "status raised: " .. tostring(s))
      assert.is_nil(s)
      assert_decode(err, pattern)

      m:fault({ path = path, status = 200, body = body })
      local n = 0
      ok, err = pcall(function() for _ in c.legacy.rows(r.id) do n = n + 1 end end)
      assert.is_false(ok)
      assert_decode(err, pattern)
      assert.equal(0, n)

      m:fault({ path = path, status = 200, body = body })
      local dir = tmpdir()
      local saved
      ok, saved, err = pcall(c.legacy.download, r.id, { path = dir .. "/out.csv" })
      local left = take_dir(dir)
      assert.is_true(ok, "download raised: " .. tostring(saved))
      assert.is_nil(saved)
      assert_decode(err, pattern)
      assert.same({}, left)
    end)
  end
end)
