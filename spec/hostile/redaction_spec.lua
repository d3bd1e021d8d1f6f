-- Issue 10, item 5: a server that echoes the credentials back (in the error
-- code, the message, a header, an export table, a body cut at the excerpt's
-- 200 characters) never gets a piece of a key into an error or a log line.
local batchexport = require("batchexport")
local cjson = require("cjson")
local mock = require("spec.support.mock")
local client = require("spec.support.client")
local h = require("spec.support.helpers")

-- Keys that share no 4-character run with English text or with each other,
-- so any such run found in an error came from a key.
local KEYS = {
  rest_key = "Zq8vK3xW9mT2pL7nR4yB",
  project_key = "Hj5cF1gD6sA0eU3oI8wQ",
  api_key = "Vb2Nm7Xc4Lk9Pz6Ty1Gr",
}

local m
local lines                    -- every logger line of the current test

local function new_client(extra)
  return client.new(m, KEYS, { backoff_base = 0.01, backoff_max = 0.02, max_attempts = 1,
    logger = function(_, line) lines[#lines + 1] = line end }, extra)
end

-- Every string reachable from v (keys and values, nested tables, tostring of
-- tables with a __tostring), into out.
local function strings(v, out, seen)
  out, seen = out or {}, seen or {}
  if type(v) == "string" then
    out[#out + 1] = v
  elseif type(v) == "table" and not seen[v] then
    seen[v] = true
    local mt = getmetatable(v)
    if mt and mt.__tostring then out[#out + 1] = tostring(v) end
    for k, x in pairs(v) do
      strings(k, out, seen)
      strings(x, out, seen)
    end
  end
  return out
end

-- The 4-character runs of any key found in any of the texts.
local function leaks(texts)
  local found = {}
  for _, text in ipairs(texts) do
    for name, key in pairs(KEYS) do
      for i = 1, #key - 3 do
        local piece = key:sub(i, i + 3)
        if text:find(piece, 1, true) then
          found[#found + 1] = string.format("%s piece %q in %q", name, piece, text)
          break
        end
      end
    end
  end
  return found
end

local function assert_no_leak(err)
  local texts = strings(err)
  for _, line in ipairs(lines) do texts[#texts + 1] = line end
  assert.same({}, leaks(texts))
end

setup(function()
  m = mock.start({ workers = 1, rest_key = KEYS.rest_key, project_key = KEYS.project_key,
    api_key = KEYS.api_key })
end)
teardown(function() if m then m:stop() end end)
before_each(function()
  m:reset()
  lines = {}
end)

describe("redaction", function()
  it("the spec's own detector sees a key piece", function()
    assert.equal(1, #leaks({ "x" .. KEYS.rest_key:sub(5, 8) .. "y" }))
  end)

  it("masks a key echoed into error_code and error_message", function()
    m:fault({ path = "/2.11/exports/view", status = 400,
      body = cjson.encode({ error_code = KEYS.rest_key,
        error_message = "Authorization: Bearer " .. KEYS.rest_key .. " for project " .. KEYS.project_key }) })
    local c = new_client()
    local e, err = c.exports.view("export_0123")
    assert.is_nil(e)
    assert.equal("api", err.kind)
    assert.equal(400, err.status)
    assert.is_not_nil(err.code)
    assert_no_leak(err)
  end)

  for pad = 176, 199 do
    it("masks a key cut by the 200-character excerpt (" .. (200 - pad) .. " characters of it kept)", function()
      m:fault({ path = "/2.11/exports/view", status = 400, content_type = "text/plain",
        body = string.rep("x", pad) .. KEYS.rest_key .. " trailing text" })
      local c = new_client()
      local e, err = c.exports.view("export_0123")
      assert.is_nil(e)
      assert.equal("http", err.kind)
      assert.matches(string.rep("x", 20), err.message)   -- the excerpt is there...
      assert_no_leak(err)                                  -- ...without the key's head
    end)
  end

  it("masks a key that storage echoes in an error body longer than the excerpt", function()
    local export = m:create_export({ status = "SUCCESS", parts = 1 })
    m:fault({ host = "storage", status = 404, content_type = "text/plain",
      body = string.rep("y", 190) .. KEYS.project_key .. string.rep("z", 100) })
    local c = new_client()
    local dir = os.tmpname()
    os.remove(dir)
    local paths, err = c.exports.download(export.id, { dir = dir })
    h.rmrf(dir)
    assert.is_nil(paths)
    assert.equal(404, err.status)
    assert_no_leak(err)
  end)

  it("masks every string field of a legacy error (code, name, message)", function()
    local path = "/1.0/" .. KEYS.api_key .. "/export/request/"
    m:fault({ path = path, status = 401, body = cjson.encode({ error = {
      code = KEYS.api_key, name = KEYS.rest_key, message = "key " .. KEYS.api_key .. "/" .. KEYS.rest_key } }) })
    local c = new_client()
    local s, err = c.legacy.status("110e8400-e29b-11d4-b543-446655440000")
    assert.is_nil(s)
    assert.equal(401, err.status)
    assert_no_leak(err)
  end)

  it("masks a legacy error body cut at the excerpt", function()
    local path = "/1.0/" .. KEYS.api_key .. "/export/request/"
    m:fault({ path = path, status = 403, content_type = "text/html",
      body = string.rep("<", 189) .. KEYS.api_key .. ">" })
    local c = new_client()
    local s, err = c.legacy.status("110e8400-e29b-11d4-b543-446655440000")
    assert.is_nil(s)
    assert.equal(403, err.status)
    assert_no_leak(err)
  end)

  it("masks the strings of an export table carried by export_failed", function()
    local body = cjson.encode({ id = "export_0123", status = "ERROR", scope = "PROFILE_ATTRIBUTES",
      request_date = "2026-01-01T00:00:00Z", files = {},
      request = { export_type = "ATTRIBUTES", attributes = { KEYS.rest_key, "$email_address" },
        filter = { segment = "seg-" .. KEYS.project_key } } })
    m:fault({ path = "/2.11/exports/view", status = 200, body = body })
    local c = new_client()
    local e, err = c.exports.wait_for("export_0123", { interval = 0.01 })
    assert.is_nil(e)
    assert.equal("export_failed", err.kind)
    assert.equal("table", type(err.export))
    assert.equal("$email_address", err.export.request.attributes[2])
    assert_no_leak(err)
  end)

  it("masks a key's head cut off at the end of a text, and its tail at the start", function()
    local c = new_client()
    local key = KEYS.project_key
    assert.equal("see ***", c:redact("see " .. key:sub(1, 9)))
    assert.equal("*** was cut", c:redact(key:sub(-6) .. " was cut"))
    assert.equal("x " .. key:sub(1, 3), c:redact("x " .. key:sub(1, 3)))   -- 3 characters say nothing
    assert.equal("*** and ***", c:redact(key:sub(-4) .. " and " .. key:sub(1, 4)))
  end)

  it("scrubs every string field of an error, nested tables and keys included", function()
    local c = new_client()
    local errors = require("batchexport.errors")
    local mine = { note = "caller's own " .. KEYS.rest_key }
    local inner = errors.new("api", "inner " .. KEYS.api_key, { code = KEYS.api_key })
    local err = errors.new("http", "outer " .. KEYS.rest_key, {
      code = KEYS.project_key, request = "GET /x?k=" .. KEYS.rest_key, request_id = KEYS.rest_key,
      name = KEYS.api_key:sub(1, 12), problems = { "a " .. KEYS.rest_key, "b" }, export = mine,
      last_error = inner, fields = { [KEYS.project_key] = "v" },
    })
    assert.equal(err, c:scrub(err))
    assert_no_leak(err)
    assert.equal("caller's own " .. KEYS.rest_key, mine.note)   -- copied, not changed
    assert.equal("caller's own ***", err.export.note)
    assert.equal("b", err.problems[2])
  end)

  it("masks a key in an error raised by an iterator", function()
    m:fault({ path = "/2.11/exports/list", status = 400,
      body = cjson.encode({ error_code = KEYS.project_key, error_message = KEYS.rest_key }) })
    local c = new_client()
    local ok, err = pcall(function()
      for _ in c.exports.list({ limit = 5 }) do end
    end)
    assert.is_false(ok)
    assert.is_true(batchexport.is_error(err))
    assert_no_leak(err)
  end)
end)
